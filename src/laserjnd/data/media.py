"""Reading images and videos into RGB uint8 frames, with clear errors for bad media.

Conversion rules (every frame leaves here as RGB uint8, shape (H, W, 3)):

- grayscale -> the gray value replicated in R, G and B;
- RGBA / gray+alpha -> alpha dropped (video codecs carry no alpha), colour kept;
- 16-bit -> 8-bit by rounding ``v / 257`` (maps 0..65535 onto 0..255 exactly);
- an EXIF orientation tag (JPEG; also PNG, WebP and TIFF files that carry one) is applied, as
  image viewers do, so a phone photo is predicted upright;
- odd sizes are kept here; the codec layer pads them for 4:2:0 (see ``codecs.py``).

Safety rules:

- an image is decoded once (OpenCV); truncation is caught without a second decode by a structural
  end-of-stream check (PNG: the chunk chain reaches ``IEND``; JPEG: an ``EOI`` marker follows the
  last scan);
- the pixel count is read from the header first: images above :func:`max_pixels` (default
  ``DEFAULT_MAX_PIXELS`` = 150 megapixels; ``LASERJND_MAX_PIXELS`` or ``--max-pixels`` to change)
  are refused before any decoding (decompression bombs), and so are video streams;
- what the native decoders print on stderr (``libpng warning: ...``) never reaches the terminal:
  it is captured, and the first line explains a failed decode.
"""

from __future__ import annotations

import logging
import os
import re
import struct
import sys
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import BadInputError, JNDError, UnsafeFileError
from ..utils.quiet import native_stderr_into

log = logging.getLogger("laserjnd.media")

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".264", ".h264", ".265", ".hevc", ".y4m", ".ts", ".yuv")

DEFAULT_MAX_PIXELS = 150_000_000  # 150 MP: above every camera sensor sold today, far below a bomb's billions
MAX_PIXELS_ENV = "LASERJND_MAX_PIXELS"


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def max_pixels() -> int:
    """The pixel limit in force: ``$LASERJND_MAX_PIXELS`` or :data:`DEFAULT_MAX_PIXELS`."""
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(raw))
    except ValueError:
        value = 0
    if value < 1:
        raise JNDError(f"{MAX_PIXELS_ENV} must be a positive number of pixels, got {raw!r}")
    return value


def check_pixel_limit(path: str | Path, width: int, height: int, what: str = "image") -> None:
    limit = max_pixels()
    if width * height > limit:
        raise UnsafeFileError(path, f"{what} of {width}x{height} = {width * height / 1e6:.1f} megapixels is above the "
                                    f"limit of {limit / 1e6:g} MP, refused before decoding (raise it with "
                                    f"--max-pixels or {MAX_PIXELS_ENV})")


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
    """Read an image file as RGB uint8 (H, W, 3); truncated, unreadable or oversized files raise ``BadInputError``."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "file not found" if not path.exists() else "is not a file")
    data = path.read_bytes()
    if not data:
        raise BadInputError(path, "file is empty")
    return decode_image(data, path)


def decode_image(data: bytes, path: str | Path | None = None) -> np.ndarray:
    """Encoded image bytes -> RGB uint8, by the module's rules (header check, one decode)."""
    size = header_size(data, path)
    if size is not None:
        check_pixel_limit(path, *size)
    check_complete(data, path)
    # ANYCOLOR|ANYDEPTH: keeps 16 bits and gray, drops alpha, applies EXIF orientation.
    with native_stderr_captured() as chatter:
        a = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    if a is None:
        said = chatter.first_line()
        raise BadInputError(path, f"corrupt image ({said})" if said else "not a readable image (unknown format or corrupt data)")
    if a.ndim == 3 and a.shape[2] >= 3:  # OpenCV decodes colour as BGR
        a = a[:, :, 2::-1]
    return to_rgb_uint8(a, path)


