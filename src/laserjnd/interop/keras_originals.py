"""Keras networks built the way the original LASeR-JND / MTJND scripts build them (flat graphs).

``build_keras_model(name, input_size=None, keras=None, **cfg)`` returns a ``keras.Model`` whose
layers are created in the originals' order, so a file the original code wrote and a file written
from this model list the same layers under the same numbering:

- single-level LASeR (lat, rec, e2e-lat, e2e-rec): one encoder-decoder created on the input (4
  strided 5x5 convs with LeakyReLU 0.05, then 4 strided 5x5 transposed convs); the head reads its
  latent (LAT) or reconstruction (REC); then BatchNormalization, the blocks, Flatten, Dense layers;
- mj-lat: three encoder-decoders created one after the other on the same input (decoders unused,
  so absent from the model), three BatchNormalizations, three LAT blocks 64, a multiply, LAT blocks
  128 (max-pool), 256, 512 (max-pool), Flatten, three heads Dense 256 -> 128 -> 1 ``JND{k}_output``;
- mj-rec: the same three encoder-decoders, BatchNormalization on each reconstruction, three REC
  blocks 512, a multiply, REC blocks 256 .. 32, Flatten, one shared Dense 512, three ``JND{k}_output``;
- MTJND: VGG16's conv part (``block{b}_conv{i}``, flat) on the input, then the heads (and the VA
  tail of ``models/mtjnd.py`` for the ``-va`` models).
The LAT block's CBAM channel attention shares its two Dense layers between the average- and
max-pooled descriptors. Outputs: a list, ``JND{k}_output`` in level order, then the reconstruction
(E2E) or the saliency map (VA).

``keras`` is the Keras module to build with: Keras 3 (``import keras``, the default) or the Keras 2
API (``import tf_keras``). The self-check of a weights-only import builds the network here and
loads the file into it (:mod:`laserjnd.interop.keras_check`). TensorFlow is optional
(``pip install 'laserjnd[keras]'``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from ..errors import JNDError
from ..models import model_entry
from ..utils.quiet import quiet_import

LEAKY = 0.05
BN_MOMENTUM = 0.99
BN_EPS = 1e-3
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
ORIGINALS = ("lat", "rec", "e2e-lat", "e2e-rec", "mj-lat", "mj-rec", "mt-3ljnd", "mt-1ljnd-va", "mt-3ljnd-va", "direct")


def default_keras():
    try:
        keras = quiet_import("keras")
    except ImportError:
        raise JNDError("building the original Keras networks needs TensorFlow: pip install 'laserjnd[keras]'") from None
    return keras


@contextmanager
def keras_float(keras, dtype: str):
    """Layers built inside compute in ``dtype``. Keras 3 caches its global dtype policy at the first
    layer built, after which ``set_floatx`` alone no longer changes new layers: set both, restore both."""
    old_floatx = keras.backend.floatx()
    config = getattr(keras, "config", None)
    old_policy = config.dtype_policy() if hasattr(config, "set_dtype_policy") else None
    keras.backend.set_floatx(dtype)
    if old_policy is not None:
        config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.backend.set_floatx(old_floatx)
        if old_policy is not None:
            config.set_dtype_policy(old_policy)


def build_keras_model(name: str, input_size: tuple[int, int] | None = None, keras=None, **cfg: Any):
    """The original Keras network of registry model ``name`` (Keras-default random init)."""
    if name not in _BUILDERS:
        raise JNDError(f"no original Keras network for model {name!r}; built here: {', '.join(ORIGINALS)}")
    keras = keras or default_keras()
    h, w = (int(v) for v in (input_size or cfg.pop("input_size", None) or model_entry(name).convention.input_size))
    cfg.pop("input_size", None)
    return _BUILDERS[name](KerasLayers(keras), keras, (h, w), cfg)


class KerasLayers:
    """The few layer constructors whose arguments differ between Keras 2 and Keras 3."""

    def __init__(self, keras):
        self.L = keras.layers
        self.keras3 = int(keras.__version__.split(".")[0]) >= 3

    def __getattr__(self, name):
        return getattr(self.L, name)

    def leaky(self):
        return self.L.LeakyReLU(negative_slope=LEAKY) if self.keras3 else self.L.LeakyReLU(alpha=LEAKY)

    def bn(self):
        return self.L.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPS)


def _encoder_decoder(L, x):
    """Create the AE's eight layers in order on ``x``; returns (latent, reconstruction)."""
    for c in (128, 128, 128):
        x = L.leaky()(L.Conv2D(c, 5, strides=2, padding="same")(x))
    z = L.Conv2D(192, 5, strides=2, padding="same")(x)
    y = z
    for c in (128, 128, 128):
        y = L.leaky()(L.Conv2DTranspose(c, 5, strides=2, padding="same")(y))
    return z, L.Conv2DTranspose(3, 5, strides=2, padding="same")(y)


