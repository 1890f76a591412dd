"""Single-frame codecs used to build distortion ladders: H.264, H.265 (constant QP) and JPEG (QF).

Frames are RGB ``uint8`` arrays of shape ``(H, W, 3)``. Everything that changes the encoded
bits is a field of :class:`CodecSettings` or is fixed here and recorded in
``CodecSettings.to_dict()``; ``CodecSettings.key()`` also hashes the encoder library version,
so caches built on it invalidate when the encoder changes.

Encoders
    * ``h264``: libx264 through PyAV (in-process), constant QP ``qp=level`` (0..51; 0 is
      lossless), one intra frame (``keyint=1``), ``aq-mode=0`` (x264 also disables AQ and
      mb-tree in CQP mode; set explicitly to record it) and ``psy=0`` unless ``psy=True``
      (psy-rd trades PSNR for "sharpness", which would bias a QP->quality ladder).
      ``threads=1`` so the bits do not depend on the core count; ladders are parallel across
      frames instead.
    * ``h265``: libx265 through PyAV, ``x265-params qp=level`` (0..51; 0 is *not* lossless),
      ``keyint=1``, ``aq-mode=0``, ``psy-rd=0:psy-rdoq=0`` unless ``psy=True``,
      ``pools=none:frame-threads=1:wpp=0`` (single-threaded; WPP would change the bits).
      ``info=0`` and x265 needs frames of at least 16x16.
    * For both, SEI NAL units (the encoder's ~0.6-2 kB version/options banner) are removed from
      the returned stream: they carry no picture data and would dominate the bit count at high
      QP. The stream still decodes; the byte count covers parameter sets and slice data.
    * ``jpeg``: OpenCV ``cv2.imencode`` (bundled libjpeg-turbo), IJG quality factor 1..100
      (the libjpeg scale MCL-JCI used), 4:2:0 sampling (``IMWRITE_JPEG_SAMPLING_FACTOR_420``),
      baseline, standard Huffman tables (no ``optimize``). JPEG does its own JFIF (BT.601
      full-range) colour conversion inside libjpeg; decoding uses libjpeg's default
      (fancy) chroma upsampling.

Colour (h264/h265)
    RGB -> Y'CbCr with BT.601 *limited range* (Y 16..235, C 16..240), the swscale default
    for RGB->yuv420p. Chroma is subsampled by a 2x2 box average (centre-sited) and upsampled
    on decode by bilinear interpolation (``cv2.INTER_LINEAR``, also centre-sited), so encode
    and decode are consistent. The bitstream's VUI is tagged BT.601 / limited range.

Odd sizes
    4:2:0 needs even sizes. Frames with an odd height or width are padded by replicating the
    last row/column to even size before encoding (all codecs, so the rule is one rule), and the
    decoded frame is cropped back to the original size. Every source pixel is kept and
    metrics are computed on the original size; the byte count includes the padding.

Fractional levels
    Encoders take integer levels. A fractional JND level is rounded *half up* to the nearest
    integer level (:func:`round_level`, ``ROUNDING_RULE``): 24.5 -> 25, 24.49 -> 24.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from typing import Any

import cv2
import numpy as np

from laserjnd.data.labels.units import CODEC_UNITS, LabelUnit
from laserjnd.errors import BadInputError, EncoderError
from laserjnd.utils.hashing import dict_hash

CODECS = tuple(CODEC_UNITS)
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
ROUNDING_RULE = "round half up to the nearest integer level: floor(level + 0.5)"
COLOR = "bt601-limited"  # matrix/range of the RGB<->Y'CbCr conversion for h264/h265
CHROMA = "420: 2x2 box average down, bilinear (cv2.INTER_LINEAR) up, centre-sited"
ODD_SIZE_POLICY = "pad to even size by replicating the last row/column; crop decoded frame back"
MIN_SIZE = {"h264": 1, "h265": 16, "jpeg": 1}  # smallest height/width the encoder accepts

# BT.601 limited range, 8 bit: [Y, Cb, Cr] = M @ [R, G, B] + offset.
_RGB2YUV = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float64,
) / 255.0
_YUV_OFFSET = np.array([16.0, 128.0, 128.0])
_YUV2RGB = np.linalg.inv(_RGB2YUV)
# 3x4 affine matrices for cv2.transform (offset folded into the 4th column).
_FWD = np.hstack([_RGB2YUV, _YUV_OFFSET[:, None]]).astype(np.float32)
_INV = np.hstack([_YUV2RGB, (-_YUV2RGB @ _YUV_OFFSET)[:, None]]).astype(np.float32)


class CodecInputError(BadInputError, ValueError):
    """Bad frame, level or settings; both a :class:`BadInputError` and a ``ValueError``."""

    def __init__(self, problem: str):
        super().__init__(None, problem)


@dataclass(frozen=True)
class CodecSettings:
    """How a frame is encoded. All fields are recorded in :meth:`to_dict` and :meth:`key`."""

    codec: str
    preset: str = "medium"  # x264/x265 preset; ignored (recorded as-is) for jpeg
    pix_fmt: str = "yuv420p"
    intra: bool = True  # single intra frame, keyint 1
    psy: bool = False  # x264/x265 psycho-visual rate-distortion tweaks

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise CodecInputError(f"unknown codec {self.codec!r}; expected one of {', '.join(CODECS)}")
        if self.preset not in PRESETS:
            raise CodecInputError(f"unknown preset {self.preset!r}; expected one of {', '.join(PRESETS)}")
        if self.pix_fmt != "yuv420p":
            raise CodecInputError(f"unsupported pix_fmt {self.pix_fmt!r}; only 'yuv420p' is implemented")
        if not self.intra:
            raise CodecInputError("only intra (single-frame, keyint 1) coding is implemented")

    @property
    def label_unit(self) -> LabelUnit:
        return CODEC_UNITS[self.codec]

    @property
    def unit(self) -> str:
        return self.label_unit.name

    @property
    def levels(self) -> range:
        return self.label_unit.levels

    def encoder_options(self, level: int | None = None) -> dict[str, Any]:
        """The exact options handed to the encoder (``level=None`` leaves the level out)."""
        if self.codec == "jpeg":
            opts: dict[str, Any] = {"library": "cv2.imencode", "sampling": "420", "optimize": 0, "progressive": 0}
            if level is not None:
                opts["quality"] = int(level)
            return opts
        if self.codec == "h264":
            params = "keyint=1:min-keyint=1:scenecut=0:aq-mode=0" + ("" if self.psy else ":psy=0")
            opts = {"preset": self.preset, "threads": "1", "x264-params": params}
            if level is not None:
                opts["qp"] = str(int(level))
            return opts
        params = "keyint=1:min-keyint=1:scenecut=0:aq-mode=0:pools=none:frame-threads=1:wpp=0:info=0:log-level=error"
        if not self.psy:
            params += ":psy-rd=0:psy-rdoq=0"
        if level is not None:
            params = f"qp={int(level)}:" + params
        return {"preset": self.preset, "x265-params": params}

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = asdict(self)
        d.update(
            unit=self.unit,
            encoder_options=self.encoder_options(),
            color=COLOR if self.codec != "jpeg" else "jfif-bt601-full (inside libjpeg)",
            chroma=CHROMA if self.codec != "jpeg" else "420 (libjpeg default down/upsampling)",
            odd_size=ODD_SIZE_POLICY,
            rounding=ROUNDING_RULE,
        )
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CodecSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def key(self) -> str:
        """Stable hash of the settings and the encoder library version."""
        return dict_hash({"settings": self.to_dict(), "encoder": encoder_version(self.codec)})


@functools.lru_cache(maxsize=None)
def encoder_version(codec: str) -> str:
    """Version string of the library that encodes ``codec`` (read from the library itself)."""
    if codec == "jpeg":
        info = [ln.strip() for ln in cv2.getBuildInformation().splitlines() if ln.strip().startswith("JPEG:")]
        lib = " ".join(info[0].split()) if info else "JPEG: unknown"
        return f"opencv {cv2.__version__}; {lib}"
    import av

    # x264/x265 write their version into an SEI message of every stream.
    opts = {"preset": "ultrafast", "x264-params" if codec == "h264" else "x265-params": "log-level=error"}
    data = _encode_video(np.zeros((24, 16), np.uint8), 16, 16, 30, CodecSettings(codec), options=opts)
    pat = rb"x264 - core \d+(?: r\d+ [0-9a-f]+)?" if codec == "h264" else rb"x265 \(build \d+\) - [^\s:]+"
    m = re.search(pat, data)
    lib = m.group(0).decode("ascii", "replace") if m else "unknown"
    return f"pyav {av.__version__}; libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}; {lib}"


def round_level(level: float) -> int:
    """Round a (fractional) JND level half up to an integer level: 24.5 -> 25, 24.49 -> 24."""
    lv = float(level)
    if not math.isfinite(lv):
        raise CodecInputError(f"level must be finite, got {level!r}")
    return int(math.floor(lv + 0.5))


# --------------------------------------------------------------------------- validation


def check_frame(frame: Any, min_size: int = 1) -> np.ndarray:
    """Return ``frame`` as a contiguous RGB uint8 (H, W, 3) array or raise :class:`CodecInputError`."""
    if not isinstance(frame, np.ndarray):
        raise CodecInputError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise CodecInputError(f"frame must be RGB with shape (H, W, 3), got shape {frame.shape}")
    if frame.dtype != np.uint8:
        raise CodecInputError(f"frame must be uint8, got dtype {frame.dtype}")
    h, w = frame.shape[:2]
    if h == 0 or w == 0:
        raise CodecInputError(f"frame is empty (shape {frame.shape})")
    if h < min_size or w < min_size:
        raise CodecInputError(f"frame {w}x{h} is smaller than the encoder minimum {min_size}x{min_size}")
    return np.ascontiguousarray(frame)


def check_level(level: Any, settings: CodecSettings) -> int:
    if isinstance(level, (bool, np.bool_)) or not isinstance(level, (int, np.integer, float, np.floating)):
        raise CodecInputError(f"{settings.unit} level must be an integer, got {level!r}")
    if isinstance(level, (float, np.floating)) and not float(level).is_integer():
        raise CodecInputError(f"{settings.unit} level must be an integer, got {level}; use round_level() first")
    lv = int(level)
    lo, hi = settings.levels[0], settings.levels[-1]
    if not lo <= lv <= hi:
        raise CodecInputError(f"{settings.unit.upper()} {lv} out of range for {settings.codec} ({lo}..{hi})")
    return lv


# --------------------------------------------------------------------------- colour


def pad_even(frame: np.ndarray) -> np.ndarray:
    """Replicate the last row/column so height and width are even (no copy if already even)."""
    h, w = frame.shape[:2]
    ph, pw = h % 2, w % 2
    if not (ph or pw):
        return frame
    return cv2.copyMakeBorder(frame, 0, ph, 0, pw, cv2.BORDER_REPLICATE)


def _to_u8(x: np.ndarray) -> np.ndarray:
    # Round to nearest and saturate to 0..255 in one OpenCV pass.
    return cv2.add(x, 0.0, dtype=cv2.CV_8U)


def rgb_to_yuv420(frame: np.ndarray) -> np.ndarray:
    """RGB uint8 (H, W, 3), even H and W -> yuv420p planes stacked as (H*3/2, W) uint8 (BT.601 limited)."""
    h, w = frame.shape[:2]
    out = np.empty((h * 3 // 2, w), np.uint8)
    f = frame.astype(np.float32)
    out[:h] = _to_u8(cv2.transform(f, _FWD[:1]))
    # The matrix is linear, so box-averaging RGB first (INTER_AREA at exactly 1/2 is the 2x2
    # mean) equals averaging Cb/Cr, at a quarter of the cost.
    half = cv2.resize(f, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    out[h:].reshape(2, h // 2, w // 2)[:] = np.moveaxis(_to_u8(cv2.transform(half, _FWD[1:])), 2, 0)
    return out


def yuv420_to_rgb(planes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`rgb_to_yuv420`; ``height``/``width`` are the (even) plane sizes."""
    c = planes[height:].reshape(2, height // 2, width // 2)
    cb = cv2.resize(c[0].astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    cr = cv2.resize(c[1].astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    return _to_u8(cv2.transform(cv2.merge([planes[:height].astype(np.float32), cb, cr]), _INV))


# --------------------------------------------------------------------------- encoders


def _encode_video(
    planes: np.ndarray, height: int, width: int, level: int, settings: CodecSettings, options: dict | None = None
) -> bytes:
    import av

    ctx = av.CodecContext.create("libx264" if settings.codec == "h264" else "libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, 25)
    ctx.thread_count = 1
    ctx.options = options if options is not None else settings.encoder_options(level)
    frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    frame.pts = 0
    # Tag the VUI with what the planes really are; decoding below does not rely on it.
    frame.color_range = av.video.reformatter.ColorRange.MPEG
    frame.colorspace = av.video.reformatter.Colorspace.ITU601
    packets = list(ctx.encode(frame)) + list(ctx.encode(None))
    data = b"".join(bytes(p) for p in packets)
    if not data:
        raise RuntimeError("encoder produced no data")
    return data


def _decode_video(data: bytes, settings: CodecSettings) -> np.ndarray:
    import av

    ctx = av.CodecContext.create("h264" if settings.codec == "h264" else "hevc", "r")
    ctx.thread_count = 1
    frames = list(ctx.decode(av.Packet(data))) + list(ctx.decode(None))
    if len(frames) != 1:
        raise RuntimeError(f"expected 1 decoded frame, got {len(frames)}")
    f = frames[0]
    if f.format.name != "yuv420p":
        f = f.reformat(format="yuv420p")
    return f.to_ndarray()


_START = re.compile(b"\x00\x00\x01")


def strip_sei(data: bytes, codec: str) -> bytes:
    """Drop SEI NAL units from an Annex-B H.264/H.265 stream (start codes are re-emitted as 4 bytes)."""
    starts = [m.end() for m in _START.finditer(data)]
    out, dropped = [], False
    for i, s in enumerate(starts):
        nal = data[s : starts[i + 1] - 3 if i + 1 < len(starts) else len(data)].rstrip(b"\x00")
        if not nal:
            continue
        kind = nal[0] & 0x1F if codec == "h264" else (nal[0] >> 1) & 0x3F
        if kind in ((6,) if codec == "h264" else (39, 40)):  # SEI / prefix+suffix SEI
            dropped = True
            continue
        out.append(b"\x00\x00\x00\x01" + nal)
    return b"".join(out) if dropped else data


class Prepared:
    """A validated, padded frame converted once for repeated encodes (used by ladders)."""

    def __init__(self, frame: np.ndarray, settings: CodecSettings):
        self.settings = settings
        self.frame = check_frame(frame, MIN_SIZE[settings.codec])
        self.height, self.width = self.frame.shape[:2]
        padded = pad_even(self.frame)
        self.ph, self.pw = padded.shape[:2]
        if settings.codec == "jpeg":
            self.payload = np.ascontiguousarray(padded[..., ::-1])  # OpenCV wants BGR
        else:
            self.payload = rgb_to_yuv420(padded)

    def encode(self, level: int) -> bytes:
        s = self.settings
        level = check_level(level, s)
        try:
            if s.codec == "jpeg":
                ok, buf = cv2.imencode(".jpg", self.payload, _jpeg_params(level))
                if not ok:
                    raise RuntimeError("cv2.imencode returned False")
                return buf.tobytes()
            return strip_sei(_encode_video(self.payload, self.ph, self.pw, level, s), s.codec)
        except Exception as exc:
            raise EncoderError(f"{s.codec} encoder failed at {s.unit.upper()} {level}: {exc}") from exc

    def decode(self, data: bytes) -> np.ndarray:
        return decode(data, self.settings, (self.height, self.width))


def _jpeg_params(level: int) -> list[int]:
    return [
        cv2.IMWRITE_JPEG_QUALITY, int(level),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR, cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
        cv2.IMWRITE_JPEG_OPTIMIZE, 0,
        cv2.IMWRITE_JPEG_PROGRESSIVE, 0,
    ]  # fmt: skip


def encode(frame: np.ndarray, level: int, settings: CodecSettings) -> bytes:
    """Encode one RGB uint8 frame at integer ``level`` (QP or QF); returns the bitstream."""
    return Prepared(frame, settings).encode(level)


def decode(data: bytes, settings: CodecSettings, size: tuple[int, int]) -> np.ndarray:
    """Decode ``data`` to RGB uint8, cropped to ``size = (height, width)`` of the source frame."""
    h, w = (int(v) for v in size)
    if h <= 0 or w <= 0:
        raise CodecInputError(f"size must be positive (height, width), got {size}")
    try:
        if settings.codec == "jpeg":
            bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise RuntimeError("cv2.imdecode could not decode the data")
            rgb = bgr[..., ::-1]
        else:
            planes = _decode_video(data, settings)
            ph, pw = planes.shape[0] * 2 // 3, planes.shape[1]
            rgb = yuv420_to_rgb(planes, ph, pw)
    except Exception as exc:
        raise EncoderError(f"{settings.codec} decoder failed: {exc}") from exc
    if rgb.shape[0] < h or rgb.shape[1] < w:
        raise EncoderError(f"{settings.codec} decoded {rgb.shape[1]}x{rgb.shape[0]}, smaller than {w}x{h}")
    return np.ascontiguousarray(rgb[:h, :w])


def encode_decode(frame: np.ndarray, level: int, settings: CodecSettings) -> tuple[int, np.ndarray]:
    """Encode then decode; returns ``(number of bytes, decoded RGB uint8 of the source size)``."""
    prep = Prepared(frame, settings)
    data = prep.encode(level)
    return len(data), prep.decode(data)


def jnd_quality_frame(frame: np.ndarray, level: float, settings: CodecSettings) -> np.ndarray:
    """The frame encoded at its JND ``level`` (rounded half up, see :func:`round_level`) and decoded."""
    return encode_decode(frame, round_level(level), settings)[1]
