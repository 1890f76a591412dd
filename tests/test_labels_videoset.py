import numpy as np
import pytest

from laserjnd.data.labels.videoset import (
    jnd_from_samples,
    jnd_from_sur_curve,
    load_videoset_labels,
    read_videoset_csv,
    sur_curve,
)
from laserjnd.errors import BadInputError, JNDError

HEADER = "anchor,jnd,mean,normality,samples,samples_no,sequence_index,standard_deviation\n"
LEVELS = ("1st", "2nd", "3rd")


def reproduce_jnd(records, sur: float = 0.75) -> tuple[float, list[tuple[int, int, int]]]:
    """Recompute each record's JND from its samples; return (fraction equal to the file, mismatches).

    Mismatches are ``(sequence_index, file_jnd, recomputed_jnd)``.
    """
    diffs = []
    for r in records:
        j = jnd_from_samples(r.samples, sur)
        if j != r.jnd:
            diffs.append((r.sequence_index, r.jnd, j))
    return (1.0 - len(diffs) / len(records)) if records else 1.0, diffs


def _row(seq, samples, anchor=0, jnd=None):
    s = np.asarray(samples)
    jnd = jnd_from_samples(s) if jnd is None else jnd
    return f'{anchor},{jnd},{s.mean()},1,"{list(map(int, s))}",{len(s)},{seq},{s.std(ddof=1)}\n'


# --- the SUR rule on hand-computed cases ---------------------------------------------------------


def test_sur_step_curve_qp():
    # 4 viewers noticed at QP 30, 31, 32, 33: at QP q the satisfied ones have sample > q
    np.testing.assert_allclose(sur_curve([30, 31, 32, 33], [29, 30, 31, 32, 33]), [1, 0.75, 0.5, 0.25, 0])
    assert sur_curve([30, 31], None).shape == (52,)


def test_sur_step_curve_qf():
    # QF falls as quality falls: satisfied at qf when sample < qf; 0 = never noticed
    np.testing.assert_allclose(sur_curve([40, 30, 20, 0], [50, 40, 30, 1], unit="qf"), [1, 0.75, 0.5, 0.25])
    assert sur_curve([40], None, unit="qf").shape == (100,)


def test_jnd_linear_quantile_round_half_up():
    # 30 viewers: 25 % quantile sits at position 7.25 between the 8th and 9th smallest
    s = np.array([22, 24, 25, 26, 26, 27, 28, 28, 31, 31] + [35] * 20)
    assert jnd_from_samples(s, rounded=False) == pytest.approx(28.75)
    assert jnd_from_samples(s) == 29
    # exact half goes up (towards more compression), not to even
    assert jnd_from_samples([24, 24, 24, 24, 24, 24, 24, 24, 26, 26, 26, 26, 26]) == 24  # pos 3.0
    assert jnd_from_samples([24, 25, 25, 25, 25], sur=1 - 0.125) == 25  # pos 0.5 -> 24.5 -> 25
    assert jnd_from_samples([22, 23, 23, 23, 23], sur=1 - 0.125) == 23  # 22.5 -> 23 (half-even would give 22)


def test_jnd_qf_mirrors_qp():
    s = np.array([60, 50, 40, 31, 30])
    # QF: 75 % quantile (position 3.0 -> 50); the mirror of QP's rule
    assert jnd_from_samples(s, unit="qf") == 50
    assert jnd_from_samples([30, 31, 31, 31, 31], sur=0.125, unit="qf") == 30  # 30.5 -> rounds down in QF
    assert jnd_from_samples(s, unit="qf") == 101 - jnd_from_samples(101 - s, unit="qp")


def test_interpolated_sur_crosses_at_the_jnd():
    rng = np.random.default_rng(0)
    for _ in range(20):
        s = rng.integers(15, 45, size=rng.integers(5, 40))
        q = np.linspace(0, 51, 5101)
        for p in (0.5, 0.75, 0.9):
            c = jnd_from_sur_curve(q, sur_curve(s, q, interpolate=True), p)
            assert c == pytest.approx(jnd_from_samples(s, p, rounded=False), abs=0.011)


def test_jnd_from_sur_curve_clamps_and_checks():
    q = np.arange(10, 15)
    assert jnd_from_sur_curve(q, [1, 1, 1, 0.9, 0.8], 0.75) == 14  # never drops: most compressed
    assert jnd_from_sur_curve(q, [1, 0.9, 0.8, 0.7, 0.6], 0.75) == pytest.approx(12.5)
    with pytest.raises(JNDError, match="must not rise"):
        jnd_from_sur_curve(q, [1, 0.5, 0.8, 0.7, 0.6])


def test_jnd_bad_args():
    with pytest.raises(JNDError):
        jnd_from_samples([])
    with pytest.raises(JNDError):
        jnd_from_samples([1, 2], sur=1.0)


