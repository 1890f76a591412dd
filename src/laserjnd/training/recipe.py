"""The staged training recipe, driven by ``spec.requires``.

Stage 1: each prerequisite (an ``ae`` reconstructing the raw frame or a JND-k-quality frame, MSE) is
trained once and cached under ``prereq_dir`` keyed by (prerequisite name + cfg, data manifest hash,
input size, the training settings that change its weights). A later ``train`` of another model on the
same data reuses the cached file. Stage 2/3: the requested model is built, its prerequisites are
loaded with ``load_prerequisite`` and it is trained (heads on frozen backbones, or E2E fine-tuning).
The ``constant`` model is fitted on the train labels instead.
"""

from __future__ import annotations

import json
import logging
import math
import re
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from ..errors import BadInputError, JNDError, OutputExistsError, TrainingDiverged
from ..models import ModelSpec, create_model, get_model_spec, model_entry
from ..utils.hashing import dict_hash

log = logging.getLogger("laserjnd.training")


@dataclass
class TrainConfig:
    data_dir: Path
    checkpoint_path: Path
    input_size: tuple[int, int] | None = None  # None: the model's published size
    csv_log_path: Path | None = None
    epochs: int | None = None  # None: the paper's budget for the model (spec.default_epochs)
    batch_size: int = 8
    learning_rate: float = 1e-5
    seed: int = 0
    devices: int | str = 1
    num_nodes: int = 1
    accelerator: str = "auto"
    precision: str = "32-true"
    workers: int = 0
    resume: bool = False
    patience: int | None = None
    prereq_dir: Path | None = None
    prereq_epochs: int | None = None  # None: same as ``epochs``
    run_dir: Path | None = None  # Lightning checkpoints + TensorBoard; default beside checkpoint_path
    diverge_factor: float = 1e6
    init_output_bias: bool = False  # start QP outputs at the train-label median (not in the originals)
    progress: bool = True
    tensorboard: bool | None = None  # None: on when tensorboard is installed (it pulls in TensorFlow, ~10 s)
    overwrite: bool = False  # a fresh run may replace an earlier run's model, checkpoints and log
    verbose: bool = False  # Lightning's model summary
    init_weights: str | Path | None = None  # fine-tune: start from "default" (the bundled model) or a checkpoint

    def __post_init__(self):
        self.data_dir = Path(self.data_dir)
        self.checkpoint_path = Path(self.checkpoint_path)
        for name in ("csv_log_path", "prereq_dir", "run_dir"):
            v = getattr(self, name)
            if v is not None:
                setattr(self, name, Path(v))
        if self.batch_size < 1:
            raise JNDError(f"--batch_size must be >= 1, got {self.batch_size}")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            raise JNDError(f"--learning_rate must be a finite number > 0, got {self.learning_rate}")
        if self.epochs is not None and self.epochs < 1:
            raise JNDError(f"--epochs must be >= 1, got {self.epochs}")
        if self.workers < 0:
            raise JNDError(f"--workers must be >= 0, got {self.workers}")
        if not (math.isfinite(self.diverge_factor) and self.diverge_factor > 0):
            raise JNDError(f"--diverge-factor must be a finite number > 0, got {self.diverge_factor}")
        if self.resume and self.overwrite:
            raise JNDError("--resume continues the earlier run and --overwrite replaces it: choose one")
        self.tensorboard = use_tensorboard(self.tensorboard)

    def resolved_run_dir(self) -> Path:
        return self.run_dir or self.checkpoint_path.with_name(self.checkpoint_path.stem + "_run")

    def resolved_prereq_dir(self) -> Path:
        return self.prereq_dir or self.data_dir.parent / (self.data_dir.name + "_prerequisites")

    def to_meta(self) -> dict[str, Any]:
        """The settings as recorded in the checkpoint; the input size is recorded once, in the model's convention."""
        d = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items() if k != "input_size"}


def use_tensorboard(asked: bool | None) -> bool:
    """TensorBoard is an extra: ``None`` logs to it when installed; ``True`` without it is an error."""
    import importlib.util

    installed = any(importlib.util.find_spec(m) is not None for m in ("tensorboard", "tensorboardX"))
    if asked and not installed:
        raise JNDError("TensorBoard logging was asked for but tensorboard is not installed: "
                       "pip install 'laserjnd[tensorboard]', or train with --no-tensorboard")
    return installed if asked is None else bool(asked)


