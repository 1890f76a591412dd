"""Encoding ladders and their on-disk cache."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from skimage import data

from laserjnd.data import ladder as L
from laserjnd.data.codecs import CodecSettings
from laserjnd.errors import BadInputError, JNDError

H264 = CodecSettings("h264")
FEW = [0, 10, 20, 30, 40, 51]


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    def small(img):
        return cv2.resize(img, (96, 64), interpolation=cv2.INTER_AREA)

    return {"astronaut": small(data.astronaut()), "coffee": small(data.coffee()), "chelsea": small(data.chelsea())}


@pytest.fixture(scope="module")
def few_ladder(photos) -> L.Ladder:
    return L.compute_ladder(photos["astronaut"], H264, levels=FEW, vmaf_threads=1)


def test_compute_ladder_stats(few_ladder, photos):
    lad = few_ladder
    assert lad.levels.tolist() == FEW and (lad.width, lad.height) == (96, 64)
    for name in L.METRIC_NAMES:
        v = lad.metric(name)
        assert v.shape == (len(FEW),) and np.isfinite(v).all()
    assert np.all(np.diff(lad.bits[1:]) < 0)  # QP 0 is lossless mode, coded differently
    assert lad.psnr_y[0] > lad.psnr_y[-1] + 15 and lad.ssim[0] > lad.ssim[-1]
    assert lad.vmaf[0] > 90 > lad.vmaf[-1]
    assert lad.metric_info["vmaf"]["vmaf_model"] == "vmaf_v0.6.1"
    assert lad.settings["codec"] == "h264" and lad.settings["key"] == H264.key()
    with pytest.raises(ValueError, match="unknown ladder metric"):
        lad.metric("psnr")


def test_full_default_ladder_jpeg(photos):
    lad = L.compute_ladder(photos["coffee"], CodecSettings("jpeg"), vmaf_threads=1)
    assert lad.levels.tolist() == list(range(1, 101))
    assert lad.bits[-1] > 5 * lad.bits[0] and lad.psnr_rgb[-1] > lad.psnr_rgb[0] + 10


def test_at_interpolates_linearly():
    z = np.zeros(3)
    lad = L.Ladder({}, "h", 1, 1, np.array([10, 11, 12]), np.array([300.0, 200.0, 100.0]), z, z, z,
                   np.array([80.0, 70.0, 50.0]))  # fmt: skip
    assert lad.at("vmaf", 10.5) == pytest.approx(75.0)
    assert lad.at("vmaf", 11.25) == pytest.approx(65.0)
    assert lad.at("bits", 12) == 100.0 and lad.at("vmaf", 10) == 80.0
    for bad in (9.9, 12.01, float("nan")):
        with pytest.raises(ValueError, match="outside"):
            lad.at("vmaf", bad)


def test_dict_round_trip(few_ladder):
    d = json.loads(json.dumps(few_ladder.to_dict()))
    back = L.Ladder.from_dict(d)
    for name in ("levels", *L.METRIC_NAMES):
        np.testing.assert_array_equal(getattr(back, name), getattr(few_ladder, name))
    assert back.settings == few_ladder.settings and back.metric_info == few_ladder.metric_info
    with pytest.raises(ValueError, match="lacks vmaf"):
        L.Ladder.from_dict({k: v for k, v in d.items() if k != "vmaf"})


@pytest.fixture
def counted(monkeypatch):
    """Replace compute_ladder by a counting version that encodes only FEW levels (fast)."""
    calls = []
    real = L.compute_ladder

    def fake(frame, settings, levels=None, **kw):
        calls.append(settings.codec)
        return real(frame, settings, levels=FEW if settings.codec != "jpeg" else [10, 50, 90], vmaf_threads=1)

    monkeypatch.setattr(L, "compute_ladder", fake)
    return calls


def test_cache_hit_and_valid_json(tmp_path, photos, counted):
    cache = L.LadderCache(tmp_path)
    frame = photos["astronaut"]
    assert cache.get(frame, H264) is None
    first = cache.get_or_compute(frame, H264)
    second = cache.get_or_compute(frame, H264)
    assert counted == ["h264"]  # second call was a cache hit
    np.testing.assert_array_equal(first.vmaf, second.vmaf)
    files = list(tmp_path.glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["content_hash"] == first.content_hash
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left behind


def test_key_changes_with_settings(tmp_path, photos, counted):
    cache = L.LadderCache(tmp_path)
    paths = {cache.path("abc", s) for s in (H264, CodecSettings("h264", preset="fast"), CodecSettings("h265"),
                                            CodecSettings("h264", psy=True))}  # fmt: skip
    assert len(paths) == 4
    cache.get_or_compute(photos["astronaut"], H264)
    cache.get_or_compute(photos["astronaut"], CodecSettings("h264", preset="fast"))
    assert len(counted) == 2 and len(list(tmp_path.glob("*.json"))) == 2


def test_corrupt_entry_is_recomputed(tmp_path, photos, counted):
    cache = L.LadderCache(tmp_path)
    frame = photos["coffee"]
    cache.get_or_compute(frame, H264)
    path = next(tmp_path.glob("*.json"))
    path.write_text("{not json")
    assert cache.get(frame, H264) is None
    cache.get_or_compute(frame, H264)
    assert len(counted) == 2 and json.loads(path.read_text())["levels"] == FEW


def test_compute_many_parallel_failure_keeps_finished_and_resumes(tmp_path, photos, monkeypatch):
    cache = L.LadderCache(tmp_path)
    jpeg = CodecSettings("jpeg")

    def broken():
        raise OSError("disk on fire")

    items = [("astronaut", photos["astronaut"]), ("coffee", lambda: photos["coffee"]), ("broken", broken),
             ("chelsea", photos["chelsea"])]  # fmt: skip
    with pytest.raises(JNDError, match="broken: ladder failed: OSError: disk on fire"):
        cache.compute_many(items, jpeg, workers=2, progress=False)
    # The two submitted before the failure finished and are on disk, nothing after it started.
    assert cache.get(photos["astronaut"], jpeg) is not None and cache.get(photos["coffee"], jpeg) is not None
    assert cache.get(photos["chelsea"], jpeg) is None

    # Rerun ("after the kill"): cached ones are reused, only chelsea is computed.
    computed = []
    real = L.compute_ladder
    monkeypatch.setattr(L, "compute_ladder", lambda f, s, **kw: computed.append(f.shape) or real(f, s, levels=[50]))
    out = cache.compute_many([it for it in items if it[0] != "broken"], jpeg, workers=1, progress=False)
    assert len(computed) == 1 and [o.levels.size for o in out] == [100, 100, 1]
    assert out[1].content_hash == L.array_hash(photos["coffee"])


def test_compute_many_worker_error_names_item(tmp_path, photos):
    cache = L.LadderCache(tmp_path)
    items = [("ok", photos["astronaut"][:32, :32]), ("tiny", np.zeros((8, 8, 3), np.uint8))]
    with pytest.raises(BadInputError, match="tiny: .*too small for VMAF"):
        cache.compute_many(items, CodecSettings("jpeg"), workers=2, progress=False)
    assert cache.get(photos["astronaut"][:32, :32], CodecSettings("jpeg")) is not None


@pytest.mark.parametrize("codec", ["h264", "jpeg"])
def test_ladder_path_equals_straightforward_reference(tmp_path, codec):
    """The ladder as users compute it (pool worker: shared conversions, streamed VMAF, tuned malloc)
    gives exactly the numbers of encoding, decoding and measuring each level on its own."""
    from laserjnd.data import codecs as C
    from laserjnd.data import metrics as M

    frame = cv2.resize(data.astronaut(), (127, 95), interpolation=cv2.INTER_AREA)  # odd: padding path too
    settings = CodecSettings(codec)
    (fast,) = L.LadderCache(tmp_path).compute_many([("astronaut", frame)], settings, workers=2, progress=False)
    ref: dict[str, list[float]] = {k: [] for k in L.METRIC_NAMES if k != "vmaf"}
    decoded = []
    for level in settings.levels:
        stream = C.encode(frame, level, settings)
        dec = C.decode(stream, settings, frame.shape[:2])
        ref["bits"].append(8.0 * len(stream))
        ref["psnr_y"].append(M.psnr_y(frame, dec))
        ref["psnr_rgb"].append(M.psnr_rgb(frame, dec))
        ref["ssim"].append(M.ssim(frame, dec))
        decoded.append(dec)
    ref["vmaf"] = list(M.vmaf_batch(frame, decoded))
    assert fast.levels.tolist() == list(settings.levels)
    for name in L.METRIC_NAMES:
        np.testing.assert_array_equal(fast.metric(name), np.asarray(ref[name]), err_msg=name)
