"""Benchmark every registered model: parameters, FLOPs per frame and CPU time per frame.

    python benchmarks/models.py                       # all models at their published size
    python benchmarks/models.py --quick               # 64x128, few repeats: a smoke run
    python benchmarks/models.py --models mt-3ljnd --batch-sizes 1 8 --repeats 5
    python benchmarks/models.py --keras               # + the Keras twin, side by side (same thread count)
    python benchmarks/models.py --onnx                # + onnxruntime on the exported model
    python benchmarks/models.py --floor               # + engine alone, time inside convs, heaviest conv
    python benchmarks/models.py --json out.json

The PyTorch columns time the path users run: ``Predictor.predict_rgb`` on decoded uint8 frames
(``--frame-size``, default 720x1280: resize to the model input included) through the inference
engine (``inference/engine.py``: inference mode, Conv+BatchNorm folding, channels_last), per
``--precisions`` (column ``auto =``: what a user gets by default, ``auto/keras`` its ratio); the Keras column times the original
network (``interop/keras_originals.py``) through ``predict_on_batch`` (Keras' compiled call) on
ready input tensors, so the ratio ``{precision}/keras`` is conservative for PyTorch.
Time per frame = median over ``--repeats`` timed runs (after ``--warmup`` runs) of the batch
time divided by the batch size.

Columns are "measures": functions ``(ctx) -> {column: value}`` registered with ``@measure``.
Adding a column is one decorated function.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # before TensorFlow loads: no start-up chatter in the table
import torch  # noqa: E402

from laserjnd.inference.engine import REDUCED
from laserjnd.layers.fuse import fuse_conv_bn_
from laserjnd.models import count_params, create_model, list_models
from laserjnd.models.info import count_flops, example_cfg
from laserjnd.utils.size import parse_size

QUICK_SIZE = (64, 128)


@dataclass
class Ctx:
    """What a measure gets: the prepared model, its input size and the run settings."""

    name: str
    model: torch.nn.Module  # eval mode, BN folded, channels_last (as requested)
    params: int  # counted before folding (folding drops BN statistics)
    input_size: tuple[int, int]
    cfg: dict[str, Any]  # the cfg the model was built with
    args: argparse.Namespace
    cache: dict[str, Any] = field(default_factory=dict)  # results earlier measures share (e.g. torch ms)


Measure = Callable[[Ctx], dict[str, Any]]
MEASURES: list[tuple[str, Callable[[argparse.Namespace], bool], Measure]] = []


def measure(name: str, enabled: Callable[[argparse.Namespace], bool] = lambda a: True):
    """Register a column group; ``enabled(args)`` decides whether it runs."""

    def deco(fn: Measure) -> Measure:
        MEASURES.append((name, enabled, fn))
        return fn

    return deco


def time_per_frame_ms(run: Callable[[], Any], batch: int, repeats: int, warmup: int) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0 / batch


def _input(ctx: Ctx, batch: int) -> torch.Tensor:
    h, w = ctx.input_size
    x = torch.rand(batch, 3, h, w, generator=torch.Generator().manual_seed(0))
    return x.contiguous(memory_format=torch.channels_last) if ctx.args.channels_last else x


# ---------------------------------------------------------------------------------------------
# Measures (columns)
# ---------------------------------------------------------------------------------------------

@measure("params")
def m_params(ctx: Ctx) -> dict[str, Any]:
    pub = getattr(ctx.model, "spec", None) and ctx.model.spec.published_params
    return {"params": ctx.params, "published": pub}


@measure("flops")
def m_flops(ctx: Ctx) -> dict[str, Any]:
    return {"GFLOPs": count_flops(ctx.model, ctx.input_size) / 1e9}


@measure("torch")
def m_torch(ctx: Ctx) -> dict[str, Any]:
    """The path users run: ``Predictor.predict_rgb`` on decoded uint8 frames (resize + engine), per precision."""
    import numpy as np

    from laserjnd.inference.predictor import Predictor

    out = {}
    h, w = ctx.args.frame_size
    for b in ctx.args.batch_sizes:
        frames = list(np.random.default_rng(0).integers(0, 256, (b, h, w, 3), dtype=np.uint8))
        for precision in ctx.args.precisions:
            pred = Predictor(ctx.model, device="cpu", batch_size=b, precision=precision)
            ms = time_per_frame_ms(lambda: pred.predict_rgb(frames), b, ctx.args.repeats, ctx.args.warmup)
            ctx.cache[f"torch_{precision}_b{b}"] = ms
            out[f"{precision} ms/f b{b}"] = ms
    auto = Predictor(ctx.model, device="cpu", precision="auto").engine.precision
    ctx.cache["auto"] = out["auto ="] = auto  # what a user gets by default (its time is that column's)
    return out


def _conv_timer(model: torch.nn.Module) -> dict[str, float]:
    """Hooks that add each conv layer's wall time (ms) to the returned dict, by layer name."""
    from laserjnd.layers.fuse import ConvActivation2d
    from laserjnd.layers.int8 import Int8Conv2d

    spent: dict[str, float] = {}
    wrappers = (ConvActivation2d, Int8Conv2d)  # each times its own conv: the inner module is not timed twice
    inner = {id(m.conv) for m in model.modules() if isinstance(m, wrappers)}
    for name, mod in model.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d, *wrappers)) and id(mod) not in inner:
            def pre(m, _inp):
                m._t0 = time.perf_counter()

            def post(m, _inp, _out, name=name):
                spent[name] = spent.get(name, 0.0) + (time.perf_counter() - m._t0) * 1000.0
            mod.register_forward_pre_hook(pre)
            mod.register_forward_hook(post)
    return spent