# --- CSV reading -----------------------------------------------------------------------------


def test_read_csv_roundtrip(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text(HEADER + _row(1, [30, 31, 32, 33]) + _row(2, [20, 22, 24, 26]))
    recs = read_videoset_csv(p)
    assert [r.sequence_index for r in recs] == [1, 2]
    assert recs[0].samples.tolist() == [30, 31, 32, 33] and recs[0].line == 2
    assert reproduce_jnd(recs) == (1.0, [])


@pytest.mark.parametrize(
    "body,msg",
    [
        ('0,25,1,1,"[1, 2",2,1,1\n', "line 2: 'samples' is not a list"),
        ('0,25,1,1,"[1, 2]",3,1,1\n', "line 2: samples_no is 3 but 'samples' has 2 values"),
        ('0,x,1,1,"[1, 2]",2,1,1\n', "line 2: column 'jnd' 'x' is not a number"),
        ('0,25,1,1,"[1, 60]",2,1,1\n', "line 2: a sample lies outside"),
        ('0,25,1,1,"[1, 2]",2,1\n', "line 2: 7 fields, header has 8"),
        ('0,25,1,1,"[1, 2]",2,1,1\n0,25,1,1,"[1, 2]",2,1,1\n', "line 3: sequence_index 1 repeats line 2"),
        ("", "no data rows"),
    ],
)
def test_read_csv_errors(tmp_path, body, msg):
    p = tmp_path / "a.csv"
    p.write_text(HEADER + body)
    with pytest.raises(BadInputError, match=msg):
        read_videoset_csv(p)


def test_read_csv_missing_column(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("anchor,jnd\n0,1\n")
    with pytest.raises(BadInputError, match="missing column"):
        read_videoset_csv(p)


def _three(tmp_path, third_anchor=None):
    s1, s2, s3 = [20, 21, 22, 23, 24], [25, 26, 27, 28, 29], [30, 31, 32, 33, 34]
    j1, j2 = jnd_from_samples(s1), jnd_from_samples(s2)
    paths = []
    for name, s, a in (("1st", s1, 0), ("2nd", s2, j1), ("3rd", s3, j2 if third_anchor is None else third_anchor)):
        p = tmp_path / f"x_{name}.csv"
        p.write_text(HEADER + _row(7, s, anchor=a))
        paths.append(p)
    return paths


def test_load_labels_synthetic(tmp_path):
    paths = _three(tmp_path)
    t = load_videoset_labels(*paths)
    assert t == {7: (21.0, 26.0, 31.0)}
    assert load_videoset_labels(*paths, source="samples") == t
    assert load_videoset_labels(*paths, sur=0.5)[7] == (22.0, 27.0, 32.0)  # auto -> recomputed
    with pytest.raises(JNDError, match="SUR 0.75"):
        load_videoset_labels(*paths, sur=0.5, source="file")


def test_load_labels_anchor_mismatch(tmp_path):
    with pytest.raises(BadInputError, match="anchor 40 differs from JND2"):
        load_videoset_labels(*_three(tmp_path, third_anchor=40))


# --- the real VideoSet 720p files ------------------------------------------------------------


@pytest.fixture(scope="module")
def real_csvs(shared):
    paths = [shared / "data" / "videoset-720p-labels" / f"1280x720_{lv}.csv" for lv in LEVELS]
    if not all(p.is_file() for p in paths):
        pytest.skip("VideoSet 720p label files not present")
    return paths


def test_real_files_reproduced_exactly(real_csvs):
    for p in real_csvs:
        recs = read_videoset_csv(p)
        assert len(recs) == 220
        frac, diffs = reproduce_jnd(recs)
        assert diffs == [] and frac == 1.0, (p.name, diffs[:5])


def test_real_files_alternative_rules_do_not_reproduce(real_csvs):
    # the documented negatives: numpy's half-to-even rounding and the Gaussian fit
    recs = read_videoset_csv(real_csvs[0])
    even = np.mean([np.round(np.quantile(r.samples, 0.25)) == r.jnd for r in recs])
    gauss = np.mean([np.round(r.mean - 0.6745 * r.std) == r.jnd for r in recs])
    assert even < 0.96 and gauss < 0.5


def test_real_labels_ordered_and_median_predictor(real_csvs):
    table = load_videoset_labels(*real_csvs)
    assert sorted(table) == list(range(1, 221))
    j = np.array(list(table.values()))
    assert np.all(np.diff(j, axis=1) > 0)  # strictly ordered on every sequence
    mae = np.abs(j - np.median(j, axis=0)).mean(axis=0)
    np.testing.assert_allclose(mae, [2.34, 2.46, 2.32], atol=0.005)
    assert load_videoset_labels(*real_csvs, source="samples") == table
