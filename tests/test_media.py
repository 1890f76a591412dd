import os
import numpy as np
import pytest
import cv2

from laserjnd.data.media import read_image, read_video_frames, sample_indices, to_rgb_uint8, write_png
from laserjnd.errors import BadInputError

from conftest import make_video


def test_png_roundtrip_is_exact(tmp_path, photo):
    write_png(tmp_path / "a.png", photo)
    assert np.array_equal(read_image(tmp_path / "a.png"), photo)


def test_gray_becomes_gray_rgb(tmp_path, photo):
    g = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(tmp_path / "g.png"), g)
    out = read_image(tmp_path / "g.png")
    assert out.shape == (*g.shape, 3) and np.array_equal(out[:, :, 0], g) and np.array_equal(out[:, :, 2], g)


def test_rgba_drops_alpha(tmp_path, photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 7, np.uint8)])
    cv2.imwrite(str(tmp_path / "a.png"), rgba[:, :, [2, 1, 0, 3]])
    assert np.array_equal(read_image(tmp_path / "a.png"), photo)


def test_16bit_scaled_to_8bit(tmp_path, photo):
    cv2.imwrite(str(tmp_path / "d.png"), photo[:, :, ::-1].astype(np.uint16) * 257)
    assert np.array_equal(read_image(tmp_path / "d.png"), photo)


def test_truncated_jpeg_is_a_clear_error(tmp_path, photo):
    ok, buf = cv2.imencode(".jpg", photo)
    p = tmp_path / "cut.jpg"
    p.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(BadInputError, match="cut.jpg: corrupt or truncated"):
        read_image(p)


@pytest.mark.parametrize("content,match", [(b"", "empty"), (b"not an image at all", "not a readable image")])
def test_unreadable_files(tmp_path, content, match):
    p = tmp_path / "x.png"
    p.write_bytes(content)
    with pytest.raises(BadInputError, match=match):
        read_image(p)


def test_missing_file():
    with pytest.raises(BadInputError, match="not found"):
        read_image("/nonexistent/x.png")


def test_zero_size_array():
    with pytest.raises(BadInputError, match="zero size"):
        to_rgb_uint8(np.zeros((0, 5, 3), np.uint8))


def test_sample_indices_uniform():
    assert sample_indices(100, 4) == [12, 37, 62, 87]
    assert sample_indices(3, 8) == [0, 1, 2]
    assert sample_indices(0, 4) == []


def test_video_sampling(tmp_path, photo):
    frames = [np.roll(photo, 4 * i, axis=1) for i in range(12)]
    clip = make_video(tmp_path / "clip.mp4", frames)
    got = read_video_frames(clip, 3)
    assert [f.index for f in got] == sample_indices(12, 3)
    # Lossy but close to the frame it claims to be, and far from another one.
    err_same = np.abs(got[1].image.astype(int) - frames[got[1].index]).mean()
    err_other = np.abs(got[1].image.astype(int) - frames[0]).mean()
    assert err_same < 8 < err_other


def test_raw_yuv_reading(tmp_path, photo):
    yuv = cv2.cvtColor(photo, cv2.COLOR_RGB2YUV_I420)
    p = tmp_path / "clip_128x96.yuv"
    p.write_bytes(yuv.tobytes() * 3)
    got = read_video_frames(p, 2)
    assert [f.index for f in got] == [0, 1] or len(got) == 2
    assert got[0].image.shape == photo.shape and np.abs(got[0].image.astype(int) - photo).mean() < 4


def test_raw_yuv_errors(tmp_path):
    p = tmp_path / "nosize.yuv"
    p.write_bytes(b"\0" * 100)
    with pytest.raises(BadInputError, match="WxH"):
        read_video_frames(p, 2)
    q = tmp_path / "odd_15x10.yuv"
    q.write_bytes(b"\0" * 100)
    with pytest.raises(BadInputError, match="even"):
        read_video_frames(q, 2)


def test_unreadable_video(tmp_path):
    p = tmp_path / "broken.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypmp42garbage" * 10)
    with pytest.raises(BadInputError, match="broken.mp4: video cannot be read|broken.mp4: video has no"):
        read_video_frames(p, 2)


def test_native_stderr_is_held_back_and_fd_2_comes_back_after_an_error(capfd):
    from laserjnd.utils.quiet import native_stderr_into

    with pytest.raises(RuntimeError):
        with native_stderr_into():
            os.write(2, b"native chatter\n")
            raise RuntimeError("the block failed")
    os.write(2, b"ours\n")
    assert capfd.readouterr().err == "ours\n"
