"""Saliency targets for the MTJND visual-attention (VA) tail.

MTJND's saliency ground truth was never released; the authors' earlier work used a classical
bottom-up model. We use OpenCV contrib's established implementations (``cv2.saliency``):

- ``"spectral_residual"`` (default; Hou & Zhang 2007): the frame is converted to grey and analysed
  at 64x64 inside OpenCV, which already Gaussian-blurs the map there, so it is smooth and cheap
  even for 1080p frames. No extra blur by default.
- ``"fine_grained"`` (Montabone & Soto 2010): centre-surround at full resolution; sharp and
  edge-like, so it gets a Gaussian blur (sigma = 1% of the longer side) by default.

Every map is min-max normalised to [0, 1] (a flat frame gives an all-zero map).
Maps are written as 8-bit grey PNGs with the frame's file stem; the dataset reads them from
``root/saliency{split}/<stem>.png`` (see :func:`saliency_dir`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import BadInputError
from ..utils.atomic import atomic_save
from .media import IMAGE_EXTENSIONS

METHODS = ("spectral_residual", "fine_grained")
DEFAULT_BLUR = {"spectral_residual": 0.0, "fine_grained": 0.01}  # sigma as a fraction of the longer side


def saliency_dir(root: str | Path, split: str) -> Path:
    """Where the dataset looks for the maps of ``root/<split>`` (see ``layout.DatasetLayout``)."""
    from .layout import DatasetLayout

    return DatasetLayout(root).saliency_dir(split)


def _read_rgb(path: Path) -> np.ndarray:
    if not path.is_file():
        raise BadInputError(path, "image file not found")
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise BadInputError(path, "not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _as_rgb_uint8(frame) -> np.ndarray:
    if isinstance(frame, (str, Path)):
        return _read_rgb(Path(frame))
    a = np.asarray(frame)
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or min(a.shape[:2]) < 1:
        raise BadInputError(None, f"saliency: expected an HxWx3 RGB frame, got shape {a.shape}")
    a = a[:, :, :3]
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.size and float(np.nanmax(a)) <= 1.0:
            a = a * 255.0  # a float frame in [0, 1]
        a = np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def _compute(bgr: np.ndarray, method: str) -> np.ndarray:
    if method == "spectral_residual":
        algo = cv2.saliency.StaticSaliencySpectralResidual_create()
    else:
        algo = cv2.saliency.StaticSaliencyFineGrained_create()
    ok, sal = algo.computeSaliency(bgr)
    if not ok or sal is None:
        raise BadInputError(None, f"saliency: OpenCV {method} failed on a {bgr.shape[1]}x{bgr.shape[0]} frame")
    return np.asarray(sal, dtype=np.float32)


def saliency_map(frame_rgb_uint8, method: str = "spectral_residual", size: tuple[int, int] | None = None,
                 blur: float | None = None) -> np.ndarray:
    """Saliency of one frame: float32 (H, W) in [0, 1].

    ``frame_rgb_uint8``: HxWx3 RGB uint8 array (a float array in [0, 1] or an image path also work).
    ``size``: (H, W) of the output; the frame is resized to it first (INTER_AREA), so the map is
    computed at the resolution the model sees. ``blur``: Gaussian sigma as a fraction of the longer
    side, applied before normalisation (default per method, see module doc); 0 disables.
    """
    if method not in METHODS:
        raise BadInputError(None, f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")
    rgb = _as_rgb_uint8(frame_rgb_uint8)
    if size is not None:
        h, w = int(size[0]), int(size[1])
        if (h, w) != rgb.shape[:2]:
            rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    if int(rgb.max()) == int(rgb.min()):
        return np.zeros(rgb.shape[:2], np.float32)  # flat frame: nothing stands out (OpenCV returns noise)
    sal = _compute(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), method)
    if sal.shape != rgb.shape[:2]:
        sal = cv2.resize(sal, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    sigma = DEFAULT_BLUR[method] if blur is None else float(blur)
    if sigma > 0:
        sal = cv2.GaussianBlur(sal, (0, 0), sigmaX=max(sigma * max(sal.shape), 0.5))
    sal = np.nan_to_num(sal, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(sal.min()), float(sal.max())
    if hi - lo < 1e-12:
        return np.zeros_like(sal, dtype=np.float32)
    return ((sal - lo) / (hi - lo)).astype(np.float32)


def read_saliency_png(path: str | Path) -> np.ndarray:
    """A map written by :func:`write_saliency_maps` back as float32 (H, W) in [0, 1]."""
    path = Path(path)
    m = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) if path.is_file() else None
    if m is None:
        raise BadInputError(path, "not a readable saliency map")
    return m.astype(np.float32) / 255.0


def _write_png(path: Path, sal: np.ndarray) -> None:
    img = np.round(np.clip(sal, 0, 1) * 255.0).astype(np.uint8)

    def writer(tmp: Path) -> None:
        ok, buf = cv2.imencode(".png", img)  # encode explicitly: the temp name has no .png suffix
        if not ok:
            raise BadInputError(path, "PNG encoding failed")
        tmp.write_bytes(buf.tobytes())

    atomic_save(path, writer)


def write_saliency_maps(frames_folder: str | Path, out_folder: str | Path | None = None,
                        method: str = "spectral_residual", size: tuple[int, int] | None = None,
                        overwrite: bool = False, progress: bool = True) -> list[Path]:
    """Write ``<out_folder>/<stem>.png`` for every image in ``frames_folder`` (not recursive).

    ``out_folder`` defaults to ``saliency_dir(frames_folder.parent, frames_folder.name)``, i.e.
    ``root/saliency{split}`` for frames in ``root/{split}``. Existing maps are kept unless
    ``overwrite``. Each PNG is written atomically, so an interrupted run can simply be restarted.
    ``size``: compute and store the maps at (H, W) (e.g. the model input size); default: frame size.
    Returns the paths of all maps (written or already present).
    """
    from tqdm.auto import tqdm

    frames_folder = Path(frames_folder)
    if not frames_folder.is_dir():
        raise BadInputError(frames_folder, "frames folder not found")
    if method not in METHODS:
        raise BadInputError(None, f"unknown saliency method {method!r}; choose one of {', '.join(METHODS)}")
    out = Path(out_folder) if out_folder is not None else saliency_dir(frames_folder.parent, frames_folder.name)
    frames = sorted(p for p in frames_folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not frames:
        raise BadInputError(frames_folder, f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the folder")
    stems: dict[str, Path] = {}
    for p in frames:
        if p.stem in stems:
            raise BadInputError(p, f"two frames share the stem {p.stem!r} ({stems[p.stem].name}); maps would collide")
        stems[p.stem] = p
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in tqdm(frames, desc=f"saliency ({method})", unit="frame", disable=not progress):
        dst = out / f"{p.stem}.png"
        if overwrite or not dst.is_file():
            _write_png(dst, saliency_map(_read_rgb(p), method=method, size=size))
        written.append(dst)
    return written
