"""The direct-regression baseline the papers improve on: one network per JND level.

``direct`` = VGG16 trunk + one QP head (Dense 256-128-1), i.e. MTJND's single-level model without
the visual-attention tail (its published total is MT_1LJND's). Train one per level (cfg ``level``
1..3, or ``jnd_column`` 0..2). Same input convention as MTJND (BGR, 0..1, 270x480).
"""

from __future__ import annotations

from .base import ModelSpec
from .mtjnd import MT_1LJND_PARAMS, MTJND, _entry
from .registry import register_model

DIRECT = _entry("direct", "baseline", "VGG16 + one JND head: direct regression of one level", MT_1LJND_PARAMS,
                single=True, va=False)


@register_model(DIRECT)
def direct(spec: ModelSpec) -> MTJND:
    return MTJND(spec)
