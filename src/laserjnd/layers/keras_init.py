"""Keras defaults, so a user reproducing the papers gets the originals' behaviour.

Keras Conv/Dense: Glorot-uniform weights, zero bias. Keras BatchNorm: momentum 0.99
(PyTorch momentum 0.01), eps 1e-3.
"""

from __future__ import annotations

from torch import nn

KERAS_BN_MOMENTUM = 0.01  # PyTorch convention: 1 - Keras momentum 0.99
KERAS_BN_EPS = 1e-3


def keras_batchnorm2d(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=KERAS_BN_EPS, momentum=KERAS_BN_MOMENTUM)


def glorot_init_(module: nn.Module) -> nn.Module:
    """Glorot-uniform weights and zero bias on every Conv/ConvTranspose/Linear inside ``module``."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def he_normal_init_(module: nn.Module) -> nn.Module:
    """Keras 'he_normal' (truncated normal, fan_in) with zero bias; used by the channel-attention MLP."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            std = (2.0 / fan_in) ** 0.5 / 0.87962566103423978  # Keras truncated-normal correction
            nn.init.trunc_normal_(m.weight, std=std, a=-2 * std, b=2 * std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
