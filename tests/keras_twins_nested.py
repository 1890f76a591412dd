"""Test-only: NESTED Keras twins of the registered networks (frozen encoders as sub-models).

The originals' flat graphs are built by ``laserjnd.interop.keras_originals``; these nested twins
keep the importer honest on the other layout a user may have.

``build_keras_model(name, input_size=None, **cfg)`` returns a ``keras.Model`` (channels-last input
``(H, W, 3)``, dict outputs ``"jnd"`` (B, L) and ``"recon"`` / ``"saliency"`` where ours has them)
with the Keras defaults the originals used: Conv2D/Conv2DTranspose ``padding="same"``,
BatchNormalization (momentum 0.99, eps 1e-3), LeakyReLU 0.05, Glorot-uniform init, a CBAM
channel attention whose shared MLP is two Dense layers (He-normal).

Uses: the reference for parameter totals (``count_params()`` equals the published totals at the
published sizes), the writer of test files for :mod:`laserjnd.interop.keras_import`, and the Keras
column of ``benchmarks/models.py``.

Layout choices (the originals' scripts are not public): a *frozen* trained autoencoder or encoder
is a nested sub-model (how one reuses a loaded ``ae`` model in Keras); E2E models are flat (the raw
AE's graph with its last layer replaced). Several levels' outputs are concatenated into one
``"jnd"`` tensor (a weightless layer, so files keep the originals' weights). ``mt-*-va`` mirror our
VA tail (``models/mtjnd.py``: block-4 features -> Conv 1x1 64 -> ConvT 4x4 s2 32 -> Conv 3x3 1
sigmoid); ``mj-lite`` mirrors ``models/lite.py``. ``constant`` has no network and no twin.

TensorFlow is optional (``pip install 'laserjnd[keras]'``); it is imported on first use only.
"""

from __future__ import annotations

from typing import Any

from laserjnd.errors import JNDError
from laserjnd.interop.keras_originals import KerasLayers, lat_block, rec_block, va_tail, vgg16_features

LASER_SIZE = (352, 640)
MTJND_SIZE = (270, 480)
LEAKY = 0.05

VA_TAIL_PARAMS = 65_921


def _keras():
    try:
        import keras  # noqa: F401
    except ImportError:
        raise JNDError("Keras twins need TensorFlow: pip install 'laserjnd[keras]' (tensorflow-cpu)") from None
    return keras


def keras_twin_names() -> list[str]:
    return sorted(_BUILDERS)


def build_keras_model(name: str, input_size: tuple[int, int] | None = None, **cfg: Any):
    """The Keras twin of registry model ``name`` (random Keras-default init, inference graph)."""
    if name not in _BUILDERS:
        raise JNDError(f"no Keras twin for model {name!r}; twins exist for: {', '.join(keras_twin_names())}")
    keras = _keras()
    default = MTJND_SIZE if name in _MTJND else LASER_SIZE
    h, w = (int(v) for v in (input_size or cfg.pop("input_size", None) or default))
    cfg.pop("input_size", None)
    return _BUILDERS[name](keras, (h, w), cfg)


# ---------------------------------------------------------------------------------------------
# LASeR-JND pieces
# ---------------------------------------------------------------------------------------------


def _encoder_layers(L, x):
    for c in (128, 128, 128):
        x = L.Conv2D(c, 5, strides=2, padding="same")(x)
        x = L.LeakyReLU(negative_slope=LEAKY)(x)
    return L.Conv2D(192, 5, strides=2, padding="same")(x)  # linear latent


def _decoder_layers(L, z, last: bool = True):
    for c in (128, 128, 128):
        z = L.Conv2DTranspose(c, 5, strides=2, padding="same")(z)
        z = L.LeakyReLU(negative_slope=LEAKY)(z)
    return L.Conv2DTranspose(3, 5, strides=2, padding="same")(z) if last else z


def _frozen_submodel(keras, size, which: str, name: str):
    """A trained AE (``which="ae"``) or its encoder, reused frozen as one nested layer."""
    L = KerasLayers(keras)
    inp = keras.Input((*size, 3))
    out = _encoder_layers(L, inp)
    if which == "ae":
        out = _decoder_layers(L, out)
    m = keras.Model(inp, out, name=name)
    m.trainable = False
    return m


def _lat_trunk(L, x, first: bool = True):
    if first:
        x = lat_block(L, x, 64)
    x = lat_block(L, x, 128)
    x = L.MaxPooling2D(2)(x)
    x = lat_block(L, x, 256)
    x = lat_block(L, x, 512)
    return L.MaxPooling2D(2)(x)


def _dense_head(L, x, widths, out: bool = True):
    x = L.Flatten()(x)
    for wd in widths:
        x = L.Dense(wd, activation="relu")(x)
    return L.Dense(1, activation="relu")(x) if out else x


def _concat(L, outs):
    return outs[0] if len(outs) == 1 else L.Concatenate(axis=-1)(outs)


def _ae(keras, size, cfg):
    L = KerasLayers(keras)
    inp = keras.Input((*size, 3))
    return keras.Model(inp, {"recon": _decoder_layers(L, _encoder_layers(L, inp))}, name="ae")


