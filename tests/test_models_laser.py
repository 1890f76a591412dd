"""LASeR-JND family and mj-lite: freezing, prerequisites, spec fields, padding.

Forward shapes, checkpoint round trips and the published totals of every model: test_models_contract.py.
"""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from laserjnd.errors import JNDError
from laserjnd.layers.blocks import Conv2dSame, ConvTranspose2dSame, tf_same_padding
from laserjnd.models import count_params, create_model

SINGLE = ("lat", "rec", "e2e-lat", "e2e-rec")
MULTI = ("mj-lat", "mj-rec", "mj-lite")
ALL = ("ae",) + SINGLE + MULTI
LITE_PARAMS = 2_014_075
SMALL = (64, 128)


def cfg_for(name: str, level: int = 2) -> dict:
    return {"level": level} if name in SINGLE else {}


def build(name: str, size=SMALL, **extra):
    torch.manual_seed(0)
    return create_model(name, input_size=size, **cfg_for(name), **extra)


def frozen_modules(model):
    return [getattr(model, n) for n in model.spec.frozen]


def test_lite_budget_and_size_independence():
    with torch.device("meta"):
        lite = create_model("mj-lite")
        mj = create_model("mj-lat")
    assert count_params(lite) == LITE_PARAMS
    assert count_params(lite) <= count_params(mj) // 10
    with torch.device("meta"):
        assert count_params(create_model("mj-lite", input_size=(128, 224))) == LITE_PARAMS


@pytest.mark.parametrize("name", ALL)
def test_backward_reaches_trainable_only(name):
    m = build(name).train()
    out = m(torch.rand(2, 3, *SMALL) * 255)
    loss = sum(v.float().abs().mean() + v.float().mean() for v in out.values())  # nonzero grad even past ReLU
    loss.backward()
    trainable = m.trainable_parameters()
    assert trainable and all(p.grad is not None for p in trainable[:4])
    for fm in frozen_modules(m):
        assert all(not p.requires_grad and p.grad is None for p in fm.parameters())


@pytest.mark.parametrize("name", ("lat", "rec", "mj-lat", "mj-rec", "mj-lite"))
def test_frozen_parts_stay_eval_and_fixed(name):
    m = build(name)
    assert m.spec.frozen
    m.train()
    for fm in frozen_modules(m):
        assert all(not sub.training for sub in fm.modules())
    trainable_bn = [b for b in m.modules() if isinstance(b, torch.nn.BatchNorm2d)]
    assert trainable_bn and all(b.training for b in trainable_bn)  # no BN lives in frozen parts
    before = {k: v.clone() for fm in frozen_modules(m) for k, v in fm.state_dict().items()}
    bn_before = trainable_bn[0].running_mean.clone()
    opt = torch.optim.SGD(m.trainable_parameters(), lr=0.1)
    m(torch.rand(2, 3, *SMALL) * 255)["jnd"].sum().backward()
    opt.step()
    after = {k: v for fm in frozen_modules(m) for k, v in fm.state_dict().items()}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(bn_before, trainable_bn[0].running_mean)  # the BN after the encoder learns


def test_lat_bn_after_frozen_encoder_is_trainable():
    m = build("lat")
    assert m.spec.frozen == ("encoder",)
    assert all(p.requires_grad for p in m.bn.parameters())


@pytest.mark.parametrize("name", ("e2e-lat", "e2e-rec"))
def test_e2e_all_trainable(name):
    m = build(name)
    assert m.spec.frozen == ()
    assert all(p.requires_grad for p in m.parameters())


def _ae_state(target=0):
    torch.manual_seed(100 + target)
    return create_model("ae", target=target, input_size=SMALL).state_dict()


def _assert_same(module, sd, skip=()):
    own = module.state_dict()
    for k, v in sd.items():
        if k.startswith(skip):
            if k.endswith("weight"):  # biases are zero in both
                assert not torch.equal(own[k], v), k  # freshly initialised, not copied
        else:
            assert torch.equal(own[k], v), k


