"""Reading images and videos into RGB uint8 frames, with clear errors for bad media.

Conversion rules (every frame leaves here as RGB uint8, shape (H, W, 3)):

- grayscale -> the gray value replicated in R, G and B;
- RGBA / gray+alpha -> alpha dropped (video codecs carry no alpha), colour kept;
- 16-bit -> 8-bit by rounding ``v / 257`` (maps 0..65535 onto 0..255 exactly);
- odd sizes are kept here; the codec layer pads them for 4:2:0 (see ``codecs.py``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import BadInputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".264", ".h264", ".265", ".hevc", ".y4m", ".ts", ".yuv")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def to_rgb_uint8(a: np.ndarray, path: str | Path | None = None, channel_order: str = "rgb") -> np.ndarray:
    """Apply the module's conversion rules to a decoded array."""
    if a.size == 0 or a.ndim < 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise BadInputError(path, f"image has zero size {a.shape}")
    if a.dtype == np.uint16:
        a = np.round(a.astype(np.float32) / 257.0).astype(np.uint8)
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if np.nanmax(a) <= 1.0:
            a = a * 255.0
        a = np.clip(np.round(np.nan_to_num(a)), 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise BadInputError(path, f"unsupported pixel type {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    channels = a.shape[2]
    if channels in (1, 2):  # gray, gray+alpha
        a = np.repeat(a[:, :, :1], 3, axis=2)
    elif channels == 4:
        a = a[:, :, :3]
    elif channels != 3:
        raise BadInputError(path, f"unsupported channel count {channels}")
    if channel_order == "bgr":
        a = a[:, :, ::-1]
    return np.ascontiguousarray(a)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as RGB uint8 (H, W, 3); truncated or unreadable files raise ``BadInputError``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "file not found")
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise BadInputError(path, "file is empty")
    _check_not_truncated(path, data)
    a = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if a is None:
        raise BadInputError(path, "not a readable image (unknown format or corrupt data)")
    # OpenCV decodes colour as BGR(A); gray stays single-channel.
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[:, :, [2, 1, 0] + ([3] if a.shape[2] == 4 else [])]
    return to_rgb_uint8(a, path)


def _check_not_truncated(path: Path, data: np.ndarray) -> None:
    """Pillow notices truncation that OpenCV silently fills with grey."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(data.tobytes())) as im:
                im.load()
    except UnidentifiedImageError:
        return  # a format Pillow does not know; OpenCV decides
    except (OSError, SyntaxError, ValueError) as e:
        raise BadInputError(path, f"corrupt or truncated image ({str(e).splitlines()[0][:100]})") from None


def write_png(path: str | Path, frame: np.ndarray) -> None:
    """Write RGB uint8 as PNG atomically."""
    from ..utils.atomic import atomic_path

    path = Path(path)
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(frame[:, :, ::-1]))
    if not ok:
        raise BadInputError(path, "PNG encoding failed")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())


# ---------------------------------------------------------------- video

_YUV_SIZE = re.compile(r"(\d{2,5})x(\d{2,5})")


@dataclass(frozen=True)
class VideoFrame:
    index: int  # frame number in the clip (0-based, decode order)
    image: np.ndarray  # RGB uint8


def video_frame_count(path: str | Path, size: tuple[int, int] | None = None) -> int:
    path = Path(path)
    if path.suffix.lower() == ".yuv":
        w, h = _yuv_size(path, size)
        return path.stat().st_size // (w * h * 3 // 2)
    return _count_frames(path)


def sample_indices(total: int, n: int) -> list[int]:
    """``n`` frame indices spread uniformly over ``total`` frames (centre of each of n equal parts)."""
    if total <= 0:
        return []
    n = min(n, total)
    return sorted({int((i + 0.5) * total / n) for i in range(n)})


def read_video_frames(path: str | Path, n_frames: int = 8, size: tuple[int, int] | None = None) -> list[VideoFrame]:
    """Sample ``n_frames`` frames uniformly from a clip PyAV can read, or a raw 8-bit 4:2:0 ``.yuv``.

    For ``.yuv`` the frame size comes from ``size=(W, H)`` or a ``WxH`` pattern in the file name.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "file not found")
    if path.suffix.lower() == ".yuv":
        return _read_yuv(path, n_frames, size)
    total = _count_frames(path)
    if total == 0:
        raise BadInputError(path, "video has no decodable frames")
    keep = set(sample_indices(total, n_frames))
    out = [VideoFrame(i, f) for i, f in enumerate(_iter_container(path, max(keep) + 1)) if i in keep]
    if not out:
        raise BadInputError(path, "video has no decodable frames")
    return out


def _count_frames(path: Path) -> int:
    """Count video packets (no decoding), so sampling needs no second full decode in memory."""
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadInputError(path, "file has no video stream")
            stream = container.streams.video[0]
            return sum(1 for pkt in container.demux(stream) if pkt.size)
    except BadInputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise BadInputError(path, f"video cannot be read ({str(e).splitlines()[0][:100]})") from None


def _iter_container(path: Path, limit: int | None = None) -> Iterator[np.ndarray]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadInputError(path, "file has no video stream")
            stream = container.streams.video[0]
            for i, frame in enumerate(container.decode(stream)):
                if limit is not None and i >= limit:
                    break
                yield frame.to_ndarray(format="rgb24")
    except BadInputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise BadInputError(path, f"video cannot be read ({str(e).splitlines()[0][:100]})") from None


def _yuv_size(path: Path, size: tuple[int, int] | None) -> tuple[int, int]:
    if size is None:
        m = _YUV_SIZE.search(path.stem)
        if not m:
            raise BadInputError(path, "raw .yuv needs a frame size: put WxH in the file name or pass size=(W, H)")
        size = (int(m.group(1)), int(m.group(2)))
    w, h = size
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise BadInputError(path, f"raw 4:2:0 .yuv needs even positive sizes, got {w}x{h}")
    return w, h


def _read_yuv(path: Path, n_frames: int, size: tuple[int, int] | None) -> list[VideoFrame]:
    w, h = _yuv_size(path, size)
    frame_bytes = w * h * 3 // 2
    total = path.stat().st_size // frame_bytes
    if total == 0 or path.stat().st_size % frame_bytes:
        raise BadInputError(path, f"size {path.stat().st_size} B is not a whole number of {w}x{h} 4:2:0 frames")
    out = []
    with open(path, "rb") as f:
        for i in sample_indices(total, n_frames):
            f.seek(i * frame_bytes)
            yuv = np.frombuffer(f.read(frame_bytes), dtype=np.uint8).reshape(h * 3 // 2, w)
            out.append(VideoFrame(i, cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)))
    return out