def _lat(keras, size, cfg, e2e: bool = False):
    L = KerasLayers(keras)
    inp = keras.Input((*size, 3))
    outputs = {}
    if e2e:  # raw AE, trainable, its last transposed conv replaced by a new one
        z = _encoder_layers(L, inp)
        outputs["recon"] = _decoder_layers(L, z)
    else:
        z = _frozen_submodel(keras, size, "encoder", "encoder")(inp)
    x = _lat_trunk(L, L.bn()(z))
    outputs["jnd"] = _dense_head(L, x, (256, 128))
    return keras.Model(inp, outputs, name="e2e_lat" if e2e else "lat")


def _rec(keras, size, cfg, e2e: bool = False):
    L = KerasLayers(keras)
    inp = keras.Input((*size, 3))
    outputs = {}
    if e2e:
        frame = _decoder_layers(L, _encoder_layers(L, inp))
        outputs["recon"] = frame
    else:
        frame = _frozen_submodel(keras, size, "ae", "autoencoder")(inp)
    x = L.bn()(frame)
    for c in (512, 256, 128, 64, 32):
        x = rec_block(L, x, c)
    outputs["jnd"] = _dense_head(L, x, (512,))
    return keras.Model(inp, outputs, name="e2e_rec" if e2e else "rec")


def _mj_lat(keras, size, cfg):
    L = KerasLayers(keras)
    inp = keras.Input((*size, 3))
    branches = []
    for k in (1, 2, 3):
        z = _frozen_submodel(keras, size, "encoder", f"encoder_{k}")(inp)
        branches.append(lat_block(L, L.bn()(z), 64))
    x = _lat_trunk(L, L.Multiply()(branches), first=False)
    outs = [_dense_head(L, x, (256, 128)) for _ in range(3)]
    return keras.Model(inp, {"jnd": _concat(L, outs)}, name="mj_lat")


def _mj_rec(keras, size, cfg):
    L = KerasLayers(keras)
    inp = keras.Input((*size, 3))
    branches = []
    for k in (1, 2, 3):
        frame = _frozen_submodel(keras, size, "ae", f"autoencoder_{k}")(inp)
        branches.append(rec_block(L, L.bn()(frame), 512))
    x = L.Multiply()(branches)
    for c in (256, 128, 64, 32):
        x = rec_block(L, x, c)
    h = _dense_head(L, x, (512,), out=False)
    outs = [L.Dense(1, activation="relu")(h) for _ in range(3)]
    return keras.Model(inp, {"jnd": _concat(L, outs)}, name="mj_rec")


def _cumsum_layer(keras):
    """Weightless layer for mj-lite's ordered outputs (a class, so the config serialises)."""

    class OrderedLevels(keras.layers.Layer):
        def __init__(self, order: str = "increasing", **kw):
            super().__init__(**kw)
            self.order = order

        def call(self, v):
            ops = keras.ops
            if self.order == "increasing":
                return ops.cumsum(v, axis=-1)
            if self.order == "decreasing":
                return ops.flip(ops.cumsum(ops.flip(v, axis=-1), axis=-1), axis=-1)
            return v

        def get_config(self):
            return {**super().get_config(), "order": self.order}

    return OrderedLevels


def _mj_lite(keras, size, cfg):
    L = KerasLayers(keras)
    order = cfg.get("order", "increasing")
    hidden = int(cfg.get("hidden", 128))
    inp = keras.Input((*size, 3))
    z = _frozen_submodel(keras, size, "encoder", "encoder")(inp)
    x = lat_block(L, L.bn()(z), 64)
    x = lat_block(L, x, 128)
    x = L.MaxPooling2D(2)(x)
    x = lat_block(L, x, 256)
    pooled = L.Concatenate(axis=-1)([L.GlobalAveragePooling2D()(x), L.GlobalMaxPooling2D()(x)])
    v = L.Dense(hidden, activation="relu")(pooled)
    v = L.Dense(3, activation="softplus")(v)
    return keras.Model(inp, {"jnd": _cumsum_layer(keras)(order=order)(v)}, name="mj_lite")


# ---------------------------------------------------------------------------------------------
# MTJND
# ---------------------------------------------------------------------------------------------


def _mtjnd(n_levels: int, va: bool, model_name: str):
    def build(keras, size, cfg):
        L = KerasLayers(keras)
        inp = keras.Input((*size, 3))
        pool5, block4 = vgg16_features(L, inp)
        outs = [_dense_head(L, pool5, (256, 128)) for _ in range(n_levels)]
        outputs = {"jnd": _concat(L, outs)}
        if va:
            outputs["saliency"] = va_tail(L, block4)
        return keras.Model(inp, outputs, name=model_name)

    return build


_BUILDERS = {
    "ae": _ae,
    "lat": _lat,
    "rec": _rec,
    "e2e-lat": lambda k, s, c: _lat(k, s, c, e2e=True),
    "e2e-rec": lambda k, s, c: _rec(k, s, c, e2e=True),
    "mj-lat": _mj_lat,
    "mj-rec": _mj_rec,
    "mj-lite": _mj_lite,
    "mt-3ljnd": _mtjnd(3, False, "mt_3ljnd"),
    "mt-1ljnd-va": _mtjnd(1, True, "mt_1ljnd_va"),
    "mt-3ljnd-va": _mtjnd(3, True, "mt_3ljnd_va"),
    "direct": _mtjnd(1, False, "direct"),
}
_MTJND = {"mt-3ljnd", "mt-1ljnd-va", "mt-3ljnd-va", "direct"}
