"""Classical saliency targets (OpenCV contrib) for the MTJND VA tail, on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from laserjnd.data.saliency import METHODS, read_saliency_png, saliency_dir, saliency_map, write_saliency_maps
from laserjnd.errors import BadInputError

PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee, "rocket": data.rocket}


@pytest.mark.parametrize("method", METHODS)
def test_maps_on_real_photos(method):
    maps = {}
    for name, load in PHOTOS.items():
        img = load()
        m = saliency_map(img, method=method)
        assert m.dtype == np.float32 and m.shape == img.shape[:2]
        assert float(m.min()) == pytest.approx(0.0, abs=1e-6) and float(m.max()) == pytest.approx(1.0, abs=1e-6)
        assert m.std() > 0.05  # not constant
        maps[name] = saliency_map(img, method=method, size=(135, 240))
        assert maps[name].shape == (135, 240)
    names = list(maps)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert np.abs(maps[a] - maps[b]).mean() > 0.05, (a, b)


def test_saliency_finds_the_object():
    # A bright square on a textureless background must be the salient part.
    img = np.full((120, 200, 3), 90, np.uint8)
    img[40:80, 120:160] = (250, 30, 30)
    m = saliency_map(img)
    assert m[40:80, 120:160].mean() > 3 * m[:, :60].mean()


def test_flat_and_float_inputs():
    assert not saliency_map(np.full((40, 60, 3), 128, np.uint8)).any()
    img = data.chelsea()
    a = saliency_map(img)
    b = saliency_map(img.astype(np.float32) / 255.0)
    assert np.abs(a - b).max() < 0.05


def test_bad_inputs(tmp_path):
    with pytest.raises(BadInputError, match="nope.png"):
        saliency_map(tmp_path / "nope.png")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(BadInputError, match="junk.png"):
        saliency_map(str(junk))
    with pytest.raises(BadInputError, match="method"):
        saliency_map(data.chelsea(), method="magic")
    with pytest.raises(BadInputError, match="shape"):
        saliency_map(np.zeros((10, 10, 7), np.uint8))


def test_write_saliency_maps(tmp_path):
    root = tmp_path / "root"
    frames = root / "train"
    frames.mkdir(parents=True)
    for name, load in PHOTOS.items():
        cv2.imwrite(str(frames / f"{name}.png"), cv2.cvtColor(load(), cv2.COLOR_RGB2BGR))
    (frames / "JND-Levels.txt").write_text("30 34 38\n")  # non-images are skipped
    out = write_saliency_maps(frames, progress=False)
    assert out[0].parent == saliency_dir(root, "train") == root / "saliencytrain"
    assert sorted(p.stem for p in out) == sorted(PHOTOS)
    assert not list(out[0].parent.glob(".*"))  # no temp files left
    for p in out:
        m = read_saliency_png(p)
        ref = saliency_map(cv2.cvtColor(cv2.imread(str(frames / p.name)), cv2.COLOR_BGR2RGB))
        assert m.shape == ref.shape and np.abs(m - ref).max() <= 1 / 255 + 1e-6
    # Existing maps are kept; a size gives maps at that size.
    mtime = out[0].stat().st_mtime_ns
    write_saliency_maps(frames, progress=False)
    assert out[0].stat().st_mtime_ns == mtime
    small = write_saliency_maps(frames, tmp_path / "small", method="fine_grained", size=(64, 128), progress=False)
    assert read_saliency_png(small[0]).shape == (64, 128)

    (frames / "broken.jpg").write_bytes(b"\x00\x01")
    with pytest.raises(BadInputError, match="broken.jpg"):
        write_saliency_maps(frames, progress=False)
    with pytest.raises(BadInputError):
        write_saliency_maps(tmp_path / "missing", progress=False)
