"""The inference engine every prediction path uses: same answers as the plain model, faster form."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from laserjnd.errors import JNDError
from laserjnd.inference import engine as engine_mod
from laserjnd.inference.engine import Float32Linear, InferenceEngine, resolve_precision
import laserjnd.models as models_mod
from laserjnd.models import create_model, list_models, model_entry

SMALL = {"laser": (64, 64), "lite": (64, 64), "mtjnd": (64, 64), "baseline": (64, 64), "texture": (128, 128)}


def small_model(name: str):
    entry = model_entry(name)
    size = SMALL.get(entry.family, entry.convention.input_size)
    torch.manual_seed(0)
    model = create_model(name, input_size=size, **entry.example_cfg()).eval()
    with torch.no_grad():  # BatchNorm statistics away from 0/1, so folding them matters
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model, size


@pytest.mark.parametrize("name", [n for n in list_models() if n != "constant"])
def test_fp32_engine_matches_the_plain_model(name):
    model, size = small_model(name)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        plain = model(model.spec.convention.to_model(x))
    grads = [p.requires_grad for p in model.parameters()]
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    fast = InferenceEngine(model, "fp32", "cpu")
    out = fast(x)
    assert set(out) == set(plain)
    for k in plain:
        scale = plain[k].abs().max().clamp_min(1e-6)
        assert ((out[k] - plain[k]).abs().max() / scale) < 1e-4, k
    # the caller's model is untouched (the engine folds a copy)
    assert [p.requires_grad for p in model.parameters()] == grads
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == n_bn


def test_batchnorms_are_folded():
    model, _ = small_model("lat")
    fast = InferenceEngine(model, "fp32", "cpu")
    assert fast.folded > 0
    assert sum(isinstance(m, nn.BatchNorm2d) for m in fast.model.modules()) < sum(
        isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_bf16_keeps_dense_layers_in_float32_and_stays_close():
    model, size = small_model("mj-lite")
    x = torch.rand(2, 3, *size)
    fp32, bf16 = InferenceEngine(model, "fp32", "cpu"), InferenceEngine(model, "bf16", "cpu")
    assert any(isinstance(m, Float32Linear) for m in bf16.model.modules())
    assert not any(type(m) is nn.Linear for m in bf16.model.modules())
    convs = [m for m in bf16.model.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(m.weight.dtype == torch.bfloat16 for m in convs)  # cast once, not per call
    a, b = fp32(x)["jnd"], bf16(x)["jnd"]
    assert b.dtype == torch.float32 and torch.isfinite(b).all()
    assert ((a - b).abs().max() / a.abs().max()) < 0.05  # bf16 convolutions: close, not equal


def test_activations_after_a_fresh_output_run_in_place():
    from laserjnd.layers.fuse import inplace_activations_

    first = nn.LeakyReLU(0.05)  # its input is the caller's tensor: must stay out of place
    seq = nn.Sequential(first, nn.Conv2d(3, 4, 3), nn.LeakyReLU(0.05), nn.Identity(), nn.ReLU(),
                        nn.Conv2d(4, 4, 3), nn.ReLU())
    x = torch.randn(1, 3, 8, 8)
    with torch.no_grad():
        want = seq(x.clone())
        assert inplace_activations_(seq) == 2
        assert not first.inplace and not seq[4].inplace
        kept = x.clone()
        assert torch.equal(seq(kept), want) and torch.equal(kept, x)


def test_a_conv_and_its_activation_run_as_one_call():
    from laserjnd.layers.fuse import ConvActivation2d, fuse_conv_activation_

    torch.manual_seed(0)
    same = nn.Conv2d(4, 4, 3, padding="same")  # a string padding is left alone
    seq = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.05), nn.Conv2d(4, 4, 3, stride=2), nn.ReLU(),
                        same, nn.ReLU(), nn.MaxPool2d(2))
    x = torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        want = seq(x)
        assert fuse_conv_activation_(seq) == 2
        assert isinstance(seq[0], ConvActivation2d) and isinstance(seq[1], nn.Identity) and seq[4] is same
        got = seq(x)
        assert (seq[0](x) < 0).any()  # the LeakyReLU's slope was fused, not a ReLU
    assert torch.allclose(got, want, rtol=1e-5, atol=1e-6)
    with torch.enable_grad():  # outside inference the two modules run as written
        assert torch.allclose(seq(x), want, rtol=1e-5, atol=1e-6)


def test_engine_fuses_conv_activations_on_the_cpu_only_in_its_copy():
    model, _ = small_model("mt-3ljnd")
    fast = InferenceEngine(model, "fp32", "cpu")
    assert fast.fused == 13  # every VGG16 conv and its ReLU
    assert sum(type(m) is nn.ReLU for m in model.modules()) >= 13


def test_auto_follows_the_changes_recorded_for_these_weights(monkeypatch):
    from laserjnd.inference.engine import make_engine

    monkeypatch.setattr(engine_mod, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(engine_mod, "cpu_has_int8", lambda: True)
    model, _ = small_model("mj-lite")
    allows = replace(model_entry("mj-lite"), auto_bf16=True)  # an entry whose shipped weights allow bf16 ...
    monkeypatch.setattr(models_mod, "model_entry", lambda name: allows)
    assert make_engine(model, "torch", "auto", "cpu").precision == "bf16"

    def payload(bf16, int8=None):
        check = {"bf16": {"mean_abs_change": bf16, "frames": 4}}
        if int8 is not None:
            check["int8"] = {"mean_abs_change": int8, "frames": 4}
        return {"meta": {"precision_check": check}}

    assert make_engine(model, "torch", "auto", "cpu", payload(0.01)).precision == "bf16"
    assert make_engine(model, "torch", "auto", "cpu", payload(0.2)).precision == "fp32"  # ... but a measurement decides
    assert make_engine(model, "torch", "auto", "cpu", payload(0.01, 0.03)).precision == "int8"  # the faster one
    assert make_engine(model, "torch", "auto", "cpu", payload(0.01, 0.08)).precision == "bf16"  # int8 costs too much
    assert make_engine(model, "torch", "fp32", "cpu", payload(0.01)).precision == "fp32"  # explicit wins
    x = torch.rand(3, 3, 64, 64)
    record = engine_mod.precision_record(model, iter([x[:2], x[2:]]), "test frames")
    assert set(record) == {"int8", "bf16"}  # both measured on one pass over the frames
    for check in record.values():
        assert check["frames"] == 3 and check["split"] == "test frames"
        assert 0 < check["mean_abs_change"] <= check["max_abs_change"]


def test_frames_run_in_chunks_when_activations_are_huge(monkeypatch):
    model, size = small_model("rec")
    x = torch.rand(5, 3, *size)
    whole = InferenceEngine(model, "fp32", "cpu")
    assert whole.chunk >= 5  # 64x64: small activations, one call
    monkeypatch.setattr(engine_mod, "ACTIVATION_BUDGET", 1)
    chunked = InferenceEngine(model, "fp32", "cpu")
    assert chunked.chunk == 1
    a, b = whole(x), chunked(x)
    assert set(a) == set(b) and all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_branches_feeding_only_unwanted_outputs_are_skipped():
    model, size = small_model("e2e-lat")
    x = torch.rand(2, 3, *size)
    full = InferenceEngine(model, "fp32", "cpu")(x)
    calls = []
    jnd_only = InferenceEngine(model, "fp32", "cpu", outputs=("jnd",))
    jnd_only.model.decoder.register_forward_hook(lambda *a: calls.append(1))
    out = jnd_only(x)
    assert set(full) == {"jnd", "recon"} and set(out) == {"jnd"} and not calls
    assert torch.allclose(out["jnd"], full["jnd"], atol=1e-5)
    assert model.wanted_outputs is None  # the caller's model still computes everything


def test_a_model_without_parameters_gets_an_engine():
    model = create_model("constant", **model_entry("constant").example_cfg()).eval()
    out = InferenceEngine(model, "fp32", "cpu")(torch.rand(2, 3, *model.spec.input_size))
    assert out["jnd"].shape == (2, len(model.spec.levels))


def test_keeping_freed_memory_can_be_switched_off(monkeypatch):
    from laserjnd.utils import memory

    memory.keep_freed_memory.cache_clear()
    monkeypatch.setenv("LASERJND_KEEP_MEMORY", "0")
    try:
        assert memory.keep_freed_memory() is False
    finally:
        memory.keep_freed_memory.cache_clear()


def test_auto_picks_a_reduced_precision_only_with_native_units_and_weights_that_allow_it(monkeypatch):
    cpu = torch.device("cpu")
    both = frozenset({"int8", "bf16"})
    monkeypatch.setattr(engine_mod, "cpu_has_bf16", lambda: True)
    monkeypatch.setattr(engine_mod, "cpu_has_int8", lambda: False)
    assert resolve_precision("auto", cpu, frozenset({"bf16"})) == "bf16"
    assert resolve_precision("auto", cpu, both) == "bf16"  # no int8 units
    assert resolve_precision("auto", cpu, frozenset()) == "fp32"
    monkeypatch.setattr(engine_mod, "cpu_has_int8", lambda: True)
    assert resolve_precision("auto", cpu, both) == "int8"
    monkeypatch.setattr(engine_mod, "cpu_has_bf16", lambda: False)
    assert resolve_precision("auto", cpu, frozenset({"bf16"})) == "fp32"
    assert resolve_precision("bf16", cpu) == "bf16"  # asked for explicitly
    assert resolve_precision("int8", cpu) == "int8"
    with pytest.raises(JNDError, match="CUDA"):
        resolve_precision("fp16", cpu)
    with pytest.raises(JNDError, match="on the CPU"):
        resolve_precision("int8", torch.device("cuda"))
    with pytest.raises(JNDError, match="--precision"):
        resolve_precision("int4", cpu)


def test_an_int8_conv_stays_close_to_the_float_conv():
    from laserjnd.layers.int8 import Int8Conv2d

    torch.manual_seed(0)
    x = torch.randn(2, 16, 20, 24).contiguous(memory_format=torch.channels_last)  # negatives: asymmetric range
    for act, stride in [(None, 1), (nn.ReLU(), 1), (nn.LeakyReLU(0.2), 2)]:
        conv = nn.Conv2d(16, 32, 3, stride=stride, padding=1)
        q = Int8Conv2d(conv, act)
        with torch.inference_mode():
            want = conv(x) if act is None else act(conv(x))
            got = q(x)
        assert got.dtype == torch.float32 and got.shape == want.shape
        rel = float((got - want).abs().mean() / want.abs().mean())
        assert 0 < rel < 0.02, (act, rel)  # quantised: close, not equal
        if isinstance(act, nn.LeakyReLU):
            assert (got < 0).any()  # the slope was applied, not a ReLU
        with torch.enable_grad():  # with gradients (training) the float module runs
            assert torch.equal(q(x), want)
        with torch.inference_mode():  # a non-finite input takes the float path, as fp32 would
            assert torch.isnan(q(torch.full_like(x, float("nan")))).all()


@pytest.mark.parametrize("name", [n for n in list_models() if n != "constant"])
def test_int8_engine_quantises_every_conv_and_stays_close(name):
    model, size = small_model(name)
    x = torch.rand(2, 3, *size)
    fp32 = InferenceEngine(model, "fp32", "cpu")
    ref = fp32(x)
    int8 = InferenceEngine(model, "int8", "cpu")
    assert int8.quantized == sum(type(m) is nn.Conv2d for m in fp32.model.modules())  # convs as the engine runs them
    transposed = [m for m in int8.model.modules() if type(m) is nn.ConvTranspose2d]
    assert all(m.weight.dtype == (int8.half or torch.float32) for m in transposed)
    assert (int8.half is not None) == (bool(transposed) and engine_mod.cpu_has_bf16())  # the rest stays float32
    out = int8(x)
    for k in ref:
        scale = ref[k].abs().max().clamp_min(1e-6)
        # untrained weights: bf16 moves these outputs by up to ~20 % too (lat)
        assert torch.isfinite(out[k]).all() and ((out[k] - ref[k]).abs().max() / scale) < 0.3, k


def test_cli_precision_option(tmp_path, photo, capsys):
    from laserjnd.cli.main import main
    from laserjnd.data.media import write_png

    img = tmp_path / "a.png"
    write_png(img, photo)
    assert main(["predict", str(img), "--precision", "bf16", "-o", str(tmp_path / "p.csv")]) == 0
    assert main(["predict", str(img), "--precision", "int4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--precision" in err[0]


def test_onnxruntime_backend_and_int8_export_agree_with_torch(tmp_path, photo):
    pytest.importorskip("onnxruntime")
    from laserjnd.checkpoint import save_checkpoint
    from laserjnd.cli.main import main
    from laserjnd.inference.predictor import Predictor

    model, _ = small_model("mj-lite")
    with torch.no_grad():  # outputs well away from zero, so a relative comparison means something
        model.mlp[-1].bias.fill_(3.0)
    ckpt = save_checkpoint(tmp_path / "lite.pt", model, label_unit="qp")
    rows = {b: Predictor.from_checkpoint(ckpt, device="cpu", backend=b, precision="fp32").predict(photo)
            for b in ("torch", "onnxruntime")}
    for k in rows["torch"]:
        assert abs(rows["torch"][k] - rows["onnxruntime"][k]) < 1e-3 * abs(rows["torch"][k])
    int8 = Predictor.from_checkpoint(ckpt, device="cpu", backend="onnxruntime", precision="int8").predict(photo)
    assert int8.keys() == rows["torch"].keys() and int8 != rows["torch"]  # quantised: close, not identical
    assert max(abs(int8[k] - rows["torch"][k]) for k in int8) < 0.1 * max(abs(v) for v in int8.values())
    assert main(["export", str(ckpt), "--int8", "-o", str(tmp_path / "q.onnx")]) == 0
    from laserjnd.interop.export import onnx_metadata

    assert onnx_metadata(tmp_path / "q.onnx")["quantization"] == "dynamic int8 weights"
    assert main(["predict", str(ckpt), str(tmp_path / "none.png"), "--backend", "tpu"]) == 2
