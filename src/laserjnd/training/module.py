"""LightningModule wrapping any registered model.

Loss = sum over ``spec.loss_weights`` of weight x term, with terms:

- ``jnd``: one MAE per predicted level, summed 1:1:1 (Keras sums the losses of a multi-output model);
- ``recon``: MSE in model space between the produced frame and the target frame (``ae`` target 0 =
  the raw frame, target k / single-level E2E level k = the JND-k-quality frame);
- ``saliency``: the model family's VA loss (BCE against the dataset map resized to the output).

The Lightning checkpoint carries ``hyper_parameters["laserjnd-checkpoint"]`` (our payload without
``state_dict``), so ``laserjnd.checkpoint.read_checkpoint`` understands ``best.ckpt``/``last.ckpt``.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from ..checkpoint import LIGHTNING_PAYLOAD_KEY as PAYLOAD_KEY
from ..checkpoint import checkpoint_dict
from ..errors import JNDError, TrainingDiverged
from ..models import create_model


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean PSNR (dB) over a batch of canonical [0,1] frames."""
    mse = ((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return (10 * torch.log10(1.0 / mse)).mean()


class JNDLightningModule(L.LightningModule):
    def __init__(
        self,
        model_name: str,
        model_cfg: dict[str, Any],
        learning_rate: float = 1e-5,
        label_unit: str = "qp",
        meta: dict[str, Any] | None = None,
        diverge_factor: float = 1e6,
        prerequisites: dict[str, dict[str, torch.Tensor]] | None = None,
    ):
        super().__init__()
        self.model = create_model(model_name, **model_cfg)
        for slot, sd in (prerequisites or {}).items():
            self.model.load_prerequisite(slot, sd)
        self.spec = self.model.spec
        self.learning_rate = float(learning_rate)
        self.diverge_factor = float(diverge_factor)
        self.recon_target = self.spec.recon_target  # 0 = the raw frame, k = the JND-k-quality frame
        payload = checkpoint_dict(self.model, label_unit=label_unit, meta=meta)
        del payload["state_dict"]
        # Prerequisite weights live in the state_dict already; keep them out of hparams.
        self.save_hyperparameters(
            {"model_name": model_name, "model_cfg": dict(model_cfg), "learning_rate": self.learning_rate,
             "label_unit": label_unit, "diverge_factor": self.diverge_factor, PAYLOAD_KEY: payload}
        )
        self.first_loss: float | None = None  # reference for the explosion check; survives resume

    def forward(self, frame: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.model(self.spec.convention.to_model(frame))

    def _step(self, batch: dict[str, Any], stage: str) -> torch.Tensor:
        out = self(batch["frame"])
        w = self.spec.loss_weights
        total = batch["frame"].new_zeros(())
        logs: dict[str, torch.Tensor] = {}
        if w.get("jnd", 0) > 0 or "jnd" in out:
            cols = [lv - 1 for lv in self.spec.levels]
            true = batch["jnd"][:, cols].float()
            err = (out["jnd"].float() - true).abs().mean(0)  # per level
            for i, lv in enumerate(self.spec.levels):
                logs[f"{stage}_mae_jnd{lv}"] = err[i].detach()
            if w.get("jnd", 0) > 0:
                total = total + w["jnd"] * err.sum()
        if "recon" in out:
            tgt = batch["frame"] if self.recon_target == 0 else batch["jnd_frames"][:, self.recon_target - 1]
            mse = F.mse_loss(out["recon"].float(), self.spec.convention.to_model(tgt).float())
            if w.get("recon", 0) > 0:
                total = total + w["recon"] * mse
            logs[f"{stage}_mse"] = mse.detach()
            produced = self.spec.convention.from_model(out["recon"].detach().float())
            logs[f"{stage}_psnr"] = psnr(produced, tgt.float())
        if "saliency" in out and w.get("saliency", 0) > 0:
            from ..models.mtjnd import saliency_loss

            va = saliency_loss(out["saliency"], batch["saliency"])
            total = total + w["saliency"] * va
            logs[f"{stage}_va"] = va.detach()
        bs = batch["frame"].shape[0]
        sync = True  # epoch-level only (on_step=False), so syncing across DDP ranks is cheap
        self.log(f"{stage}_loss", total, prog_bar=True, on_step=False, on_epoch=True, batch_size=bs, sync_dist=sync)
        for k, v in logs.items():
            self.log(k, v, on_step=False, on_epoch=True, batch_size=bs, sync_dist=sync)
        return total

    def training_step(self, batch, batch_idx):
        loss = self._step(batch, "train")
        self._check_divergence(loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def _check_divergence(self, loss: torch.Tensor) -> None:
        value = float(loss.detach())
        if not math.isfinite(value):
            raise TrainingDiverged(
                f"training diverged: loss is {value} at epoch {self.current_epoch} step {self.global_step} "
                f"(lower --learning_rate); the last good checkpoint is kept")
        if self.first_loss is None:
            self.first_loss = max(value, 1e-12)
        elif value > self.diverge_factor * self.first_loss:
            raise TrainingDiverged(
                f"training diverged: loss {value:.3g} exceeds {self.diverge_factor:g} x the first loss "
                f"{self.first_loss:.3g} at epoch {self.current_epoch} (lower --learning_rate); the last good checkpoint is kept")

    def configure_optimizers(self):
        params = list(self.model.trainable_parameters())
        if not params:
            raise JNDError(f"model {self.spec.name!r} has no trainable parameters")
        return torch.optim.Adam(params, lr=self.learning_rate)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["laserjnd_first_loss"] = self.first_loss

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.first_loss = checkpoint.get("laserjnd_first_loss")
