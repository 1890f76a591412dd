"""Full-reference quality metrics of a decoded frame against its source (RGB uint8, same shape).

* ``psnr_y``: PSNR of BT.601 luma, ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``
  (limited range, the same matrix the codecs use), computed in float32 (not rounded), peak 255.
* ``psnr_rgb``: PSNR of the MSE averaged over all R, G, B samples, peak 255.
* ``ssim``: SSIM (Wang et al. 2004) of the same float luma, data range 255, 11x11 Gaussian
  window with sigma 1.5, population covariance, K1=0.01, K2=0.03, mean over the valid region
  (5 px border cropped). This equals ``skimage.metrics.structural_similarity(...,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)``
  (tests check it to 1e-4) but uses OpenCV filters in float32, ~10x faster, and reuses the
  reference's statistics (:class:`ReferenceMetrics`).
* ``vmaf_batch``: the official libvmaf (model ``vmaf_v0.6.1``) through the ffmpeg bundled with
  imageio-ffmpeg, all distorted frames in one ffmpeg call. Frames are converted to yuv420p
  with the codecs' BT.601 limited-range conversion; odd sizes are padded by replicating the
  last row/column. The reference is a single frame that libvmaf's frame sync repeats, so its
  motion feature is 0 and a batch score equals the single-frame score.

PSNR of identical frames (MSE 0) is capped at ``PSNR_CAP`` = 100 dB rather than inf, so ladder
curves stay finite and interpolate.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np

from laserjnd.data.codecs import check_frame, pad_even, rgb_to_yuv420
from laserjnd.errors import BadInputError, EncoderError

PSNR_CAP = 100.0
PEAK = 255.0
VMAF_MODEL = "vmaf_v0.6.1"
SSIM_SETTINGS = {
    "channel": "bt601 limited-range luma (float)",
    "window": "gaussian 11x11",
    "sigma": 1.5,
    "K1": 0.01,
    "K2": 0.03,
    "data_range": 255.0,
    "covariance": "population",
    "border": "cropped 5 px",
    "equivalent": "skimage structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)",
}
_LUMA_M = np.array([[65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0, 16.0]], dtype=np.float32)
_SSIM_K = 11
_SSIM_PAD = (_SSIM_K - 1) // 2
_C1 = (0.01 * PEAK) ** 2
_C2 = (0.03 * PEAK) ** 2


def _pair(ref: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref, dist = check_frame(ref), check_frame(dist)
    if ref.shape != dist.shape:
        raise BadInputError(None, f"reference {ref.shape} and distorted {dist.shape} frames differ in shape")
    return ref, dist


def luma(frame: np.ndarray) -> np.ndarray:
    """BT.601 limited-range luma of an RGB uint8 frame, float32, not rounded."""
    return cv2.transform(frame.astype(np.float32), _LUMA_M)


def _psnr(mse: float) -> float:
    if mse <= 0:
        return PSNR_CAP
    return float(min(PSNR_CAP, 10.0 * np.log10(PEAK * PEAK / mse)))


def _mse(a: np.ndarray, b: np.ndarray) -> float:
    # cv2.norm accumulates in double; exact for uint8.
    return cv2.norm(a, b, cv2.NORM_L2SQR) / a.size


def _blur(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    # Border values are cropped afterwards, so the border mode never reaches the result.
    return cv2.GaussianBlur(x, (_SSIM_K, _SSIM_K), 1.5, dst=out, borderType=cv2.BORDER_REFLECT)


class ReferenceMetrics:
    """PSNR-Y, PSNR-RGB and SSIM of distorted frames against one reference.

    The reference's luma and SSIM statistics are computed once, each distorted frame's luma
    once for both PSNR-Y and SSIM, and SSIM works in preallocated float32 buffers (fresh
    frame-sized temporaries cost more in page faults than the arithmetic). Not thread-safe.
    SSIM works on luma centred at 128, which keeps E[x^2] - E[x]^2 accurate in float32.
    """

    def __init__(self, ref: np.ndarray):
        self.ref = check_frame(ref)
        self.shape = self.ref.shape
        self.y = luma(self.ref)
        self.xc = self.y - 128.0
        self.mx = _blur(self.xc)
        vx = _blur(self.xc * self.xc) - self.mx * self.mx
        self.ux = self.mx + 128.0
        self.ux2_c1 = self.ux * self.ux + _C1
        self.vx_c2 = vx + _C2
        self._buf = [np.empty_like(self.y) for _ in range(6)]

    def _check(self, dist: np.ndarray) -> np.ndarray:
        dist = check_frame(dist)
        if dist.shape != self.shape:
            raise BadInputError(None, f"reference {self.shape} and distorted {dist.shape} frames differ in shape")
        return dist

    def _ssim(self, y: np.ndarray) -> float:
        if min(self.shape[:2]) <= 2 * _SSIM_PAD:
            raise BadInputError(None, f"frame {self.shape[1]}x{self.shape[0]} is smaller than the 11x11 SSIM window")
        yc, uy, t, vy, cxy, tmp = self._buf
        np.subtract(y, 128.0, out=yc)
        _blur(yc, uy)  # mean of y, centred
        np.multiply(yc, yc, out=t)
        _blur(t, vy)
        vy -= np.multiply(uy, uy, out=tmp)  # sigma_y^2
        np.multiply(self.xc, yc, out=t)
        _blur(t, cxy)
        cxy -= np.multiply(self.mx, uy, out=tmp)  # sigma_xy
        uy += 128.0
        num = np.multiply(self.ux, uy, out=t)
        num *= 2.0
        num += _C1
        cxy *= 2.0
        cxy += _C2
        num *= cxy
        den = np.multiply(uy, uy, out=tmp)
        den += self.ux2_c1
        vy += self.vx_c2
        den *= vy
        num /= den
        p = _SSIM_PAD
        # SSIM <= 1 exactly; float32 rounding can land a hair above for identical frames.
        return min(1.0, float(np.mean(num[p:-p, p:-p], dtype=np.float64)))

    def psnr_y(self, dist: np.ndarray) -> float:
        return _psnr(_mse(self.y, luma(self._check(dist))))

    def psnr_rgb(self, dist: np.ndarray) -> float:
        return _psnr(_mse(self.ref, self._check(dist)))

    def ssim(self, dist: np.ndarray) -> float:
        return self._ssim(luma(self._check(dist)))

    def all(self, dist: np.ndarray) -> dict[str, float]:
        """``{"psnr_y", "psnr_rgb", "ssim"}`` of one distorted frame."""
        dist = self._check(dist)
        y = luma(dist)
        return {"psnr_y": _psnr(_mse(self.y, y)), "psnr_rgb": _psnr(_mse(self.ref, dist)), "ssim": self._ssim(y)}


def psnr_y(ref: np.ndarray, dist: np.ndarray) -> float:
    return ReferenceMetrics(ref).psnr_y(dist)


def psnr_rgb(ref: np.ndarray, dist: np.ndarray) -> float:
    ref, dist = _pair(ref, dist)
    return _psnr(_mse(ref, dist))


def ssim(ref: np.ndarray, dist: np.ndarray) -> float:
    return ReferenceMetrics(ref).ssim(dist)


# --------------------------------------------------------------------------- VMAF


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def ffmpeg_version() -> str:
    import imageio_ffmpeg

    return f"imageio-ffmpeg {imageio_ffmpeg.__version__}; {Path(ffmpeg_exe()).name}"


def _yuv(frame: np.ndarray) -> bytes:
    return rgb_to_yuv420(pad_even(frame)).tobytes()


_LIBVMAF_VERSION = ["unknown (not run yet)"]


def vmaf_info(model: str = VMAF_MODEL) -> dict[str, Any]:
    """What produced the VMAF scores; ``libvmaf`` is the version the last run reported."""
    return {"vmaf_model": model, "libvmaf": _LIBVMAF_VERSION[0], "ffmpeg": ffmpeg_version(), "pix_fmt": "yuv420p bt601-limited"}


class VMAFStream:
    """One ffmpeg/libvmaf process scoring distorted frames against one reference as they arrive.

    Frames are piped to ffmpeg's stdin while the caller produces the next one, so scoring
    overlaps encoding and no list of decoded frames is kept. ``close()`` returns the scores.
    ``n_threads`` is libvmaf's thread count (it scores frames in parallel); ``None`` uses all
    cores; pass 1 when one process per core already runs in parallel.
    """

    def __init__(self, reference_rgb: np.ndarray, *, model: str = VMAF_MODEL, n_threads: int | None = None):
        self.ref = check_frame(reference_rgb)
        if min(pad_even(self.ref).shape[:2]) < 18:  # libvmaf segfaults below 18x18 (yuv420p)
            raise BadInputError(None, f"frame {self.ref.shape[1]}x{self.ref.shape[0]} is too small for VMAF (needs at least 17x17)")
        self.model = model
        self.count = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="laserjnd-vmaf-")
        tmp = Path(self._tmp.name)
        self._log, ref_path = tmp / "vmaf.json", tmp / "ref.yuv"
        ref_path.write_bytes(_yuv(self.ref))
        threads = max(1, int(n_threads if n_threads is not None else (os.cpu_count() or 1)))
        h, w = pad_even(self.ref).shape[:2]
        raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-framerate", "25"]
        # Input 0 (main) is the distorted stream on stdin; input 1 is the one-frame reference,
        # repeated by the filter's frame sync (eof_action=repeat, repeatlast).
        filt = (
            f"[0:v][1:v]libvmaf=model=version={model}:n_threads={threads}"
            f":log_fmt=json:log_path={self._log.as_posix()}:eof_action=repeat:repeatlast=1"
        )
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-threads", "1",
               *raw, "-i", "pipe:0", *raw, "-i", str(ref_path), "-lavfi", filt, "-f", "null", "-"]  # fmt: skip
        self._err = open(tmp / "stderr.txt", "w+b")  # a file, so a chatty ffmpeg never blocks on a full pipe
        self._proc: subprocess.Popen | None = None
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._err
            )
        except OSError as exc:
            self._cleanup()
            raise EncoderError(f"libvmaf: could not run ffmpeg ({exc})") from exc

    def add(self, distorted_rgb: np.ndarray) -> None:
        d = check_frame(distorted_rgb)
        if d.shape != self.ref.shape:
            raise BadInputError(None, f"reference {self.ref.shape} and distorted {d.shape} frames differ in shape")
        self._write(_yuv(d))

    def _write(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None, "VMAFStream already closed"
        try:
            self._proc.stdin.write(data)
        except (BrokenPipeError, OSError):
            self._proc.wait()
            self._fail()
        self.count += 1

    def _fail(self) -> None:
        self._err.seek(0)
        lines = self._err.read().decode("utf-8", "replace").strip().splitlines()
        rc = self._proc.returncode if self._proc else None
        self._cleanup()
        raise EncoderError(f"libvmaf (ffmpeg) failed with exit code {rc}: {lines[-1] if lines else 'no message'}")

    def close(self) -> tuple[np.ndarray, dict[str, Any]]:
        """Finish and return ``(scores, info)``."""
        if self.count == 0:
            self.abort()
            return np.zeros(0), vmaf_info(self.model)
        assert self._proc is not None and self._proc.stdin is not None, "VMAFStream already closed"
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        self._proc.wait()
        if self._proc.returncode != 0 or not self._log.exists():
            self._fail()
        try:
            log = json.loads(self._log.read_text())
        finally:
            self._cleanup()
        frames = sorted(log.get("frames", []), key=lambda f: f["frameNum"])
        if len(frames) != self.count:
            raise EncoderError(f"libvmaf scored {len(frames)} frames, expected {self.count}")
        _LIBVMAF_VERSION[0] = str(log.get("version", "unknown"))
        return np.array([f["metrics"]["vmaf"] for f in frames], dtype=np.float64), vmaf_info(self.model)

    def abort(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._proc is not None and self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except OSError:
                pass
        self._proc = None
        if not self._err.closed:
            self._err.close()
        self._tmp.cleanup()

    def __enter__(self) -> VMAFStream:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if self._proc is not None:
            self.abort()


def vmaf_batch_with_info(
    reference_rgb: np.ndarray,
    distorted: Sequence[np.ndarray],
    *,
    model: str = VMAF_MODEL,
    n_threads: int | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`vmaf_batch` plus ``{"vmaf_model", "libvmaf", "ffmpeg", "pix_fmt"}``."""
    ref = check_frame(reference_rgb)
    dists = [check_frame(d) for d in distorted]
    for d in dists:  # check all before starting ffmpeg
        if d.shape != ref.shape:
            raise BadInputError(None, f"reference {ref.shape} and distorted {d.shape} frames differ in shape")
    if n_threads is None:
        n_threads = os.cpu_count() or 1
    with VMAFStream(ref, model=model, n_threads=max(1, min(int(n_threads), len(dists)))) as stream:
        for d in dists:
            stream.add(d)
        return stream.close()


def vmaf_batch(
    reference_rgb: np.ndarray,
    distorted_list: Sequence[np.ndarray],
    *,
    model: str = VMAF_MODEL,
    n_threads: int | None = None,
) -> np.ndarray:
    """VMAF (libvmaf, default model vmaf_v0.6.1) of each distorted frame vs the reference."""
    return vmaf_batch_with_info(reference_rgb, distorted_list, model=model, n_threads=n_threads)[0]


def vmaf(ref: np.ndarray, dist: np.ndarray, **kw: Any) -> float:
    return float(vmaf_batch(ref, [dist], **kw)[0])
