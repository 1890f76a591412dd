"""The contract every registered model fulfils, parametrised over ``list_models()``.

Spec read without building; forward on a tiny non-square input with exactly the outputs the spec
names; checkpoint round trip; the published Keras parameter total where there is one.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from laserjnd.checkpoint import load_checkpoint, save_checkpoint
from laserjnd.models import count_params, create_model, get_model_spec, list_models, model_entry
from laserjnd.models.info import unpublished_params
from laserjnd.models.spec import LEVELS

# The totals of ../shared/reference/ARCHITECTURES.md, written here on purpose as independent literals:
# the spec table in the package is checked against them, not against itself.
ARCHITECTURES_MD = {
    "ae": 2_887_363,
    "lat": 9_783_225,
    "rec": 8_078_384,
    "e2e-lat": 11_226_812,
    "e2e-rec": 8_078_384,
    "mj-lat": 26_070_091,
    "mj-rec": 13_886_928,
    "mt-3ljnd": 62_000_451,
    "mt-3ljnd-va": 62_000_451,  # body; the VA tail is ours
    "mt-1ljnd-va": 30_476_609,  # MT_1LJND body; the VA tail is ours
    "direct": 30_476_609,  # MT_1LJND without VA
}
MODELS = list_models()


def tiny_size(name: str) -> tuple[int, int]:
    """The smallest non-square input the architecture takes (H != W catches swapped axes)."""
    e = model_entry(name)
    side = math.ceil(e.min_side / e.size_multiple) * e.size_multiple
    return side, 2 * side


def build(name: str, size=None, **extra):
    torch.manual_seed(0)
    cfg = model_entry(name).example_cfg() | {"input_size": size or tiny_size(name)} | extra
    model = create_model(name, **cfg)
    if hasattr(model, "fit"):  # the constant predictor is fitted, not trained
        model.fit(np.array([[30.0, 34.0, 37.0], [32.0, 35.0, 39.0]]))
    return model


def test_every_family_file_registers_models():
    assert {"ae", "lat", "mj-lat", "mt-3ljnd", "direct", "constant", "mj-lite"} <= set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_spec_is_read_without_building(name, monkeypatch):
    def no_layers(self, *a, **k):
        raise AssertionError("reading a spec built a layer")

    monkeypatch.setattr(torch.nn.Module, "__init__", no_layers)
    entry = model_entry(name)
    spec = get_model_spec(name, **entry.example_cfg())
    assert spec.name == name and spec.family == entry.family and spec.published_params == entry.published_params
    assert set(spec.levels) <= set(LEVELS) and spec.outputs == entry.outputs
    assert len(spec.levels) == 1 if entry.single_level else spec.levels == entry.levels
    assert set(spec.loss_weights) <= set(spec.outputs)
    assert (spec.recon_target is not None) == ("recon" in spec.outputs)
    assert (spec.default_epochs is not None) == bool(spec.loss_weights)  # something to train, a budget to train it
    assert spec.input_size == entry.convention.input_size
    for prereq, cfg in spec.requires.values():  # prerequisites resolve too, still without building
        assert get_model_spec(prereq, **cfg).name == prereq
    assert set(spec.cfg) <= set(entry.cfg_keys)
    json.dumps(spec.to_dict())


@pytest.mark.parametrize("name", MODELS)
def test_forward_outputs_match_the_spec(name):
    model = build(name).eval()
    h, w = model.spec.input_size
    x = model.spec.convention.to_model(torch.rand(2, 3, h, w))
    with torch.no_grad():
        out = model(x)
    assert set(out) == set(model.spec.outputs)
    if "jnd" in out:
        assert out["jnd"].shape == (2, len(model.spec.levels))
        assert torch.isfinite(out["jnd"]).all() and (out["jnd"] >= 0).all()  # QP and QF are never negative
    if "recon" in out:
        assert out["recon"].shape == (2, 3, h, w)
    if "saliency" in out:
        s = out["saliency"]
        assert s.shape[:2] == (2, 1) and 0 <= float(s.min()) and float(s.max()) <= 1


@pytest.mark.parametrize("name", MODELS)
def test_checkpoint_round_trip(name, tmp_path):
    model = build(name).eval()
    path = save_checkpoint(tmp_path / f"{name}.pt", model, label_unit="qp")
    again, payload = load_checkpoint(path, expect_model=name)
    assert payload["model"] == model.spec.to_dict() == again.spec.to_dict()
    assert again.spec.input_size == model.spec.input_size
    state, state_again = model.state_dict(), again.state_dict()
    assert state.keys() == state_again.keys() and all(torch.equal(state[k], state_again[k]) for k in state)
    x = model.spec.convention.to_model(torch.rand(1, 3, *model.spec.input_size))
    with torch.no_grad():
        a, b = model(x), again(x)
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("name", MODELS)
def test_published_parameter_total(name):
    entry = model_entry(name)
    assert entry.published_params == ARCHITECTURES_MD.get(name)  # None for ours (mj-lite, constant)
    if entry.published_params is None:
        return
    with torch.device("meta"):  # shapes only: the 62M-parameter models cost nothing
        model = create_model(name, **entry.example_cfg())
    assert model.spec.input_size == entry.convention.input_size
    assert count_params(model) - unpublished_params(model) == ARCHITECTURES_MD[name]