@pytest.mark.parametrize("name", ("lat", "e2e-lat", "mj-lite"))
def test_load_prerequisite_encoder(name):
    m = build(name)
    sd = _ae_state()
    m.load_prerequisite("ae", sd)
    _assert_same(m.encoder, {k[len("encoder.") :]: v for k, v in sd.items() if k.startswith("encoder.")})
    if name == "e2e-lat":
        _assert_same(m.decoder, {k[len("decoder.") :]: v for k, v in sd.items() if k.startswith("decoder.")}, skip=("6.",))


@pytest.mark.parametrize("name", ("rec", "e2e-rec"))
def test_load_prerequisite_whole_ae(name):
    m = build(name)
    sd = _ae_state()
    m.load_prerequisite("ae", sd)
    _assert_same(m.ae, sd, skip=("decoder.6.",) if name == "e2e-rec" else ())


@pytest.mark.parametrize("name", ("mj-lat", "mj-rec"))
def test_load_prerequisite_three_slots(name):
    m = build(name)
    assert set(m.spec.requires) == {"ae1", "ae2", "ae3"}
    sds = [_ae_state(k) for k in (1, 2, 3)]
    for i, slot in enumerate(("ae1", "ae2", "ae3")):
        assert m.spec.requires[slot] == ("ae", {"target": i + 1})
        m.load_prerequisite(slot, sds[i])
    for i, sd in enumerate(sds):  # checked after all loads: each slot landed in its own branch
        if name == "mj-lat":
            _assert_same(m.encoders[i], {k[len("encoder.") :]: v for k, v in sd.items() if k.startswith("encoder.")})
        else:
            _assert_same(m.aes[i], sd)


def test_load_prerequisite_errors():
    m = build("lat")
    with pytest.raises(JNDError):
        m.load_prerequisite("ae9", _ae_state())
    with pytest.raises(JNDError):
        m.load_prerequisite("ae", {"foo.weight": torch.zeros(1)})
    bad = _ae_state()
    bad["encoder.0.weight"] = torch.zeros(1)
    with pytest.raises((JNDError, RuntimeError)):
        m.load_prerequisite("ae", bad)


@pytest.mark.parametrize("name", ALL)
def test_spec_fields(name):
    m = build(name)
    s = m.spec
    assert s.name == name
    assert s.family == ("lite" if name == "mj-lite" else "laser")
    assert (s.convention.channel_order, s.convention.scale, s.convention.input_size) == ("bgr", 255.0, SMALL)
    if name == "ae":
        assert s.levels == () and s.outputs == ("recon",) and s.loss_weights == {"recon": 1.0} and not s.requires
    elif name.startswith("e2e"):
        assert s.levels == (2,) and s.loss_weights == {"recon": 0.01, "jnd": 0.99}
        assert s.requires == {"ae": ("ae", {"target": 0})} and s.recon_target == 2
    elif name in SINGLE:
        assert s.levels == (2,) and s.loss_weights == {"jnd": 1.0} and s.requires == {"ae": ("ae", {"target": 2})}
    else:
        assert s.levels == (1, 2, 3) and s.loss_weights == {"jnd": 1.0}
    json.dumps(s.to_dict())


def test_level_aliases_and_bad_cfg():
    assert create_model("lat", jnd_column=0, input_size=SMALL).spec.levels == (1,)
    for bad in ({}, {"level": 4}, {"level": 1, "jnd_column": 2}):
        with pytest.raises(JNDError):
            create_model("rec", input_size=SMALL, **bad)
    with pytest.raises(JNDError):
        create_model("ae", target=5)
    with pytest.raises(JNDError):
        create_model("mj-lat", input_size=(100, 128))  # not a multiple of 16
    with pytest.raises(JNDError):
        create_model("lat", level=1, input_size=(32, 128))  # too small for two pools after /16


