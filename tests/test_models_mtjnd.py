"""MTJND family, the direct baseline, the constant predictor, VGG16 loading and the model table."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from laserjnd.errors import BadInputError, JNDError
from laserjnd.layers.vgg import CONV_LAYERS, VGG16_PARAMS, VGG16Features, load_vgg16_weights
from laserjnd.models import count_params, create_model, list_models, model_entry
from laserjnd.models.info import unpublished_params
from laserjnd.models.mtjnd import HEAD_PARAMS, JNDHead, saliency_loss

SMALL = (64, 128)
OURS = ["mt-3ljnd", "mt-1ljnd-va", "mt-3ljnd-va", "direct", "constant"]
LEVELS = {"mt-3ljnd": 3, "mt-1ljnd-va": 1, "mt-3ljnd-va": 3, "direct": 1, "constant": 3}


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.mark.parametrize("name", OURS)
def test_forward_backward_small(name):
    model = create_model(name, input_size=SMALL, **model_entry(name).example_cfg())
    assert tuple(model.spec.input_size) == SMALL
    assert model.spec.convention.channel_order == "bgr" and model.spec.convention.scale == 1.0
    if name == "constant":
        model.fit(np.array([[30.0, 33.0, 36.0], [32.0, 35.0, 38.0], [31.0, 34.0, 37.0]]))
    x = torch.rand(2, 3, *SMALL)
    out = model(x)
    assert out["jnd"].shape == (2, LEVELS[name])
    assert (out["jnd"] >= 0).all()
    assert set(out) == set(model.spec.outputs)
    if "saliency" in out:
        s = out["saliency"]
        assert s.shape == (2, 1, SMALL[0] // 4, SMALL[1] // 4)
        assert float(s.detach().min()) >= 0.0 and float(s.detach().max()) <= 1.0
    if name == "constant":
        assert torch.allclose(out["jnd"], torch.tensor([[31.0, 34.0, 37.0]] * 2))
        assert model.spec.loss_weights == {} and not list(model.parameters())
        return
    loss = out["jnd"].sum() + (out["saliency"].mean() if "saliency" in out else 0)
    loss.backward()
    grads = [p.grad for p in model.trainable_parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.spec.loss_weights["jnd"] == 1.0
    assert ("saliency" in model.spec.loss_weights) == ("saliency" in model.spec.outputs)


def test_vgg_min_size():
    assert VGG16Features.output_size((32, 32)) == (1, 1)
    with pytest.raises(JNDError, match="at least 32"):
        create_model("mt-3ljnd", input_size=(31, 64))
    model = create_model("direct", level=1, input_size=(32, 48))
    assert model(torch.rand(1, 3, 32, 48))["jnd"].shape == (1, 1)


def test_published_component_counts():
    # Whole-model totals: test_models_contract.py. Built on the meta device: shapes only.
    with torch.device("meta"):
        assert count_params(VGG16Features()) == VGG16_PARAMS == 14_714_688
        assert count_params(JNDHead(8 * 15 * 512)) == HEAD_PARAMS == 15_761_921
        m1 = create_model("mt-1ljnd-va", jnd_column=2)
        d = create_model("direct", level=2)
    assert m1.spec.input_size == (270, 480)
    tail = unpublished_params(m1)
    assert tail == 65_921 and tail < 100_000  # kept small, documented in mtjnd.py
    assert count_params(d) + tail == count_params(m1)  # the VA tail is all mt-1ljnd-va adds to direct
    assert m1.spec.levels == (3,) and d.spec.levels == (2,)
    assert d.spec.family == "baseline"


def test_level_cfg_errors():
    with pytest.raises(JNDError):
        create_model("direct", level=4, input_size=SMALL)
    with pytest.raises(JNDError):
        create_model("mt-1ljnd-va", level=1, jnd_column=2, input_size=SMALL)
    for name in ("direct", "mt-1ljnd-va"):  # a single-level model needs its level, as LASeR's do
        with pytest.raises(JNDError, match="predicts one level"):
            create_model(name, input_size=SMALL)


def test_freeze_defaults(tmp_path):
    m = create_model("mt-3ljnd", input_size=SMALL)
    assert all(p.requires_grad for p in m.parameters())  # random init: nothing frozen
    src = VGG16Features()
    path = tmp_path / "vgg.pth"
    torch.save(src.state_dict(), path)
    m = create_model("mt-3ljnd", input_size=SMALL, vgg_weights=str(path))
    frozen = {n for n, p in m.named_parameters() if not p.requires_grad}
    assert len(frozen) == 2 * 7  # blocks 1-3: 7 convs, weight + bias
    assert all(n.startswith("backbone.features.") and int(n.split(".")[2]) < 17 for n in frozen)
    assert m.spec.frozen == ("backbone.block1", "backbone.block2", "backbone.block3")
    m = create_model("mt-3ljnd", input_size=SMALL, vgg_weights=str(path), freeze_blocks=0)
    assert all(p.requires_grad for p in m.parameters())


def test_saliency_loss_decreases():
    from skimage import data

    from laserjnd.data.saliency import saliency_map

    photos = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    h, w = SMALL
    import cv2

    x = torch.stack([torch.from_numpy(cv2.resize(p, (w, h), interpolation=cv2.INTER_AREA)).permute(2, 0, 1).float() / 255
                     for p in photos])
    x = x.flip(1)  # RGB -> the model's BGR
    target = torch.stack([torch.from_numpy(saliency_map(p, size=SMALL)) for p in photos]).unsqueeze(1)
    model = create_model("mt-1ljnd-va", level=1, input_size=SMALL)
    assert model.spec.loss_weights["saliency"] > 0
    opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-4)
    losses = []
    for _ in range(8):
        opt.zero_grad()
        loss = saliency_loss(model(x)["saliency"], target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.01, losses


# --- VGG16 weight files --------------------------------------------------------------------------------

def keras_h5_layout(vgg: VGG16Features) -> dict[str, dict[str, torch.Tensor]]:
    """{keras layer name: {"kernel": HWIO, "bias": (out,)}}: the loader's mapping inverted, to write test files."""
    out = {}
    for name, idx in CONV_LAYERS:
        conv = vgg.features[idx]
        out[name] = {"kernel": conv.weight.detach().permute(2, 3, 1, 0).contiguous(), "bias": conv.bias.detach().clone()}
    return out