@measure("floor", enabled=lambda a: a.floor)
def m_floor(ctx: Ctx) -> dict[str, Any]:
    """Where the engine's time goes: the engine alone on a ready batch, the part of it spent inside
    convolutions (what both frameworks run through oneDNN: a floor that no rewrite around the convs
    lowers), and the heaviest conv at the largest batch timed per precision."""
    from laserjnd.inference.engine import InferenceEngine

    out: dict[str, Any] = {}
    big = max(ctx.args.batch_sizes)
    runs = ctx.args.repeats
    for b in ctx.args.batch_sizes:
        x = torch.rand(b, 3, *ctx.input_size, generator=torch.Generator().manual_seed(0))
        for precision in ctx.args.precisions:
            engine = InferenceEngine(ctx.model, precision, "cpu", outputs=("jnd",))
            spent = _conv_timer(engine.model)
            for _ in range(ctx.args.warmup):
                engine(x)
            spent.clear()  # the convs' time over the timed runs only (a first call also sets up kernels)
            out[f"{precision} engine ms/f b{b}"] = time_per_frame_ms(lambda: engine(x), b, runs, 0)
            out[f"{precision} conv ms/f b{b}"] = sum(spent.values()) / runs / b
            if b == big:
                layer = out.setdefault("heaviest conv", max(spent, key=spent.get))
                out[f"heaviest {precision} ms/f"] = spent[layer] / runs / b if layer in spent else None
    return out


@measure("keras", enabled=lambda a: a.keras and not isinstance(_keras_builder(), str))
def m_keras(ctx: Ctx) -> dict[str, Any]:
    twin = _keras_builder()
    import numpy as np

    kmodel = twin(ctx.name, ctx.input_size, ctx.cfg)
    out = {}
    for b in ctx.args.batch_sizes:
        x = np.random.default_rng(0).random((b, *ctx.input_size, 3), dtype=np.float32)  # Keras is NHWC
        # predict_on_batch: Keras' compiled inference call (faster than eager __call__, e.g. lat 83 vs 97 ms)
        ms = time_per_frame_ms(lambda: kmodel.predict_on_batch(x), b, ctx.args.repeats, ctx.args.warmup)
        out[f"keras ms/f b{b}"] = ms
        for precision in ctx.args.precisions:
            if f"torch_{precision}_b{b}" in ctx.cache:
                out[f"{precision}/keras b{b}"] = ctx.cache[f"torch_{precision}_b{b}"] / ms
        if f"torch_{ctx.cache.get('auto')}_b{b}" in ctx.cache:
            out[f"auto/keras b{b}"] = ctx.cache[f"torch_{ctx.cache['auto']}_b{b}"] / ms
    return out


