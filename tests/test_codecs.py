"""Codecs (H.264, H.265, JPEG) and quality metrics on small real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.stats import spearmanr
from skimage import data
from skimage.metrics import structural_similarity

from laserjnd.data import codecs as C
from laserjnd.data import metrics as M
from laserjnd.errors import BadInputError, EncoderError

LEVELS = {"h264": [0, 12, 24, 36, 51], "h265": [0, 12, 24, 36, 51], "jpeg": [100, 75, 50, 25, 5]}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return cv2.resize(data.astronaut(), (96, 64), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def odd_photo() -> np.ndarray:
    return np.ascontiguousarray(data.coffee()[100:137, 200:251])  # 37x51


@pytest.mark.parametrize("codec", C.CODECS)
def test_round_trip_quality_and_bits_fall(photo, codec):
    s = C.CodecSettings(codec)
    sizes, psnrs = [], []
    for lv in LEVELS[codec]:  # best quality first
        n, dec = C.encode_decode(photo, lv, s)
        assert dec.shape == photo.shape and dec.dtype == np.uint8
        sizes.append(n)
        psnrs.append(M.psnr_y(photo, dec))
    assert psnrs[0] > 45  # QP 0 / QF 100
    assert psnrs[0] - psnrs[-1] > 12
    assert spearmanr(range(len(sizes)), sizes)[0] < -0.9  # bits fall as quality falls
    assert spearmanr(range(len(psnrs)), psnrs)[0] < -0.9
    assert sizes[0] > 4 * sizes[-1]


def test_h264_qp0_is_lossless_in_yuv(photo):
    s = C.CodecSettings("h264")
    prep = C.Prepared(photo, s)
    planes = C._decode_video(prep.encode(0), s)
    np.testing.assert_array_equal(planes, prep.payload)


@pytest.mark.parametrize("codec", C.CODECS)
def test_odd_size_keeps_size(odd_photo, codec):
    lv = 20 if codec != "jpeg" else 90
    n, dec = C.encode_decode(odd_photo, lv, C.CodecSettings(codec))
    assert dec.shape == odd_photo.shape
    assert M.psnr_rgb(odd_photo, dec) > 30
    # Padding replicates the last row/column, so the bottom-right pixel survives well.
    assert np.abs(dec[-1, -1].astype(int) - odd_photo[-1, -1]).max() < 40


def test_sei_is_stripped_and_stream_decodes(photo):
    s = C.CodecSettings("h264")
    data_ = C.encode(photo, 30, s)
    assert b"x264 - core" not in data_
    assert C.decode(data_, s, photo.shape[:2]).shape == photo.shape


def _one_line(err: Exception) -> str:
    msg = str(err)
    assert "\n" not in msg and not msg.startswith("None")
    return msg


@pytest.mark.parametrize(
    "frame, words",
    [
        (np.zeros((0, 8, 3), np.uint8), "empty"),
        (np.zeros((8, 8, 3), np.float32), "uint8"),
        (np.zeros((8, 8), np.uint8), "(H, W, 3)"),
        (np.zeros((8, 8, 4), np.uint8), "(H, W, 3)"),
        ([[1, 2, 3]], "numpy array"),
    ],
)
def test_bad_frames(frame, words):
    with pytest.raises(BadInputError) as ei:
        C.encode(frame, 20, C.CodecSettings("h264"))
    assert isinstance(ei.value, ValueError)
    assert words in _one_line(ei.value)


@pytest.mark.parametrize(
    "codec, level, words",
    [("h264", 52, "out of range"), ("h265", -1, "out of range"), ("jpeg", 0, "out of range"),
     ("jpeg", 101, "out of range"), ("h264", 20.5, "round_level"), ("h264", True, "integer")],
)  # fmt: skip
def test_bad_levels(photo, codec, level, words):
    with pytest.raises(ValueError) as ei:
        C.encode(photo, level, C.CodecSettings(codec))
    assert isinstance(ei.value, BadInputError)
    assert words in _one_line(ei.value)


def test_bad_settings_and_small_h265():
    with pytest.raises(ValueError, match="unknown codec"):
        C.CodecSettings("vp9")
    with pytest.raises(ValueError, match="preset"):
        C.CodecSettings("h264", preset="warp")
    with pytest.raises(BadInputError, match="smaller than the encoder minimum"):
        C.encode(np.zeros((8, 8, 3), np.uint8), 20, C.CodecSettings("h265"))


def test_encoder_failure_is_encoder_error(photo, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(C, "_encode_video", boom)
    with pytest.raises(EncoderError, match=r"h264 encoder failed at QP 30: simulated crash"):
        C.encode(photo, 30, C.CodecSettings("h264"))
    monkeypatch.setattr(C.cv2, "imencode", lambda *a, **k: (False, None))
    with pytest.raises(EncoderError, match="jpeg encoder failed at QF 50"):
        C.encode(photo, 50, C.CodecSettings("jpeg"))


@pytest.mark.parametrize("codec", C.CODECS)
def test_garbage_stream_is_encoder_error(codec):
    with pytest.raises(EncoderError, match=codec):
        C.decode(b"\x00\x00\x01garbage", C.CodecSettings(codec), (16, 16))


def test_round_level_rule():
    assert [C.round_level(v) for v in (24.5, 24.49, 24.51, 0.5, -0.5, 51.0, 99.5)] == [25, 24, 25, 1, 0, 51, 100]
    assert "half up" in C.ROUNDING_RULE
    with pytest.raises(ValueError):
        C.round_level(float("nan"))


def test_jnd_quality_frame_uses_rounded_level(photo):
    s = C.CodecSettings("h264")
    np.testing.assert_array_equal(C.jnd_quality_frame(photo, 29.5, s), C.encode_decode(photo, 30, s)[1])


def test_settings_dict_and_key(monkeypatch):
    s = C.CodecSettings("h264")
    d = s.to_dict()
    assert d["unit"] == "qp" and d["encoder_options"]["x264-params"].startswith("keyint=1")
    assert C.CodecSettings.from_dict(d) == s
    assert s.key() == C.CodecSettings("h264").key()
    keys = {s.key(), C.CodecSettings("h264", preset="slow").key(), C.CodecSettings("h264", psy=True).key(),
            C.CodecSettings("h265").key(), C.CodecSettings("jpeg").key()}  # fmt: skip
    assert len(keys) == 5
    assert (s.levels, C.CodecSettings("jpeg").levels) == (range(0, 52), range(1, 101))
    monkeypatch.setattr(C, "encoder_version", lambda codec: "x264 - core 999")
    assert s.key() not in keys  # a new encoder build invalidates the key


# --------------------------------------------------------------------------- metrics


def test_psnr_and_ssim_values(photo):
    assert M.psnr_y(photo, photo) == M.PSNR_CAP == M.psnr_rgb(photo, photo)
    assert M.ssim(photo, photo) == 1.0
    noisy = np.clip(photo.astype(int) + np.random.default_rng(0).integers(-4, 5, photo.shape), 0, 255).astype(np.uint8)
    mse = np.mean((photo.astype(float) - noisy) ** 2)
    assert M.psnr_rgb(photo, noisy) == pytest.approx(10 * np.log10(255**2 / mse), abs=1e-9)
    y0, y1 = (M.luma(f).astype(np.float64) for f in (photo, noisy))
    ref = structural_similarity(y0, y1, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert M.ssim(photo, noisy) == pytest.approx(ref, abs=1e-5)
    assert M.psnr_y(photo, noisy) == pytest.approx(10 * np.log10(255**2 / np.mean((y0 - y1) ** 2)), abs=1e-4)
    with pytest.raises(BadInputError, match="differ in shape"):
        M.psnr_y(photo, photo[:32])


def test_vmaf_identical_high_compressed_low_and_batch_equals_single(photo):
    s = C.CodecSettings("h264")
    light = C.encode_decode(photo, 20, s)[1]
    heavy = C.encode_decode(photo, 51, s)[1]
    batch, info = M.vmaf_batch_with_info(photo, [photo, light, heavy], n_threads=2)
    assert batch[0] > 95
    assert batch[2] < batch[0] - 30 and batch[1] > batch[2]
    single = [M.vmaf(photo, d, n_threads=1) for d in (photo, light, heavy)]
    np.testing.assert_allclose(batch, single, atol=1e-4)
    assert info["vmaf_model"] == "vmaf_v0.6.1" and info["libvmaf"] != "unknown"


def test_vmaf_odd_size_and_errors(odd_photo, monkeypatch):
    assert M.vmaf(odd_photo, odd_photo) > 95
    with pytest.raises(BadInputError, match="too small for VMAF"):
        M.vmaf(odd_photo[:16, :16], odd_photo[:16, :16])
    monkeypatch.setattr(M, "ffmpeg_exe", lambda: "/nonexistent/ffmpeg")
    with pytest.raises(EncoderError, match="could not run ffmpeg"):
        M.vmaf(odd_photo, odd_photo)