def _torchvision_sd(vgg: VGG16Features) -> dict[str, torch.Tensor]:
    sd = {k: v.clone() for k, v in vgg.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision files carry the classifier; must be ignored
    return sd


def _write_keras_h5(vgg: VGG16Features, path, nested: bool = False):
    h5py = pytest.importorskip("h5py")
    layers = keras_h5_layout(vgg)
    with h5py.File(path, "w") as f:
        names = ["input_1"] + [n for n, _ in CONV_LAYERS]
        f.attrs["layer_names"] = np.array([n.encode() for n in names])
        f.create_group("input_1")
        for name, wb in layers.items():
            g = f.create_group(name)
            if nested:  # Keras 2 style: <layer>/<layer>/kernel:0
                g = g.create_group(name)
                g.create_dataset("kernel:0", data=wb["kernel"].numpy())
                g.create_dataset("bias:0", data=wb["bias"].numpy())
            else:  # the old notop file: <layer>/<layer>_W_1:0
                g.create_dataset(f"{name}_W_1:0", data=wb["kernel"].numpy())
                g.create_dataset(f"{name}_b_1:0", data=wb["bias"].numpy())


def _same(a: VGG16Features, b: VGG16Features) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.mark.parametrize("fmt", ["pth", "safetensors", "h5", "h5-nested"])
def test_vgg_loader_roundtrip(tmp_path, fmt):
    src = VGG16Features()
    if fmt == "pth":
        path = tmp_path / "vgg16.pth"
        torch.save(_torchvision_sd(src), path)
    elif fmt == "safetensors":
        from safetensors.torch import save_file

        path = tmp_path / "vgg16.safetensors"
        save_file({k: v.contiguous() for k, v in _torchvision_sd(src).items()}, str(path))
    else:
        path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
        _write_keras_h5(src, path, nested=fmt == "h5-nested")
    dst = VGG16Features()
    assert not _same(src, dst)
    load_vgg16_weights(dst, path)
    assert _same(src, dst)
    # Through a model: same numbers in the backbone, and it computes what the source computes.
    model = create_model("mt-3ljnd", input_size=SMALL, vgg_weights=str(path))
    assert _same(src, model.backbone)
    x = torch.rand(1, 3, *SMALL)
    assert torch.allclose(model.backbone(x), src(x), atol=1e-6)


def test_keras_kernel_orientation(tmp_path):
    """HWIO -> OIHW: a kernel with distinct values per axis must land in the right places."""
    src = VGG16Features()
    with torch.no_grad():
        src.features[0].weight.copy_(torch.arange(64 * 3 * 9, dtype=torch.float32).reshape(64, 3, 3, 3))
    path = tmp_path / "k.h5"
    _write_keras_h5(src, path)
    import h5py

    with h5py.File(path) as f:
        k = f["block1_conv1"]["block1_conv1_W_1:0"][()]
    assert k.shape == (3, 3, 3, 64) and k[1, 2, 0, 5] == src.features[0].weight[5, 0, 1, 2].item()
    dst = VGG16Features()
    load_vgg16_weights(dst, path)
    assert torch.equal(dst.features[0].weight, src.features[0].weight)


def test_vgg_loader_errors(tmp_path):
    src = VGG16Features()
    sd = _torchvision_sd(src)
    sd["features.10.weight"] = torch.zeros(256, 128, 5, 5)
    bad = tmp_path / "bad.pth"
    torch.save(sd, bad)
    dst = VGG16Features()
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(BadInputError, match=r"bad\.pth.*block3_conv1"):
        load_vgg16_weights(dst, bad)
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())  # untouched on error

    sd = _torchvision_sd(src)
    del sd["features.28.bias"]
    torch.save(sd, tmp_path / "missing.pth")
    with pytest.raises(BadInputError, match="block5_conv3"):
        load_vgg16_weights(dst, tmp_path / "missing.pth")

    h5py = pytest.importorskip("h5py")
    path = tmp_path / "bad.h5"
    _write_keras_h5(src, path)
    with h5py.File(path, "a") as f:
        del f["block2_conv2"]["block2_conv2_W_1:0"]
        f["block2_conv2"].create_dataset("block2_conv2_W_1:0", data=np.zeros((3, 3, 64, 128), np.float32))
    with pytest.raises(BadInputError, match="block2_conv2"):
        load_vgg16_weights(dst, path)

    with pytest.raises(BadInputError, match="not found"):
        load_vgg16_weights(dst, tmp_path / "nope.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(BadInputError, match="junk.pth"):
        load_vgg16_weights(dst, tmp_path / "junk.pth")
    with pytest.raises(BadInputError, match="format"):
        (tmp_path / "w.npz").write_bytes(b"")
        load_vgg16_weights(dst, tmp_path / "w.npz")


# --- constant predictor ---------------------------------------------------------------------------------

def test_constant_predictor(tmp_path):
    m = create_model("constant", input_size=SMALL)
    assert not m.is_fitted
    assert torch.isnan(m(torch.rand(1, 3, *SMALL))["jnd"]).all()  # unfitted cannot pass as real
    labels = torch.tensor([[30.0, 34, 38], [28, 33, float("nan")], [35, 36, 40], [31, 35, 39]])
    m.fit(labels)
    assert m.is_fitted
    out = m(torch.rand(5, 3, *SMALL))["jnd"]
    assert out.shape == (5, 3)
    assert torch.allclose(out[0], torch.tensor([30.5, 34.5, 39.0]))
    # Survives a checkpoint round trip (the median is a buffer).
    from laserjnd.checkpoint import load_checkpoint, save_checkpoint

    save_checkpoint(tmp_path / "c.pt", m, label_unit="qp")
    m2, _ = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(m2.median, m.median)
    one = create_model("constant", levels=(2,)).fit(labels.numpy())
    assert one(torch.rand(2, 3, 8, 8))["jnd"].shape == (2, 1) and float(one.median) == 34.5
    with pytest.raises(JNDError):
        m.fit(np.zeros((0, 3)))


# --- model table -----------------------------------------------------------------------------------------

def test_model_table_covers_registry():
    from laserjnd.models.info import model_info, model_table

    rows = model_table(SMALL)
    assert [r["name"] for r in rows] == list_models()
    for r in rows:
        if r["name"] in OURS:
            assert "error" not in r, r
            assert r["input_size"] == list(SMALL) and r["flops"] is not None
    info = model_info("mt-3ljnd")
    assert info["params"] == 62_000_451 and info["params_match"] is True
    assert 70e9 < info["flops"] < 90e9  # VGG16 conv at 270x480 ~ 78 GFLOPs (2 per multiply-add)
    va = model_info("mt-1ljnd-va")
    assert va["unpublished_params"] == 65_921 and va["params_match"] is True


def test_models_command_prints(capsys):
    from laserjnd.cli.models_cmd import models_command, parse_size

    assert parse_size("270x480") == (270, 480) and parse_size(None) is None
    with pytest.raises(BadInputError):
        parse_size("big")
    models_command(input_size="64x128", flops=False)
    text = capsys.readouterr().out
    for name in OURS:
        assert name in text


def test_checkpoint_does_not_need_vgg_file(tmp_path):
    from laserjnd.checkpoint import load_checkpoint, save_checkpoint

    path = tmp_path / "vgg.pth"
    torch.save(VGG16Features().state_dict(), path)
    m = create_model("direct", input_size=SMALL, vgg_weights=str(path), level=2)
    save_checkpoint(tmp_path / "d.pt", m, label_unit="qp")
    path.unlink()  # the weights live in the checkpoint now
    m2, payload = load_checkpoint(tmp_path / "d.pt")
    assert "vgg_weights" not in payload["model"]["cfg"] and payload["model"]["cfg"]["freeze_blocks"] == 3
    assert m2.spec.levels == (2,) and m2.spec.frozen == m.spec.frozen
    x = torch.rand(1, 3, *SMALL)
    assert torch.allclose(m2(x)["jnd"], m.eval()(x)["jnd"])


def test_checkpoint_without_recorded_level_still_loads(tmp_path):
    """Older files of MTJND single-level models recorded no level (it defaulted to 1); the spec's levels say it."""
    from laserjnd.checkpoint import load_checkpoint, save_checkpoint

    path = save_checkpoint(tmp_path / "d.pt", create_model("direct", level=1, input_size=SMALL), label_unit="qp")
    payload = torch.load(path, weights_only=False)
    payload["model"]["cfg"] = {"input_size": list(SMALL)}  # as written before, size in the cfg too
    torch.save(payload, path)
    model, _ = load_checkpoint(path)
    assert model.spec.levels == (1,) and model.spec.input_size == SMALL