@measure("onnx", enabled=lambda a: a.onnx)
def m_onnx(ctx: Ctx) -> dict[str, Any]:
    """onnxruntime on CPU (exported once per model, dynamic batch), threads as torch's."""
    import tempfile

    import onnxruntime as ort

    from laserjnd.interop.export import export_onnx, onnx_session_predict

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(ctx.model, Path(tmp) / f"{ctx.name}.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        out = {}
        for b in ctx.args.batch_sizes:
            x = _input(ctx, b).contiguous()
            ms = time_per_frame_ms(lambda: onnx_session_predict(sess, x), b, ctx.args.repeats, ctx.args.warmup)
            out[f"onnx ms/f b{b}"] = ms
            if f"torch_fp32_b{b}" in ctx.cache:
                out[f"onnx/fp32 b{b}"] = ms / ctx.cache[f"torch_fp32_b{b}"]
    return out


@functools.lru_cache(maxsize=1)
def _keras_builder():
    """The Keras twin builder, or a string saying why the Keras column is unavailable."""
    try:
        from laserjnd.utils.quiet import quiet_import

        tf = quiet_import("tensorflow")
        n = torch.get_num_threads()  # same thread budget on both sides, for a fair ratio
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except Exception as e:
        return f"unavailable (tensorflow: {type(e).__name__})"
    from laserjnd.interop.keras_originals import ORIGINALS, build_keras_model

    def build(name, input_size, cfg):
        if name not in ORIGINALS:
            raise KeyError(f"{name} has no original Keras network")
        return build_keras_model(name, input_size, **{k: v for k, v in cfg.items() if k != "input_size"})

    return build


# ---------------------------------------------------------------------------------------------

def build(name: str, input_size: tuple[int, int] | None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build with the table's example cfg (single-level models: level 1)."""
    cfg = example_cfg(name, input_size)
    return create_model(name, **cfg), cfg


def prepare(model: torch.nn.Module, args: argparse.Namespace) -> int:
    """Apply the speed measures in place; returns the number of folded BatchNorms."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    folded = fuse_conv_bn_(model) if args.fuse else 0
    if args.channels_last:
        model.to(memory_format=torch.channels_last)
    return folded


def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    model, cfg = build(name, args.input_size)
    size = tuple(model.spec.input_size)
    params = count_params(model)
    folded = prepare(model, args)
    ctx = Ctx(name=name, model=model, params=params, input_size=size, cfg=cfg, args=args)
    row: dict[str, Any] = {"model": name, "input": f"{size[0]}x{size[1]}", "BN folded": folded}
    for mname, enabled, fn in MEASURES:
        if not enabled(args):
            continue
        try:
            row.update(fn(ctx))
        except Exception as e:
            # Short cell; the full message goes to stderr.
            row[mname] = f"failed ({type(e).__name__})"
            print(f"{ctx.name}: {mname} failed: {type(e).__name__}: {e}", file=sys.stderr)
    return row


def cpu_summary() -> dict[str, Any]:
    """The CPU model and the reduced-precision units it reports (/proc/cpuinfo): what bounds the speed-ups."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    names = [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")]
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    units = ("avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8")
    return {"model": names[0] if names else None, "cores": len(names), **{u: u in flags for u in units}}


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:.2f}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def print_table(rows: list[dict[str, Any]]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    cells = [[_fmt(r.get(c)) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))
    print(line)
    print("-" * len(line))
    for row in cells:
        print("  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths))))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=None, help="registry names (default: all)")
    p.add_argument("--input-size", type=parse_size, default=None, help="HxW for every model (default: published)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 4, 8])
    p.add_argument("--precisions", nargs="+", default=["fp32", *REDUCED], choices=["fp32", *REDUCED])
    p.add_argument("--frame-size", type=parse_size, default=(720, 1280), help="decoded frame HxW fed to the Predictor")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE[0]}x{QUICK_SIZE[1]}, 3 repeats: a smoke run")
    p.add_argument("--keras", action="store_true", help="also time the Keras twin (needs tensorflow)")
    p.add_argument("--onnx", action="store_true", help="also time onnxruntime (CPU) on the exported model")
    p.add_argument("--floor", action="store_true",
                   help="also time the engine alone, its conv layers, and its heaviest conv in fp32/bf16/int8")
    p.add_argument("--no-fuse", dest="fuse", action="store_false", help="skip Conv+BN folding")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--json", default=None, metavar="OUT", help="also write the results as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.input_size = args.input_size or QUICK_SIZE
        args.repeats = min(args.repeats, 3)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    names = args.models or list_models()
    unknown = [n for n in names if n not in list_models()]
    if unknown:
        print(f"unknown model(s): {', '.join(unknown)}; choose from {', '.join(list_models())}", file=sys.stderr)
        return 2
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, repeats {args.repeats} (+{args.warmup} warm-up), "
          f"batch sizes {args.batch_sizes}, fuse={args.fuse}, channels_last={args.channels_last}, inference_mode")
    if args.keras and isinstance(_keras_builder(), str):
        print(f"Keras column {_keras_builder()}")
    rows, skipped = [], {}
    for name in names:
        try:
            row = run_one(name, args)
        except Exception as e:
            skipped[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            print(f"skipping {name}: failed to build ({skipped[name]})", file=sys.stderr)
            continue
        rows.append(row)
        print(f"  {name}: done", file=sys.stderr, flush=True)
    print_table(rows)
    if args.json:
        from pathlib import Path

        from laserjnd.utils.atomic import atomic_write_json

        atomic_write_json(Path(args.json), {
            "command": " ".join(["python benchmarks/models.py", *(argv if argv is not None else sys.argv[1:])]),
            "torch": torch.__version__, "threads": torch.get_num_threads(), "load_average_after": os.getloadavg(),
            "cpu": cpu_summary(),
            "settings": {k: v for k, v in vars(args).items() if k != "json"},
            "rows": rows, "skipped": skipped})
    return 0


if __name__ == "__main__":
    sys.exit(main())
