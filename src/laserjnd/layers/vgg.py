"""VGG16 convolutional part (no classifier), written out by hand, plus a weight loader.

Layout follows torchvision's ``vgg16().features`` indexing, so a torchvision state_dict
(``features.N.weight``) loads without renaming: conv layers sit at indices
0,2 | 5,7 | 10,12,14 | 17,19,21 | 24,26,28 and max-pools at 4, 9, 16, 23, 30.
14,714,688 parameters. Pools floor odd sizes (Keras 'valid' pooling does the same), so a
270x480 input ends at 8x15x512; at least 32 px per side are needed.

ImageNet weights cannot be downloaded here; :func:`load_vgg16_weights` takes a user-supplied
file: a PyTorch state_dict (.pth/.pt), a safetensors file, or the Keras
``vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import BadInputError
from .keras_init import glorot_init_

# (block, number of convs, channels)
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
VGG16_PARAMS = 14_714_688
MIN_INPUT_SIDE = 32  # five 2x2 pools


def _layer_table() -> list[tuple[str, int | None]]:
    """[(keras layer name, index in ``features``)], pools as ("block{b}_pool", idx)."""
    table, idx = [], 0
    for b, n, _ in VGG16_BLOCKS:
        for i in range(1, n + 1):
            table.append((f"block{b}_conv{i}", idx))
            idx += 2  # conv + ReLU
        table.append((f"block{b}_pool", idx))
        idx += 1
    return table


LAYER_TABLE = _layer_table()
CONV_LAYERS = [(n, i) for n, i in LAYER_TABLE if "conv" in n]
# Index in ``features`` of the last module of each block (its max-pool).
BLOCK_END = {int(n[5]): i for n, i in LAYER_TABLE if n.endswith("pool")}


class VGG16Features(nn.Module):
    """The 13-conv VGG16 trunk. ``forward(x, taps=())`` can also return intermediate maps.

    Tap names: ``"block{b}"`` = output of block b's last conv+ReLU (before its pool),
    ``"pool{b}"`` = after its pool.
    """

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for _, n, c in VGG16_BLOCKS:
            for _ in range(n):
                layers += [nn.Conv2d(cin, c, 3, padding=1), nn.ReLU(inplace=True)]
                cin = c
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        glorot_init_(self)  # Keras default; torchvision would use Kaiming

    @staticmethod
    def output_size(input_size: tuple[int, int]) -> tuple[int, int]:
        h, w = input_size
        if min(h, w) < MIN_INPUT_SIDE:
            raise ValueError(f"VGG16 needs an input of at least {MIN_INPUT_SIDE}x{MIN_INPUT_SIDE}, got {h}x{w}")
        for _ in range(5):
            h, w = h // 2, w // 2
        return h, w

    def forward(self, x: torch.Tensor, taps: tuple[str, ...] = ()):
        if not taps:
            return self.features(x)
        want = {}
        for t in taps:
            b = int(t[-1])
            want[BLOCK_END[b] - 1 if t.startswith("block") else BLOCK_END[b]] = t
        out = {}
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in want:
                out[want[i]] = x
        return x, out

    def freeze_blocks(self, n: int) -> None:
        """Fix the weights of blocks 1..n (the original froze 1-3 on top of ImageNet weights)."""
        if not 0 <= n <= 5:
            raise ValueError(f"freeze_blocks must be 0..5, got {n}")
        stop = BLOCK_END[n] + 1 if n else 0
        for i, layer in enumerate(self.features):
            for p in layer.parameters():
                p.requires_grad_(i >= stop)


# ----------------------------------------------------------------------------------------
# Weight loading
# ----------------------------------------------------------------------------------------

def _vgg_of(module: nn.Module) -> VGG16Features:
    if isinstance(module, VGG16Features):
        return module
    found = [m for m in module.modules() if isinstance(m, VGG16Features)]
    if len(found) != 1:
        raise ValueError(f"expected exactly one VGG16Features inside {type(module).__name__}, found {len(found)}")
    return found[0]


def _read_torch(path: Path) -> dict[str, torch.Tensor]:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]  # a training checkpoint wrapping the weights
    if not isinstance(sd, dict):
        raise BadInputError(path, f"expected a state_dict, found {type(sd).__name__}")
    return {k: v for k, v in sd.items() if isinstance(v, torch.Tensor)}


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path), device="cpu")


def _by_index(sd: dict[str, torch.Tensor], path: Path) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """Pick ``...features.N.weight/bias`` (or bare ``N.weight``) out of a torch-style dict."""
    out: dict[int, dict[str, torch.Tensor]] = {}
    for key, t in sd.items():
        parts = key.split(".")
        if len(parts) < 2 or parts[-1] not in ("weight", "bias") or not parts[-2].isdigit():
            continue
        if len(parts) > 2 and parts[-3] != "features":
            continue  # e.g. torchvision "classifier.0.weight"
        out.setdefault(int(parts[-2]), {})[parts[-1]] = t
    missing = [n for n, i in CONV_LAYERS if "weight" not in out.get(i, {}) or "bias" not in out.get(i, {})]
    if missing:
        raise BadInputError(path, f"no VGG16 weights for layer {missing[0]} (expected keys 'features.N.weight/bias', "
                                  f"N in {[i for _, i in CONV_LAYERS]})")
    return {i: (out[i]["weight"], out[i]["bias"]) for _, i in CONV_LAYERS}


def _read_keras_h5(path: Path) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f  # whole-model saves nest the weights
        out = {}
        for name, idx in CONV_LAYERS:
            if name not in root:
                raise BadInputError(path, f"no Keras layer {name!r} in the file")
            arrays: list[np.ndarray] = []
            root[name].visititems(lambda _, obj: arrays.append(obj[()]) if isinstance(obj, h5py.Dataset) else None)
            kernels = [a for a in arrays if a.ndim == 4]
            biases = [a for a in arrays if a.ndim == 1]
            if len(kernels) != 1 or len(biases) != 1:
                raise BadInputError(path, f"layer {name}: expected one 4-D kernel and one bias, found "
                                          f"{[a.shape for a in arrays]}")
            # Keras kernel is (kh, kw, in, out); PyTorch wants (out, in, kh, kw). Both cross-correlate.
            w = torch.from_numpy(np.ascontiguousarray(kernels[0].transpose(3, 2, 0, 1))).float()
            out[idx] = (w, torch.from_numpy(biases[0]).float())
    return out


def load_vgg16_weights(module: nn.Module, path: str | Path) -> None:
    """Load VGG16 conv weights from ``path`` into ``module`` (a VGG16Features or a model holding one).

    Formats, chosen by extension: ``.pth``/``.pt``/``.bin`` (torch state_dict, torchvision names
    ``features.N.weight``; any prefix before ``features`` is ignored), ``.safetensors`` (same
    names), ``.h5``/``.hdf5`` (Keras: groups ``block{b}_conv{i}`` holding kernel HWIO and bias).
    Classifier weights in the file are ignored. Raises :class:`BadInputError` naming the file and
    the layer on a missing or mis-shaped layer; nothing is modified in that case.
    """
    path = Path(path)
    vgg = _vgg_of(module)
    if not path.is_file():
        raise BadInputError(path, "VGG16 weight file not found")
    ext = path.suffix.lower()
    try:
        if ext in (".h5", ".hdf5", ".keras"):
            weights = _read_keras_h5(path)
        elif ext == ".safetensors":
            weights = _by_index(_read_safetensors(path), path)
        elif ext in (".pth", ".pt", ".bin", ".ckpt"):
            weights = _by_index(_read_torch(path), path)
        else:
            raise BadInputError(path, f"unknown VGG16 weight format {ext!r} (use .pth/.pt, .safetensors or Keras .h5)")
    except BadInputError:
        raise
    except Exception as e:  # truncated or foreign file
        raise BadInputError(path, f"cannot read VGG16 weights ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None

    names = dict((i, n) for n, i in CONV_LAYERS)
    for idx, (w, b) in weights.items():  # check everything before touching the model
        conv = vgg.features[idx]
        if tuple(w.shape) != tuple(conv.weight.shape) or tuple(b.shape) != tuple(conv.bias.shape):
            raise BadInputError(path, f"layer {names[idx]} (features.{idx}): file has kernel {tuple(w.shape)} / bias "
                                      f"{tuple(b.shape)}, model expects {tuple(conv.weight.shape)} / {tuple(conv.bias.shape)}")
    with torch.no_grad():
        for idx, (w, b) in weights.items():
            vgg.features[idx].weight.copy_(w)
            vgg.features[idx].bias.copy_(b)