@dataclass
class TrainResult:
    checkpoint_path: Path
    model_name: str
    epochs_run: int = 0
    best_val_loss: float | None = None
    best_lightning_ckpt: Path | None = None
    prerequisites: dict[str, dict[str, Any]] = field(default_factory=dict)  # slot -> {path, reused}


def build_model_cfg(model_name: str, *, level: int | None = None, input_size: tuple[int, int] | None = None,
                    extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """CLI options -> ``create_model`` kwargs; a level given to a multi-level model is an error."""
    entry = model_entry(model_name)
    cfg = dict(extra or {})
    if level is not None:
        if entry.single_level:
            cfg["level"] = int(level)
        elif "target" in entry.cfg_keys:  # the autoencoder: --level picks the frame it reconstructs
            cfg["target"] = int(level)
        else:
            raise JNDError(f"model {model_name!r} predicts all levels; --level/--jnd_column does not apply")
    elif entry.single_level:
        cfg.setdefault("level", 1)  # single-level models: JND1 unless told otherwise
    if input_size is not None:
        cfg["input_size"] = (int(input_size[0]), int(input_size[1]))
    return cfg


def prerequisite_key(name: str, cfg: dict[str, Any], manifest_hash: str, input_size: tuple[int, int],
                     tc: TrainConfig) -> str:
    relevant = {"epochs": tc.prereq_epochs or tc.epochs, "batch_size": tc.batch_size, "lr": tc.learning_rate,
                "seed": tc.seed, "precision": tc.precision}
    return dict_hash({"name": name, "cfg": cfg, "data": manifest_hash, "input_size": list(input_size), "train": relevant})


def ensure_prerequisites(model_name: str, model_cfg: dict[str, Any], tc: TrainConfig,
                         manifest_hash: str) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, dict[str, Any]]]:
    """Train (or reuse) every prerequisite of the model; return slot -> state_dict and slot -> info."""
    spec = get_model_spec(model_name, **model_cfg)
    size = tuple(spec.input_size)
    states: dict[str, dict[str, torch.Tensor]] = {}
    info: dict[str, dict[str, Any]] = {}
    for slot, (pname, pcfg) in spec.requires.items():
        pcfg = dict(pcfg) | {"input_size": size}
        key = prerequisite_key(pname, pcfg, manifest_hash, size, tc)
        tag = "-".join(f"{k}{v}" for k, v in sorted(pcfg.items()) if k != "input_size")
        path = tc.resolved_prereq_dir() / f"{pname}{('-' + tag) if tag else ''}-{size[0]}x{size[1]}-{key}.pt"
        reused = path.is_file()
        if reused:
            log.info("prerequisite %s (%s): reusing %s", slot, pname, path)
        else:
            log.info("prerequisite %s (%s): training -> %s", slot, pname, path)
            sub = replace(tc, checkpoint_path=path, csv_log_path=path.with_suffix(".csv"),
                          epochs=tc.prereq_epochs or tc.epochs, run_dir=path.with_name(path.stem + "_run"))
            try:
                train_model(pname, pcfg, sub)
            except TrainingDiverged as e:
                path.unlink(missing_ok=True)  # a half-trained prerequisite must not be reused as finished
                raise TrainingDiverged(f"prerequisite {pname} ({slot}) diverged, nothing cached: {e}") from None
        payload = read_checkpoint(path)
        if payload["model"]["name"] != pname:
            raise BadInputError(path, f"cached prerequisite holds {payload['model']['name']!r}, not {pname!r}")
        states[slot] = payload["state_dict"]
        info[slot] = {"model": pname, "cfg": {k: v for k, v in pcfg.items() if k != "input_size"}, "path": str(path),
                      "reused": reused, "key": key}
    return states, info


def init_weights_path(init_weights: str | Path) -> Path:
    from ..zoo import entry_path

    return entry_path() if str(init_weights) == "default" else Path(init_weights)


