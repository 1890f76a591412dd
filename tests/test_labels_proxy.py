import numpy as np
import pytest

from laserjnd.data.labels.proxy import ProxyRule, ladder_unit, proxy_labels, proxy_labels_from_ladder
from laserjnd.errors import JNDError

QPS = np.arange(0, 52)


def _vmaf_linear(q):
    return 100.0 - q  # one VMAF point per QP


def test_rule_defaults_and_dict():
    r = ProxyRule()
    assert (r.metric, r.delta, r.reference, r.n_levels, r.kind) == ("vmaf", 6.0, None, 3, "proxy")
    d = r.to_dict()
    assert d["kind"] == "proxy" and "proxy labels" in d["description"] and "not subjective" in d["description"]
    assert ProxyRule.from_dict(d) == r
    assert ProxyRule(metric="PSNR_Y", delta=1.5).metric == "psnr_y"


@pytest.mark.parametrize("metric", ["psnr_y", "psnr_rgb", "ssim"])
def test_non_vmaf_metrics_need_delta(metric):
    with pytest.raises(JNDError, match="give delta"):
        ProxyRule(metric=metric)


def test_rule_rejects_bad_values():
    with pytest.raises(JNDError, match="unknown proxy metric"):
        ProxyRule(metric="lpips", delta=0.1)
    with pytest.raises(JNDError, match="positive"):
        ProxyRule(delta=0)
    with pytest.raises(JNDError, match="n_levels"):
        ProxyRule(n_levels=0)
    with pytest.raises(JNDError, match="not a proxy"):
        ProxyRule.from_dict({"kind": "subjective"})


def test_qp_monotone_curve():
    # drop = q; band k*6 -> last q with q <= 6k
    np.testing.assert_array_equal(proxy_labels(QPS, _vmaf_linear(QPS), "qp"), [6, 12, 18])


def test_qp_delta_scaling():
    np.testing.assert_array_equal(proxy_labels(QPS, _vmaf_linear(QPS), "qp", ProxyRule(delta=3)), [3, 6, 9])
    np.testing.assert_array_equal(proxy_labels(QPS, _vmaf_linear(QPS), "qp", ProxyRule(delta=2.5)), [2, 5, 7])


def test_qp_edge_of_band_counts_inside():
    scores = 100.0 - 0.1 * QPS * 10  # float noise around exact multiples
    np.testing.assert_array_equal(proxy_labels(QPS, scores, "qp"), [6, 12, 18])


def test_qp_dip_is_not_skipped():
    levels = np.array([0, 10, 20, 30, 40, 51])
    scores = np.array([100, 97, 90, 96, 80, 70])  # dip at 20 (drop 10), recovers at 30 (drop 4)
    # k=1 (band 6): 20 is out -> 10, even though 30 is back inside
    # k=2 (band 12): 20, 30 inside, 40 out (drop 20) -> 30; k=3 (band 18): 40 out -> 30
    np.testing.assert_array_equal(proxy_labels(levels, scores, "qp"), [10, 30, 30])


def test_qp_censored():
    levels = np.array([0, 20, 40, 51])
    scores = np.array([100, 98, 95, 90])  # drop 10 at the end
    labels, cens = proxy_labels(levels, scores, "qp", return_censored=True)
    np.testing.assert_array_equal(labels, [40, 51, 51])
    np.testing.assert_array_equal(cens, [False, True, True])


def test_reference_level_when_first_step_leaves_band():
    levels = np.array([0, 1, 2])
    labels, cens = proxy_labels(levels, [100, 80, 50], "qp", return_censored=True)
    np.testing.assert_array_equal(labels, [0, 0, 0])
    assert not cens.any()


def test_qf_direction():
    qfs = np.arange(1, 101)
    scores = 100.0 - (100 - qfs) * 0.5  # half a point per QF below 100
    # drop = (100-qf)/2 <= 6k  ->  qf >= 100 - 12k: smallest such QF
    np.testing.assert_array_equal(proxy_labels(qfs, scores, "qf"), [88, 76, 64])
    # the same ladder given high-to-low gives the same answer
    np.testing.assert_array_equal(proxy_labels(qfs[::-1], scores[::-1], "qf"), [88, 76, 64])


def test_qf_dip_and_censoring():
    qfs = np.array([100, 90, 80, 70, 60])[::-1]  # increasing order as a ladder stores it
    scores = np.array([100, 99, 92, 97, 97])[::-1]
    labels, cens = proxy_labels(qfs, scores, "qf", ProxyRule(delta=5), return_censored=True)
    # k=1: 80 drops 8 > 5 -> 90; k=2 (10): all inside -> 60 censored; k=3 same
    np.testing.assert_array_equal(labels, [90, 60, 60])
    np.testing.assert_array_equal(cens, [False, True, True])


def test_explicit_reference_and_psnr():
    levels = np.arange(0, 52, 2)
    psnr = 50.0 - 0.5 * levels
    rule = ProxyRule(metric="psnr_y", delta=2.0, reference=10)  # reference score 45
    np.testing.assert_array_equal(proxy_labels(levels, psnr, "qp", rule), [14, 18, 22])
    with pytest.raises(JNDError, match="reference level 11 is not on the ladder"):
        proxy_labels(levels, psnr, "qp", ProxyRule(metric="psnr_y", delta=2.0, reference=11))


def test_n_levels():
    out = proxy_labels(QPS, _vmaf_linear(QPS), "qp", ProxyRule(n_levels=5))
    np.testing.assert_array_equal(out, [6, 12, 18, 24, 30])


@pytest.mark.parametrize(
    "levels,scores,msg",
    [
        ([0, 10, 5], [100, 90, 95], "strictly monotone"),
        ([0, 10], [100, 90, 80], "2 levels but 3"),
        ([0, 10], [100, np.nan], "NaN"),
        ([0, 60], [100, 90], "outside"),
        ([0], [100], "at least two"),
    ],
)
def test_bad_ladders(levels, scores, msg):
    with pytest.raises(JNDError, match=msg):
        proxy_labels(levels, scores, "qp")


class _Ladder:
    def __init__(self, levels, metrics, settings):
        self.levels, self._m, self.settings = np.asarray(levels), metrics, settings

    def metric(self, name):
        return np.asarray(self._m[name], dtype=float)


def test_from_ladder_units_from_codec():
    lad = _Ladder(QPS, {"vmaf": _vmaf_linear(QPS), "ssim": 1 - QPS / 100}, {"codec": "h264", "preset": "medium"})
    assert ladder_unit(lad).name == "qp"
    np.testing.assert_array_equal(proxy_labels_from_ladder(lad, ProxyRule()), [6, 12, 18])
    np.testing.assert_array_equal(proxy_labels_from_ladder(lad, ProxyRule(metric="ssim", delta=0.05)), [5, 10, 15])
    qfs = np.arange(1, 101)
    jl = _Ladder(qfs, {"vmaf": 100.0 - (100 - qfs)}, {"codec": "jpeg"})
    labels, cens = proxy_labels_from_ladder(jl, return_censored=True)
    np.testing.assert_array_equal(labels, [94, 88, 82])
    assert not cens.any()


def test_ladder_unit_variants():
    class S:
        codec = "h265"

    assert ladder_unit(_Ladder([0, 1], {}, S())).name == "qp"
    lad = _Ladder([0, 1], {}, {})
    with pytest.raises(JNDError, match="codec"):
        ladder_unit(lad)
    lad.unit = "qf"
    assert ladder_unit(lad).name == "qf"
