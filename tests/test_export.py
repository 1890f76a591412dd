"""ONNX / TorchScript export of every registered model: dynamic batch, outputs, metadata."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from laserjnd.checkpoint import save_checkpoint  # noqa: E402
from laserjnd.interop.export import (  # noqa: E402
    export_onnx,
    export_torchscript,
    onnx_metadata,
    onnx_session_predict,
    read_torchscript,
    time_onnxruntime,
)
from laserjnd.models import create_model, list_models, model_entry  # noqa: E402

SIZE = (64, 128)


@torch.no_grad()
def live_model(name: str) -> nn.Module:
    """Small model with He-scaled random weights, random BN statistics and output biases that
    keep the final ReLUs open, so the comparison exercises every layer (eval mode)."""
    torch.manual_seed(0)
    model = create_model(name, input_size=SIZE, **model_entry(name).example_cfg())
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.normal_(0, math.sqrt(2.0 / fan_in))
            if m.bias is not None:
                m.bias.normal_(0, 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5)
            m.bias.normal_(0, 0.1)
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 2.0)
    for buf_name, buf in model.named_buffers():
        if buf_name.split(".")[-1] == "median":  # constant predictor: fit-free values
            buf.copy_(torch.arange(1, buf.numel() + 1, dtype=buf.dtype) * 10)
    model.eval()
    # Shift the output layers' biases so their pre-activations are positive on typical frames
    # (random inputs of 0..255 otherwise leave the final ReLUs shut).
    outs = [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features <= 3]
    pre: dict[int, torch.Tensor] = {}
    hooks = [m.register_forward_hook(lambda m, a, o: pre.__setitem__(id(m), o)) for m in outs]
    model(torch.cat([frames(model, 1), frames(model, 2), frames(model, 3)]))  # the frames the tests use
    for h in hooks:
        h.remove()
    for m in outs:
        p = pre[id(m)]
        m.bias += -p.amin(0) + (p.amax(0) - p.amin(0)) + 1.0
    return model


def frames(model, b: int) -> torch.Tensor:
    return torch.rand(b, 3, *SIZE, generator=torch.Generator().manual_seed(b)) * model.spec.convention.scale


def close(ours: np.ndarray, ref: torch.Tensor) -> float:
    r = ref.numpy()
    return float(np.abs(ours - r).max() / (np.abs(r).max() + 1e-12))


@pytest.mark.parametrize("name", list_models())
def test_onnx_matches_pytorch(name, tmp_path):
    model = live_model(name)
    path = export_onnx(model, tmp_path / f"{name}.onnx")
    assert not model.training  # export leaves the caller's mode alone
    md = onnx_metadata(path)
    assert md["model"] == name and md["layout"] == "NCHW" and md["channel_order"] == model.spec.convention.channel_order
    assert md["scale"] == model.spec.convention.scale and md["input_size"] == list(SIZE)
    assert md["levels"] == list(model.spec.levels) and md["label_unit"] == "qp"
    for b in (1, 3):
        x = frames(model, b)
        got = onnx_session_predict(path, x)
        with torch.no_grad():
            ref = model(x)
        assert set(got) == set(ref) == set(md["outputs"])
        if "jnd" in ref:
            assert (ref["jnd"] > 0).all()  # live outputs, not closed ReLUs
        for key in got:
            assert got[key].shape == tuple(ref[key].shape)
            assert close(got[key], ref[key]) < 1e-4, f"{name} b{b} {key}"


def test_export_from_checkpoint_keeps_label_unit(tmp_path):
    model = live_model("mj-lite")
    ckpt = save_checkpoint(tmp_path / "m.pt", model, label_unit="qf", meta={"source": "keras", "sha256": "ab"})
    path = export_onnx(ckpt, tmp_path / "m.onnx", dynamic_batch=False)
    md = onnx_metadata(path)
    assert md["label_unit"] == "qf" and md["source"] == {"source": "keras", "sha256": "ab"}
    x = frames(model, 2)
    with torch.no_grad():
        ref = model(x)["jnd"]
    assert close(onnx_session_predict(path, x)["jnd"], ref) < 1e-4


@pytest.mark.parametrize("name", ["e2e-lat", "mt-1ljnd-va"])  # one LASeR (two outputs), one MTJND (saliency)
def test_torchscript_round_trip(name, tmp_path):
    model = live_model(name)
    path = export_torchscript(model, tmp_path / f"{name}.ts.pt")
    loaded, desc = read_torchscript(path)
    assert desc["model"] == name and desc["outputs"] == [k for k in ("jnd", "recon", "saliency") if k in model.spec.outputs]
    assert desc["scale"] == model.spec.convention.scale and desc["input_size"] == list(SIZE)
    for b in (1, 3):
        x = frames(model, b)
        with torch.no_grad():
            got, ref = loaded(x), model(x)
        for key in ref:
            assert close(got[key].numpy(), ref[key]) < 1e-5


def test_time_onnxruntime():
    ms = time_onnxruntime(live_model("mj-lite"), SIZE, batch_size=2, repeats=2, warmup=1)
    assert ms > 0 and math.isfinite(ms)