@pytest.mark.parametrize("order", ["increasing", "decreasing", "none"])
def test_lite_order_and_init_levels(order):
    levels = (30.0, 34.0, 38.0) if order != "decreasing" else (80.0, 60.0, 45.0)
    m = build("mj-lite", order=order, init_levels=levels).eval()
    with torch.no_grad():
        m.mlp[-1].weight.zero_()  # outputs = biases only
        out = m(torch.rand(3, 3, *SMALL) * 255)["jnd"]
    assert torch.allclose(out, torch.tensor(levels).expand(3, 3), atol=1e-3)
    m = build("mj-lite", order=order)
    with torch.no_grad():
        j = m(torch.rand(4, 3, *SMALL) * 255)["jnd"]
    if order == "increasing":
        assert (j[:, 1:] >= j[:, :-1]).all()
    elif order == "decreasing":
        assert (j[:, 1:] <= j[:, :-1]).all()


def test_lite_fine_tune_option():
    m = build("mj-lite", freeze_encoder=False, ae_target=2)
    assert m.spec.frozen == () and m.spec.requires == {"ae": ("ae", {"target": 2})}
    assert all(p.requires_grad for p in m.parameters())


# --- padding: Keras "same" semantics ---------------------------------------------------------


def test_tf_same_padding_values():
    assert tf_same_padding(352, 5, 2) == (1, 2)  # even size: the odd pixel goes after
    assert tf_same_padding(11, 5, 2) == (2, 2)
    assert tf_same_padding(20, 3, 1) == (1, 1)


def test_conv_same_matches_explicit_asymmetric_pad():
    torch.manual_seed(0)
    conv = Conv2dSame(3, 4, 5, 2)
    x = torch.randn(2, 3, 16, 32)
    ref = F.conv2d(F.pad(x, (1, 2, 1, 2)), conv.weight, conv.bias, stride=2)
    assert torch.allclose(conv(x), ref)


@pytest.mark.parametrize("hw", [(8, 16), (7, 11)])
def test_deconv_same_is_adjoint_of_conv_same(hw):
    # TF defines the "same" transposed conv as the adjoint of the "same" conv at the output size.
    torch.manual_seed(0)
    conv = Conv2dSame(4, 3, 5, 2, bias=False)
    deconv = ConvTranspose2dSame(3, 4, 5, 2, bias=False)
    deconv.weight.data = conv.weight.data.clone()  # (out_c, in_c, k, k) vs (in, out, k, k): same tensor
    h, w = hw
    y = torch.randn(1, 3, h, w)
    x = torch.randn(1, 4, 2 * h, 2 * w)
    lhs = (deconv(y) * x).sum()
    rhs = (y * conv(x)).sum()
    assert torch.allclose(lhs, rhs, rtol=1e-4, atol=1e-3)


@pytest.mark.keras
def test_padding_matches_keras_numerically():
    keras = pytest.importorskip("keras")
    import numpy as np

    x = np.random.default_rng(0).standard_normal((2, 16, 32, 3)).astype("float32")
    xt = torch.from_numpy(x).permute(0, 3, 1, 2)
    c = keras.layers.Conv2D(4, 5, strides=2, padding="same")
    d = keras.layers.Conv2DTranspose(5, 5, strides=2, padding="same")
    yc, yd = c(x).numpy(), d(x).numpy()
    conv, deconv = Conv2dSame(3, 4, 5, 2), ConvTranspose2dSame(3, 5, 5, 2)
    for mod, layer in ((conv, c), (deconv, d)):
        k, b = layer.get_weights()  # Conv2D (k,k,in,out); Conv2DTranspose (k,k,out,in)
        mod.weight.data = torch.from_numpy(k).permute(3, 2, 0, 1).contiguous()
        mod.bias.data = torch.from_numpy(b)
    with torch.no_grad():
        assert np.allclose(conv(xt).permute(0, 2, 3, 1).numpy(), yc, atol=1e-4)
        assert np.allclose(deconv(xt).permute(0, 2, 3, 1).numpy(), yd, atol=1e-4)


@pytest.mark.parametrize("name", ("e2e-lat", "mj-lite"))
def test_fx_traceable(name):
    # BN folding and export trace the graph; the "same" padding must not branch on sizes.
    import torch.fx as fx

    m = build(name).eval()
    g = fx.symbolic_trace(m)
    x = torch.rand(1, 3, *SMALL) * 255
    with torch.no_grad():
        a, b = m(x), g(x)
    assert all(torch.allclose(a[k], b[k]) for k in a)
