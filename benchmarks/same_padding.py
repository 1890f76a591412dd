"""What the pad-free "same" convs buy: the engine with and without the rewrite, interleaved.

    python benchmarks/same_padding.py --models lat mj-lat --batch 4 --repeats 5

Per model at its published input size: ms per frame (median of interleaved repeats, 2 threads)
of ``InferenceEngine`` fp32 and bf16 with ``layers/same_padding.py`` on and off; the load average
is recorded. Raw JSON to benchmarks/results/same_padding.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", nargs="+", default=["lat", "mj-lat"])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    import laserjnd.layers.same_padding as sp
    from laserjnd.inference.engine import InferenceEngine
    from laserjnd.models import create_model, model_entry

    torch.set_num_threads(args.threads)
    rewrite = sp.static_same_padding_
    out = {"command": " ".join(["python benchmarks/same_padding.py", *(argv or sys.argv[1:])]),
           "load_before": os.getloadavg(), "threads": args.threads, "batch": args.batch, "rows": []}
    for name in args.models:
        torch.manual_seed(0)
        model = create_model(name, **model_entry(name).example_cfg()).eval()
        x = torch.rand(args.batch, 3, *model.spec.input_size)
        engines = {}
        for precision in ("fp32", "bf16"):
            for on in (True, False):
                sp.static_same_padding_ = rewrite if on else (lambda m, size: 0)
                engines[f"{precision} {'pad-free' if on else 'F.pad'}"] = InferenceEngine(model, precision, "cpu")
        sp.static_same_padding_ = rewrite
        times = {k: [] for k in engines}
        for e in engines.values():
            e(x)
        for _ in range(args.repeats):
            for k, e in engines.items():
                t0 = time.perf_counter()
                e(x)
                times[k].append(time.perf_counter() - t0)
        row = {"model": name, "input": list(model.spec.input_size), "load": os.getloadavg(),
               **{f"{k} ms/f": round(statistics.median(t) * 1000 / args.batch, 1) for k, t in times.items()}}
        print(json.dumps(row), flush=True)
        out["rows"].append(row)
    out["load_after"] = os.getloadavg()
    (Path(__file__).parent / "results" / "same_padding.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
