"""Test helpers for Keras twins: non-trivial random weights, relative error (TensorFlow needed)."""

from __future__ import annotations

import numpy as np
import torch


def _leaf_layers(model, keras):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer, keras)
        else:
            yield layer


def randomise(km, x: np.ndarray, rng: np.random.Generator, keras=None) -> None:
    """He-scaled random weights, random biases and BN statistics, so every layer matters.

    Glorot init with zero biases lets signals die in deep ReLU stacks, and a dead final ReLU
    would make any import look right. The output layers' biases are then shifted so their
    pre-activations are positive on ``x`` (outputs depend on all weights).
    TF's LeakyReLU slope is a float32 attribute (0.05 inexact, ~1e-9 relative), hence not 1e-15.
    """
    keras = keras or __import__("keras")
    for layer in _leaf_layers(km, keras):
        ws = layer.get_weights()
        if not ws:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, m, v = (w.shape for w in ws)
            new = [rng.uniform(0.5, 1.5, g), rng.normal(0, 0.2, b), rng.normal(0, 0.2, m), rng.uniform(0.5, 2.0, v)]
        else:
            k = ws[0]
            if isinstance(layer, keras.layers.Conv2DTranspose):
                fan_in = k.shape[0] * k.shape[1] * k.shape[3] / 4  # stride 2: each output sees 1/4 of the taps
            else:
                fan_in = int(np.prod(k.shape[:-1]))
            new = [rng.normal(0, np.sqrt(2.0 / fan_in), k.shape), rng.normal(0, 0.1, ws[1].shape)]
        layer.set_weights([w.astype(np.float32) for w in new])  # exact in the float32 model
    for layer in km.layers:
        if isinstance(layer, keras.layers.Dense) and layer.units <= 3:
            feats = np.asarray(keras.Model(km.inputs, layer.input)(x, training=False))
            k, b = layer.get_weights()
            pre = feats @ k + b
            # Outputs land in [ptp, 2 ptp] of the pre-activations: positive, and on their scale, so
            # the relative error is not inflated by cancelling a large shift.
            shift = -pre.min(axis=0) + np.ptp(pre, axis=0) + 1.0
            layer.set_weights([k, (b + shift).astype(np.float32).astype(k.dtype)])


def rel_err(ours: torch.Tensor, theirs: np.ndarray) -> float:
    o = ours.detach().numpy()
    if o.ndim == 4:
        o = o.transpose(0, 2, 3, 1)
    return float(np.abs(o - theirs).max() / (np.abs(theirs).max() + 1e-12))