def initial_payload(tc: TrainConfig, model_name: str) -> dict[str, Any] | None:
    """``--init-weights``: the checkpoint to fine-tune from, checked to hold the model being trained."""
    if tc.init_weights is None:
        return None
    path = init_weights_path(tc.init_weights)
    if not path.is_file():
        raise BadInputError(path, "--init-weights: checkpoint not found")
    payload = read_checkpoint(path)
    held = payload["model"]["name"]
    if held != model_name:
        raise BadInputError(path, f"--init-weights holds model {held!r}; it can only start a {held!r} run, not {model_name!r}")
    return payload


def load_initial_weights(model, payload: dict[str, Any], init_weights) -> dict[str, Any]:
    path = init_weights_path(init_weights)
    try:
        model.load_state_dict(payload["state_dict"], strict=True)
    except RuntimeError as e:
        raise BadInputError(path, f"--init-weights do not fit this {model.spec.name!r} "
                                  f"({str(e).splitlines()[0][:160]}); same cfg and --input-size needed") from None
    return {"rule": "init weights", "from": str(path)}


def start_from_train_split(model, dm) -> dict[str, Any]:
    """Data-dependent start, from the train split (and the valid split for a choice), never test.

    A model with ``fit_start(train, valid)`` sets its own start (e.g. the texture model's
    standardisation and ridge read-out); the others start each level's output at the train median.
    """
    if hasattr(model, "fit_start"):
        return {"rule": "fit_start"} | model.fit_start(dm.train_ds, dm.val_ds)
    cols = [k - 1 for k in model.spec.levels]
    median = [float(v) for v in np.median(dm.train_ds.labels[:, cols], axis=0)]
    model.init_output_bias(median)
    return {"rule": "train median output bias", "values": median}


def train_model(model_name: str, model_cfg: dict[str, Any], tc: TrainConfig) -> TrainResult:
    """Train ``model_name`` (and, first, its missing prerequisites) and write ``tc.checkpoint_path``."""
    import lightning as L

    from ..data.dataset import open_split
    from ..data.layout import manifest_hash
    from .datamodule import JNDDataModule

    model_cfg = dict(model_cfg)
    init = initial_payload(tc, model_name)
    if tc.input_size is not None:
        model_cfg["input_size"] = tuple(tc.input_size)
    elif init is not None:  # fine-tuning keeps the size the weights were trained at
        model_cfg.setdefault("input_size", tuple(init["model"]["convention"]["input_size"]))
    spec = get_model_spec(model_name, **model_cfg)
    size = tuple(spec.input_size)

    if spec.family == "constant":  # nothing to optimise: the median of the train labels
        check_previous_run(tc)
        train_ds = open_split(tc.data_dir, "train", size)
        model = create_model(model_name, **model_cfg).fit(train_ds.labels)
        meta = {"data_manifest_hash": manifest_hash(train_ds.manifest), "training": tc.to_meta(), "fitted_on": len(train_ds)}
        save_checkpoint(tc.checkpoint_path, model, label_unit=train_ds.unit, meta=meta)
        return TrainResult(tc.checkpoint_path, model_name)

    from .module import JNDLightningModule

    needs_frames = bool(spec.recon_target)  # target 0 is the raw frame itself
    needs_sal = "saliency" in spec.outputs and spec.loss_weights.get("saliency", 0) > 0
    dm = JNDDataModule(tc.data_dir, spec.convention.geometry, tc.batch_size, tc.workers, jnd_frames=needs_frames, saliency=needs_sal)
    if needs_sal and "saliency" not in dm.train_ds[0]:
        raise BadInputError(tc.data_dir, f"model {model_name!r} needs saliency maps; prepare the dataset with --saliency")
    mhash = dm.manifest_hash
    ckpt_path = resume_point(tc, spec, dm.unit, mhash)
    # Fine-tuning starts from complete weights: no prerequisite to train.
    prereq_states, prereq_info = ({}, {}) if init else ensure_prerequisites(model_name, model_cfg, tc, mhash)
    # Seeded after the prerequisites: the model starts the same whether they were trained now or reused.
    L.seed_everything(tc.seed, workers=True, verbose=False)
    epochs = tc.epochs or spec.default_epochs

    meta = {"data_manifest_hash": mhash, "training": tc.to_meta() | {"epochs": epochs}, "prerequisites": prereq_info}
    module = JNDLightningModule(model_name, model_cfg, tc.learning_rate, dm.unit, meta, tc.diverge_factor,
                                prerequisites=prereq_states)
    if init is not None and not tc.resume:
        meta["start"] = load_initial_weights(module.model, init, tc.init_weights)
    elif spec.levels and not tc.resume and (tc.init_output_bias or hasattr(module.model, "fit_start")):
        meta["start"] = start_from_train_split(module.model, dm)
    trainer, ckpt_cb = _make_trainer(tc, epochs, n_batches=len(dm.train_dataloader()))
    try:
        with warnings.catch_warnings():
            # Frozen backbones are in eval mode on purpose (BatchNorm statistics stay fixed).
            warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
            trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path, weights_only=True)
    except TrainingDiverged as e:
        kept = _export_best(ckpt_cb, tc, meta)
        where = f"; best checkpoint so far exported to {tc.checkpoint_path}" if kept else "; no epoch had finished, nothing saved"
        raise TrainingDiverged(f"{e}{where}") from None

    best = _export_best(ckpt_cb, tc, meta | {"epochs_run": trainer.current_epoch}, dm)
    trainer.strategy.barrier()
    score = ckpt_cb.best_model_score
    return TrainResult(tc.checkpoint_path, model_name, epochs_run=trainer.current_epoch,
                       best_val_loss=float(score) if score is not None else None,
                       best_lightning_ckpt=best, prerequisites=prereq_info)