# ---------------------------------------------------------------- header and structure checks

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8"
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def header_size(data: bytes, path: str | Path | None = None) -> tuple[int, int] | None:
    """(width, height) from the header alone; None if the format has no header we can read."""
    if data.startswith(_PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise BadInputError(path, "corrupt PNG (no IHDR header chunk)")
        return struct.unpack(">II", data[16:24])
    if data.startswith(_JPEG_SOI):
        return _jpeg_size(data, path)
    return _pillow_size(data, path)


def _jpeg_size(data: bytes, path) -> tuple[int, int]:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:  # stray bytes between segments: libjpeg skips them too
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker in _JPEG_SOF and pos + 9 <= len(data):
            height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
            return width, height
        if marker == 0xDA:
            break
        pos += 2 + length
    raise BadInputError(path, "corrupt or truncated JPEG (no frame header)")


def _pillow_size(data: bytes, path) -> tuple[int, int] | None:
    """Other formats (BMP, TIFF, WebP, PNM): Pillow parses the header without decoding pixels."""
    from io import BytesIO

    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(BytesIO(data)) as im:
                return im.size
    except Image.DecompressionBombError:
        if max_pixels() <= 2 * (Image.MAX_IMAGE_PIXELS or 0):
            raise UnsafeFileError(path, f"image is above the limit of {max_pixels() / 1e6:g} MP, refused before decoding "
                                        f"(raise it with --max-pixels or {MAX_PIXELS_ENV})") from None
        return None  # above Pillow's own limit but below ours: let the decoder decide
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None  # not a format Pillow knows; the decoder decides


def check_complete(data: bytes, path: str | Path | None = None) -> None:
    """Structural end-of-stream check (no decoding): a truncated PNG or JPEG is an error, not grey pixels."""
    if data.startswith(_PNG_SIGNATURE) and not _png_reaches_iend(data):
        raise BadInputError(path, "corrupt or truncated image (PNG chunks end before IEND)")
    if data.startswith(_JPEG_SOI):
        last_scan = data.rfind(b"\xff\xda")
        if last_scan < 0 or data.find(b"\xff\xd9", last_scan) < 0:
            raise BadInputError(path, "corrupt or truncated image (JPEG ends before its EOI marker)")


def _png_reaches_iend(data: bytes) -> bool:
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        if data[pos + 4:pos + 8] == b"IEND":
            return True
        pos += 12 + length  # length, type, data, CRC
    return False


# ---------------------------------------------------------------- native decoder chatter

_OPENCV_ERROR = re.compile(r"error: \(-?\d+:[^)]*\)\s*(.+)")
_OPENCV_PREFIX = re.compile(r"^\[\s*\w+:\d+@[\d.]+\]\s*global\s+\S+\s+(\w+\s+)?")


class _Captured:
    def __init__(self):
        self.text = ""

    def first_line(self) -> str:
        """The decoder's first complaint, without OpenCV's log prefix (``[ERROR:0@1.2] global x.cpp:59 fn``)."""
        lines = [_OPENCV_PREFIX.sub("", ln.strip()) for ln in self.text.splitlines() if ln.strip()]
        if not lines:
            return ""
        cv_error = _OPENCV_ERROR.search(lines[0])  # "... error: (-2:Unspecified error) What went wrong"
        return (cv_error.group(1) if cv_error else lines[0])[:160]


@contextmanager
def native_stderr_captured() -> Iterator[_Captured]:
    """Keep what a native decoder prints to fd 2 while it runs, off the terminal.

    libpng/libjpeg/libtiff print warnings straight to fd 2, past Python. Python-level writes by other
    threads in the window are passed back to stderr.
    """
    captured = _Captured()
    with tempfile.TemporaryFile() as sink:
        try:
            with native_stderr_into(sink):
                yield captured
        finally:
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")
    _pass_back_foreign(captured.text)


_DECODER_LINE = re.compile(r"^(libpng|libtiff|TIFF|Corrupt JPEG|Premature end|Invalid SOS|Bogus|Warning|\[ ?WARN|"
                           r"\[ ?ERROR|.*(JPEG|PNG|TIFF|WebP|webp|IDAT|IHDR|CRC|grfmt|imgcodecs))", re.IGNORECASE)


def _pass_back_foreign(text: str) -> None:
    foreign = [ln for ln in text.splitlines(keepends=True) if ln.strip() and not _DECODER_LINE.match(ln.strip())]
    if foreign:
        sys.stderr.write("".join(foreign))
        sys.stderr.flush()


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


def sample_indices(total: int, n: int) -> list[int]:
    """``n`` frame indices spread uniformly over ``total`` frames (centre of each of n equal parts)."""
    if total <= 0:
        return []
    n = min(n, total)
    return sorted({int((i + 0.5) * total / n) for i in range(n)})


def read_video_frames(path: str | Path, n_frames: int = 8, size: tuple[int, int] | None = None) -> list[VideoFrame]:
    """Sample ``n_frames`` frames uniformly from a clip PyAV can read, or a raw 8-bit 4:2:0 ``.yuv``.

    For ``.yuv`` the frame size comes from ``size=(W, H)`` or a ``WxH`` pattern in the file name.
    A short or truncated clip is a logged warning with the counts, never a silent shortfall.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, "file not found" if not path.exists() else "is not a file")
    if path.suffix.lower() == ".yuv":
        out = _read_yuv(path, n_frames, size)
        _warn_short(path, n_frames, out, _yuv_frame_count(path, size), 0, len(out))
        return out
    total, announced = _count_frames(path, announced=True)
    if total == 0:
        raise BadInputError(path, "video has no decodable frames")
    keep = set(sample_indices(total, n_frames))
    out = [VideoFrame(i, f) for i, f in enumerate(_iter_container(path, max(keep) + 1)) if i in keep]
    if not out:
        raise BadInputError(path, "video has no decodable frames")
    _warn_short(path, n_frames, out, total, announced, len(keep))
    return out


def _warn_short(path: Path, asked: int, out: list[VideoFrame], total: int, announced: int, sampled: int) -> None:
    notes = []
    if announced > total:
        notes.append(f"truncated clip: the container indicates {announced} frames, {total} are present")
    if len(out) < sampled:
        notes.append(f"decoding stopped early ({len(out)} of {sampled} sampled frames decoded): truncated or corrupt")
    if len(out) < asked and not notes:
        notes.append(f"the clip has {total} frame{'s' if total != 1 else ''}")
    if notes:
        log.warning("%s: %d of %d frames sampled; %s", path, len(out), asked, "; ".join(notes))


def _count_frames(path: Path, announced: bool = False):
    """Count video packets (no decoding), so sampling needs no second full decode in memory.

    With ``announced``, also return how many frames the container header promises (0 if it does
    not say), to tell a truncated clip from a short one.
    """
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadInputError(path, "file has no video stream")
            stream = container.streams.video[0]
            if stream.codec_context.width and stream.codec_context.height:
                check_pixel_limit(path, stream.codec_context.width, stream.codec_context.height, "video frame")
            count = sum(1 for pkt in container.demux(stream) if pkt.size)
            return (count, _announced_frames(container, stream, count)) if announced else count
    except BadInputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        raise BadInputError(path, f"video cannot be read ({_av_reason(e)})") from None


def _announced_frames(container, stream, present: int) -> int:
    """Frames the header promises: the stream's count, else duration x frame rate (if clearly more)."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    if container.duration and rate:
        estimate = int(round(container.duration / 1_000_000 * float(rate)))
        return estimate if estimate > present * 1.1 + 1 else 0  # durations are rounded; only a clear gap counts
    return 0


def _iter_container(path: Path, limit: int | None = None) -> Iterator[np.ndarray]:
    """Decoded frames in order; a decode error after the first frame ends the clip (caller warns)."""
    import av

    yielded = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise BadInputError(path, "file has no video stream")
            stream = container.streams.video[0]
            for i, frame in enumerate(container.decode(stream)):
                if limit is not None and i >= limit:
                    break
                yielded += 1
                yield frame.to_ndarray(format="rgb24")
    except BadInputError:
        raise
    except (av.error.FFmpegError, OSError, ValueError) as e:
        if not yielded:
            raise BadInputError(path, f"video cannot be read ({_av_reason(e)})") from None


def _av_reason(e: Exception) -> str:
    """FFmpeg's own words without the file name PyAV appends (the error line names the file already)."""
    reason = getattr(e, "strerror", None) or (str(e).splitlines() or [type(e).__name__])[0]
    return str(reason)[:100]


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


def _yuv_frame_count(path: Path, size: tuple[int, int] | None) -> int:
    w, h = _yuv_size(path, size)
    return path.stat().st_size // (w * h * 3 // 2)


def _read_yuv(path: Path, n_frames: int, size: tuple[int, int] | None) -> list[VideoFrame]:
    w, h = _yuv_size(path, size)
    check_pixel_limit(path, w, h, "video frame")
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
