"""TF "same" padding without a padded copy (layers/same_padding.py): exact, and no pad in the graph."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from laserjnd.inference.engine import InferenceEngine
from laserjnd.layers.blocks import Conv2dSame, ConvDecoder
from laserjnd.layers.same_padding import FlippedChain, static_same_padding_
from laserjnd.models import create_model


def ops_run(fn, x) -> set[str]:
    """Names of the aten ops one call runs."""
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU]) as prof:
        fn(x)
    return {e.key for e in prof.key_averages()}


def test_fp32_engine_runs_no_pad():
    torch.manual_seed(0)
    model = create_model("lat", input_size=(64, 96), level=1).eval().requires_grad_(False)
    x = torch.rand(1, 3, 64, 96)
    assert "aten::constant_pad_nd" in ops_run(lambda t: model(t)["jnd"], x)  # the eager encoder pads (asymmetric TF pads)
    eng = InferenceEngine(model, "fp32", "cpu")
    assert eng.unpadded == 4 and any(isinstance(m, FlippedChain) for m in eng.model.modules())
    ops = ops_run(lambda t: eng.model(t)["jnd"], x)
    assert "aten::conv2d" in ops and not {"aten::pad", "aten::constant_pad_nd"} & ops


@pytest.mark.parametrize("size", [(32, 48), (33, 47), (17, 18)])
def test_rewrite_is_exact_on_odd_and_even_sizes(size):
    torch.manual_seed(0)
    chain = nn.Sequential(Conv2dSame(3, 4, 5, 2), nn.LeakyReLU(0.05), Conv2dSame(4, 4, 5, 2), Conv2dSame(4, 2, 3, 1))
    net = nn.Sequential(chain, nn.ReLU(), Conv2dSame(2, 2, 5, 2))  # a lone asymmetric conv keeps its pad
    x = torch.rand(2, 3, *size)
    ref = net(x)
    assert static_same_padding_(net, size) >= 3  # the chain always; the lone conv where its pads are symmetric
    assert isinstance(net[0], FlippedChain) and not any(type(m) is Conv2dSame for m in net[0].modules())
    assert torch.allclose(net(x), ref, atol=1e-6)


def test_rewrite_without_same_convs_is_a_no_op():
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
    assert static_same_padding_(net, (8, 8)) == 0


@pytest.mark.parametrize("size", [(4, 6), (5, 3)])
def test_transposed_chain_is_exact_and_leaves_no_view(size):
    torch.manual_seed(0)
    dec = ConvDecoder()
    x = torch.rand(2, dec[0].in_channels, *size)
    with torch.no_grad():
        ref = dec(x)
        net = nn.Sequential(dec)
        assert static_same_padding_(net, size) == 4
        assert isinstance(net[0], FlippedChain)
        got = net(x)
    assert got.shape == ref.shape == (2, 3, 16 * size[0], 16 * size[1])
    assert torch.allclose(got, ref, atol=1e-5)