def precision_check(model, dm) -> dict[str, Any]:
    """What int8 and bf16 inference change on these weights, measured on the validation split (never
    test): ``auto`` picks one only when its mean change is small (``inference/engine.py``)."""
    from ..inference.engine import precision_record

    return precision_record(model, (b["frame"] for b in dm.val_dataloader()), "valid")


# ---------------------------------------------------------------- earlier runs: resume or keep

# Lightning's names for our ModelCheckpoint files (``-vN`` when a name was taken).
_RUN_CHECKPOINT = re.compile(r"(best-epoch=\d+|last)(-v\d+)?\.ckpt")


def run_checkpoints(tc: TrainConfig) -> list[Path]:
    folder = tc.resolved_run_dir() / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and _RUN_CHECKPOINT.fullmatch(p.name))


def previous_run_files(tc: TrainConfig) -> list[Path]:
    """What an earlier run left at this run's places: the model file, Lightning checkpoints, the log."""
    for path, option in ((tc.checkpoint_path, "--checkpoint_path"), (tc.csv_log_path, "--csv_log_path")):
        if path is not None and path.is_dir():
            raise BadInputError(path, f"is a folder; {option} names a file to write")
    found = [tc.checkpoint_path] if tc.checkpoint_path.is_file() else []
    found += run_checkpoints(tc)
    log_file = tc.csv_log_path
    if log_file is not None and log_file.is_file() and log_file.stat().st_size > 0:
        found.append(log_file)
    return found


def check_previous_run(tc: TrainConfig) -> None:
    """A fresh run never silently replaces an earlier run's output; with ``overwrite`` only what we wrote."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    if tc.resume or rank_zero_only.rank != 0:
        return
    found = previous_run_files(tc)
    if not found:
        return
    if not tc.overwrite:
        raise OutputExistsError(found[0], "holds an earlier run's output; pass --resume to continue that run, "
                                          "--overwrite to start afresh (replacing it), or choose another --checkpoint_path")
    for path in found:
        if not _written_by_laserjnd(path, tc):
            raise OutputExistsError(path, "was not written by laserjnd; refusing to overwrite it")
    for path in run_checkpoints(tc):
        path.unlink()
    log.info("replacing the earlier run's output: %s", ", ".join(str(p) for p in found))


def _written_by_laserjnd(path: Path, tc: TrainConfig) -> bool:
    if path == tc.csv_log_path:
        with open(path, "rb") as f:
            return f.readline().startswith(b"epoch")
    if path == tc.checkpoint_path:
        try:
            read_checkpoint(path)
        except BadInputError:
            return False
    return True  # Lightning checkpoints are recognised by our naming in our run folder


def resume_point(tc: TrainConfig, spec: ModelSpec, unit: str, manifest_hash: str) -> str | None:
    """``--resume``: the run's ``last.ckpt`` once it is known to hold this very run; else check earlier output."""
    if not tc.resume:
        check_previous_run(tc)
        return None
    last = tc.resolved_run_dir() / "checkpoints" / "last.ckpt"
    if not last.is_file():
        log.warning("--resume: no %s yet, starting from scratch", last)
        return None
    payload = read_checkpoint(last)  # a clear error if it is not ours or not safe
    started = {"model": payload["model"]["name"], "input size": "x".join(map(str, payload["model"]["convention"]["input_size"])),
               "model config": _plain({k: v for k, v in payload["model"].get("cfg", {}).items() if k != "input_size"}),
               "label unit": payload["label_unit"], "dataset": payload.get("meta", {}).get("data_manifest_hash")}
    size = spec.input_size  # the resolved spec's cfg is what a checkpoint records (defaults filled)
    asked = {"model": spec.name, "input size": f"{size[0]}x{size[1]}", "model config": _plain(spec.to_dict()["cfg"]),
             "label unit": unit, "dataset": manifest_hash}
    differ = [k for k in started if started[k] != asked[k]]
    if differ:
        k = differ[0]
        raise BadInputError(last, f"--resume: the run was started with {k} {started[k]!r}, this command asks for "
                                  f"{asked[k]!r}; use the run's settings, or start a new run elsewhere")
    return str(last)