def lat_block(L, x, c: int):
    x = L.Activation("relu")(L.bn()(L.Conv2D(c, 3, padding="same")(x)))
    fc1 = L.Dense(c // 8, activation="relu", kernel_initializer="he_normal")
    fc2 = L.Dense(c, kernel_initializer="he_normal")
    a = fc2(fc1(L.GlobalAveragePooling2D()(x)))
    m = fc2(fc1(L.GlobalMaxPooling2D()(x)))
    att = L.Reshape((1, 1, c))(L.Activation("sigmoid")(L.Add()([a, m])))
    return L.Multiply()([x, att])


def rec_block(L, x, c: int):
    return L.MaxPooling2D(2)(L.Activation("relu")(L.bn()(L.Conv2D(c, 3, padding="same")(x))))


def _lat_trunk(L, x):
    x = L.MaxPooling2D(2)(lat_block(L, x, 128))
    return L.MaxPooling2D(2)(lat_block(L, lat_block(L, x, 256), 512))


def _head(L, x, widths, name: str):
    for wd in widths:
        x = L.Dense(wd, activation="relu")(x)
    return L.Dense(1, activation="relu", name=name)(x)


def _level(cfg) -> int:
    return int(cfg.get("level") or (cfg.get("jnd_column", 0) + 1))


def _lat(L, keras, size, cfg, e2e: bool = False):
    inp = keras.Input((*size, 3))
    z, recon = _encoder_decoder(L, inp)
    x = _lat_trunk(L, lat_block(L, L.bn()(z), 64))
    out = [_head(L, L.Flatten()(x), (256, 128), f"JND{_level(cfg)}_output")]
    return keras.Model(inp, out + ([recon] if e2e else []), name="e2e_lat" if e2e else "lat")


def _rec(L, keras, size, cfg, e2e: bool = False):
    inp = keras.Input((*size, 3))
    _, frame = _encoder_decoder(L, inp)
    x = L.bn()(frame)
    for c in (512, 256, 128, 64, 32):
        x = rec_block(L, x, c)
    out = [_head(L, L.Flatten()(x), (512,), f"JND{_level(cfg)}_output")]
    return keras.Model(inp, out + ([frame] if e2e else []), name="e2e_rec" if e2e else "rec")


def _mj_lat(L, keras, size, cfg):
    inp = keras.Input((*size, 3))
    latents = [_encoder_decoder(L, inp)[0] for _ in range(3)]
    normed = [L.bn()(z) for z in latents]
    x = _lat_trunk(L, L.Multiply()([lat_block(L, z, 64) for z in normed]))
    flat = L.Flatten()(x)
    return keras.Model(inp, [_head(L, flat, (256, 128), f"JND{k}_output") for k in (1, 2, 3)], name="mj_lat")


def _mj_rec(L, keras, size, cfg):
    inp = keras.Input((*size, 3))
    frames = [_encoder_decoder(L, inp)[1] for _ in range(3)]
    normed = [L.bn()(f) for f in frames]
    x = L.Multiply()([rec_block(L, f, 512) for f in normed])
    for c in (256, 128, 64, 32):
        x = rec_block(L, x, c)
    shared = L.Dense(512, activation="relu")(L.Flatten()(x))
    return keras.Model(inp, [L.Dense(1, activation="relu", name=f"JND{k}_output")(shared) for k in (1, 2, 3)],
                       name="mj_rec")


def vgg16_features(L, x):
    """keras.applications.VGG16's conv part with its layer names; returns (pool5, block4_conv3)."""
    block4 = None
    for b, n, c in VGG16_BLOCKS:
        for i in range(1, n + 1):
            x = L.Conv2D(c, 3, padding="same", activation="relu", name=f"block{b}_conv{i}")(x)
        if b == 4:
            block4 = x
        x = L.MaxPooling2D(2, strides=2, name=f"block{b}_pool")(x)
    return x, block4


def va_tail(L, feats):
    x = L.Conv2D(64, 1, activation="relu")(feats)
    x = L.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu")(x)
    return L.Conv2D(1, 3, padding="same", activation="sigmoid", name="VA_output")(x)


def _mtjnd(n_levels: int, va: bool, model_name: str):
    def build(L, keras, size, cfg):
        inp = keras.Input((*size, 3))
        pool5, block4 = vgg16_features(L, inp)
        flat = L.Flatten()(pool5)
        levels = (1, 2, 3) if n_levels == 3 else (_level(cfg),)
        outs = [_head(L, flat, (256, 128), f"JND{k}_output") for k in levels]
        return keras.Model(inp, outs + ([va_tail(L, block4)] if va else []), name=model_name)

    return build


_BUILDERS = {
    "lat": _lat,
    "rec": _rec,
    "e2e-lat": lambda L, k, s, c: _lat(L, k, s, c, e2e=True),
    "e2e-rec": lambda L, k, s, c: _rec(L, k, s, c, e2e=True),
    "mj-lat": _mj_lat,
    "mj-rec": _mj_rec,
    "mt-3ljnd": _mtjnd(3, False, "mt_3ljnd"),
    "mt-1ljnd-va": _mtjnd(1, True, "mt_1ljnd_va"),
    "mt-3ljnd-va": _mtjnd(3, True, "mt_3ljnd_va"),
    "direct": _mtjnd(1, False, "direct"),
}
