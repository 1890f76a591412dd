"""What each model is, readable without building it (timm's ``default_cfgs``, pyiqa's ``DEFAULT_CONFIGS``).

Every family file registers one :class:`ModelEntry` per model beside its builder
(``@register_model(ENTRY)``). An entry holds the static facts: family, levels, input convention at
the published size, outputs, published parameter total, default epochs, accepted cfg keys.
``ModelEntry.spec(**cfg)`` (``laserjnd.models.get_model_spec``) resolves the cfg-dependent ones
(a single-level model's level, the autoencoder its prerequisite must reconstruct, the frame it
reconstructs, frozen parts, the input size) into the runtime :class:`ModelSpec`, still without
building a layer; ``create_model`` then builds the network from that spec.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping

from ..errors import JNDError
from .convention import InputConvention

LEVELS = (1, 2, 3)  # JND levels; ``jnd_column`` (the originals' name) is level - 1


def resolve_level(level: int | None = None, jnd_column: int | None = None) -> int | None:
    """The level given as ``level`` or as its alias ``jnd_column`` (= level - 1); None when neither is.

    Only the alias is resolved here; whoever uses the level checks its range (a single-level model:
    1..3, see :meth:`ModelEntry.spec`; the autoencoder's ``--level`` is its target 0..3).
    """
    if jnd_column is None:
        return None if level is None else int(level)
    if level is not None and int(level) != int(jnd_column) + 1:
        raise JNDError(f"level {level} and jnd_column {jnd_column} disagree (jnd_column = level - 1)")
    return int(jnd_column) + 1


@dataclass
class ModelSpec:
    """A model as configured: what training, prediction and checkpoints need to know about it."""

    name: str  # registry name, e.g. "mj-lat"
    family: str  # "laser", "mtjnd", "baseline", "lite", "constant"
    levels: tuple[int, ...]  # JND levels predicted, e.g. (1,) or (1, 2, 3); () for "ae"
    convention: InputConvention
    outputs: tuple[str, ...]  # subset of ("jnd", "recon", "saliency")
    loss_weights: dict[str, float]
    # Prerequisites: slot name -> (model name, cfg). E.g. {"ae1": ("ae", {"target": 1})}.
    requires: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    # Human-readable: which parts are frozen while this model trains.
    frozen: tuple[str, ...] = ()
    cfg: dict[str, Any] = field(default_factory=dict)  # full cfg (defaults filled, level resolved; size: convention)
    published_params: int | None = None  # Keras-counted total at the published input size
    recon_target: int | None = None  # frame of the "recon" output: 0 = the raw frame, k = JND-k quality
    default_epochs: int | None = None  # the papers' budget
    build_only: tuple[str, ...] = ()  # cfg keys read only while building (weight files), not saved

    @property
    def input_size(self) -> tuple[int, int]:
        return self.convention.input_size

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "family": self.family,
            "levels": list(self.levels),
            "convention": self.convention.to_dict(),
            "outputs": list(self.outputs),
            "loss_weights": dict(self.loss_weights),
            "requires": {k: [n, c] for k, (n, c) in self.requires.items()},
            "frozen": list(self.frozen),
            "cfg": {k: v for k, v in self.cfg.items() if k not in self.build_only},
        }


# A family's rule for the cfg-dependent fields: (entry, cfg with defaults filled, level or None)
# -> any of ModelSpec's fields, typically requires, frozen, loss_weights, recon_target, and cfg when
# a value is resolved (e.g. MTJND's freeze_blocks) before it is recorded.
SpecParts = Callable[["ModelEntry", dict[str, Any], "int | None"], dict[str, Any]]


def _no_parts(entry: "ModelEntry", cfg: dict[str, Any], level: int | None) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ModelEntry:
    name: str
    family: str
    description: str
    convention: InputConvention  # channel order, value scale and the published input size
    outputs: tuple[str, ...]
    levels: tuple[int, ...]  # the levels predicted; for a single-level model the ones it can be trained for
    single_level: bool = False  # predicts one of ``levels``, chosen by cfg ``level`` (or ``jnd_column``)
    loss_weights: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({"jnd": 1.0}))
    published_params: int | None = None  # Keras-counted total at the published size (our extra parts excluded)
    default_epochs: int | None = None  # the papers' budget; None: nothing to optimise
    cfg_defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))  # other accepted keys
    build_only: tuple[str, ...] = ()  # cfg keys naming files read at build time (see ModelSpec)
    min_side: int = 1  # smallest input side
    size_multiple: int = 1  # input sides must be multiples of this
    parts: SpecParts = _no_parts
    # ``--precision auto`` may run this model's *shipped* weights in bf16 on a CPU with bf16 units: set
    # only where their measured mean change in predicted QP is at most 0.05 (benchmarks/engine_accuracy.py).
    # A checkpoint written by ``train`` carries its own measurement, which decides instead.
    auto_bf16: bool = False

    @property
    def cfg_keys(self) -> tuple[str, ...]:
        """Every cfg key ``create_model`` accepts for this model."""
        level_keys = ("level", "jnd_column") if self.single_level else ()
        return ("input_size",) + level_keys + tuple(self.cfg_defaults)

    def example_cfg(self) -> dict[str, Any]:
        """The smallest cfg that builds the model (JND1 for a single-level model)."""
        return {"level": self.levels[0]} if self.single_level else {}

    def check_input_size(self, input_size) -> tuple[int, int]:
        """(H, W) as ints, checked against the architecture's minimum side and stride multiple."""
        if input_size is None:
            return self.convention.input_size
        try:
            h, w = (int(v) for v in input_size)
        except (TypeError, ValueError):
            raise JNDError(f"input_size must be (H, W), got {input_size!r}") from None
        if min(h, w) < self.min_side or h % self.size_multiple or w % self.size_multiple:
            multiple = f" that are multiples of {self.size_multiple} and" if self.size_multiple > 1 else ""
            raise JNDError(f"input_size {h}x{w}: model {self.name!r} needs sides{multiple} at least {self.min_side}")
        return h, w

    def spec(self, **cfg: Any) -> ModelSpec:
        """The runtime spec for ``cfg`` (what ``create_model(name, **cfg)`` would build), without building it."""
        size = self.check_input_size(cfg.pop("input_size", None))
        level = resolve_level(cfg.pop("level", None), cfg.pop("jnd_column", None)) if self.single_level else None
        if self.single_level and level not in self.levels:
            raise JNDError(f"model {self.name!r} predicts one level: cfg 'level' must be one of "
                           f"{', '.join(map(str, self.levels))} (or 'jnd_column' = level - 1), got {level}")
        unknown = sorted(set(cfg) - set(self.cfg_defaults))
        if unknown:  # tolerated (callers may share configs between models), but not silently
            warnings.warn(f"model {self.name!r} ignores cfg keys: {', '.join(unknown)}", stacklevel=3)
        resolved = {**self.cfg_defaults, **{k: v for k, v in cfg.items() if k in self.cfg_defaults}}
        fields: dict[str, Any] = dict(
            name=self.name, family=self.family, levels=self.levels if level is None else (level,),
            convention=replace(self.convention, input_size=size), outputs=self.outputs,
            loss_weights=dict(self.loss_weights), cfg=resolved, published_params=self.published_params,
            default_epochs=self.default_epochs, build_only=self.build_only,
        )
        fields.update(self.parts(self, resolved, level))
        if level is not None:
            fields["cfg"] = {"level": level} | fields["cfg"]
        return ModelSpec(**fields)