def _plain(obj: Any) -> Any:
    """Tuples -> lists, so configs compare equal however they travelled (JSON, torch.save)."""
    return json.loads(json.dumps(obj, sort_keys=True, default=str))


def _make_trainer(tc: TrainConfig, epochs: int, n_batches: int):
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
    from lightning.pytorch.utilities.exceptions import MisconfigurationException

    from .callbacks import AtomicCheckpointIO, EpochCSVLogger

    run_dir = tc.resolved_run_dir()
    ckpt_cb = ModelCheckpoint(dirpath=run_dir / "checkpoints", filename="best-{epoch:03d}", monitor="val_loss",
                              mode="min", save_top_k=1, save_last=True, save_on_train_epoch_end=True)
    callbacks: list = [ckpt_cb]
    if tc.csv_log_path is not None:
        callbacks.append(EpochCSVLogger(tc.csv_log_path))
    if tc.patience:
        callbacks.append(EarlyStopping(monitor="val_loss", mode="min", patience=int(tc.patience)))
    loggers = [CSVLogger(str(run_dir), name="csv")]
    if tc.tensorboard:
        loggers.insert(0, TensorBoardLogger(str(run_dir), name="tensorboard"))
    try:  # --devices goes to Lightning as given: its own syntax ("2", "auto", "0,1", "-1")
        trainer = L.Trainer(
            max_epochs=epochs, accelerator=tc.accelerator, devices=tc.devices, num_nodes=tc.num_nodes,
            precision=tc.precision, logger=loggers, callbacks=callbacks, plugins=[AtomicCheckpointIO()],
            default_root_dir=str(run_dir), enable_progress_bar=tc.progress, enable_model_summary=tc.verbose,
            log_every_n_steps=1 if n_batches < 100 else 50,  # metrics are epoch-level anyway
            num_sanity_val_steps=0,
        )
    except (MisconfigurationException, ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0][:200]
        raise JNDError(f"--accelerator {tc.accelerator} --devices {tc.devices} --num-nodes {tc.num_nodes} "
                       f"--precision {tc.precision}: {first}") from None
    return trainer, ckpt_cb


def _export_best(ckpt_cb, tc: TrainConfig, meta: dict[str, Any], dm=None) -> Path | None:
    """Best-validation Lightning checkpoint -> our compact file at ``checkpoint_path`` (rank 0 only)."""
    import lightning.fabric.utilities.rank_zero as rz

    best = ckpt_cb.best_model_path
    if not best or not Path(best).is_file():
        return None
    if rz.rank_zero_only.rank != 0:
        return Path(best)
    model, payload = load_checkpoint(best)
    full_meta = dict(payload.get("meta", {})) | meta
    if ckpt_cb.best_model_score is not None:
        full_meta["best_val_loss"] = float(ckpt_cb.best_model_score)
    full_meta["best_lightning_checkpoint"] = str(best)
    if dm is not None and model.spec.levels:
        full_meta["precision_check"] = precision_check(model, dm)
    save_checkpoint(tc.checkpoint_path, model, label_unit=payload["label_unit"], meta=full_meta)
    return Path(best)
