"""The direct-regression baseline the papers improve on: one network per JND level.

``direct`` = VGG16 trunk + one QP head (Dense 256-128-1), i.e. MTJND's single-level model without
the visual-attention tail. Train one per level (cfg ``level`` 1..3, or ``jnd_column`` 0..2).
30,476,609 params at 270x480. Same input convention as MTJND (BGR, 0..1, 270x480).
"""

from __future__ import annotations

from typing import Any

from .mtjnd import MTJND, _level_from, build_mtjnd
from .registry import register_model


@register_model("direct")
def direct(level: int | None = None, jnd_column: int | None = None, **cfg: Any) -> MTJND:
    if "va_weight" in cfg:
        cfg.pop("va_weight")  # no VA tail; accepted so configs can be shared with mt-*-va
    lv = _level_from(level, jnd_column)
    return build_mtjnd("direct", "baseline", (lv,), va=False, published=30_476_609, **cfg)
