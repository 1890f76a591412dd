"""The contract every registered model fulfils.

``forward(x)`` takes a batch already in the model's input convention (see ``convention.py``)
and returns a dict:

- ``"jnd"``: (B, L) predicted labels, one column per entry of ``spec.levels`` (raw label units:
  QP or quality factor, never normalised). Absent for the pure autoencoder.
- ``"recon"``: (B, 3, H, W) reconstructed / produced frame in model space (``ae``, ``e2e-*``).
- ``"saliency"``: (B, 1, h, w) visual-attention map in [0, 1] (``mt-*-va``).

``spec`` (a :class:`~laserjnd.models.spec.ModelSpec`, resolved from the model's static entry in
``spec.py`` before any layer is built): ``spec.loss_weights`` says how training combines the outputs
(keys ``jnd``, ``recon``, ``saliency``); ``spec.requires`` lists prerequisite models (name, cfg)
whose trained weights this model loads into its frozen or fine-tuned parts; ``load_prerequisite``
takes them in.
"""

from __future__ import annotations

import torch
from torch import nn

from .spec import ModelSpec

__all__ = ["JNDModel", "ModelSpec", "count_params"]


class JNDModel(nn.Module):
    """Base class: holds ``spec``; subclasses build layers and implement ``forward``."""

    spec: ModelSpec
    # Outputs the caller needs (None: all). A model may skip a branch that only feeds an output not
    # asked for: prediction needs only "jnd", so E2E-LAT need not run its decoder.
    wanted_outputs: frozenset[str] | None = None

    def wants(self, output: str) -> bool:
        return self.wanted_outputs is None or output in self.wanted_outputs

    def load_prerequisite(self, slot: str, state_dict: dict[str, torch.Tensor]) -> None:
        """Load a trained prerequisite (``spec.requires[slot]``) into this model."""
        raise NotImplementedError(f"{type(self).__name__} has no prerequisite slot {slot!r}")

    def init_output_bias(self, values) -> None:
        """Start each level's QP output at ``values`` (e.g. the training median) instead of 0.

        Raw QP labels sit near 30 while a Glorot-initialised ReLU head starts near 0; with Adam at
        1e-5 the output bias alone needs thousands of steps to get there. Default rule: the last
        ``len(levels)`` single-output Linear layers, in level order, are the QP outputs.
        """
        outs = [m for m in self.modules() if isinstance(m, nn.Linear) and m.out_features == 1][-len(self.spec.levels):]
        if len(outs) != len(self.spec.levels) or len(values) != len(self.spec.levels):
            raise ValueError(f"{self.spec.name}: need one output layer and one value per level {self.spec.levels}")
        with torch.no_grad():
            for layer, v in zip(outs, values):
                layer.bias.fill_(float(v))

    def trainable_parameters(self):
        """Parameters the optimiser updates in this model's training stage (frozen parts excluded)."""
        return [p for p in self.parameters() if p.requires_grad]


def count_params(model: nn.Module) -> int:
    """Count as Keras does: all parameters plus BatchNorm running mean and variance."""
    n = sum(p.numel() for p in model.parameters())
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
            n += m.running_mean.numel() + m.running_var.numel()
    return n
