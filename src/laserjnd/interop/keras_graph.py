"""The creation order of a Keras model's layers, recovered from its graph (``model_config``).

Keras lists a functional model's layers by graph depth: for MJ-LAT, the three encoders' first
convs, then their second convs, and so on. Layers of the same kind and shape can only be told apart
by where they sit in the graph. :func:`layer_keys` gives each layer a sort key that orders such
layers the way the original code created them (branch by branch, input to output):

1. the output it alone feeds (``JND{k}_output`` heads), -1 when it feeds several;
2. for every multi-input merge (Multiply, Add, Concatenate ...), deepest first, which of the merge's
   inputs it alone feeds (MJ-LAT's multiply of the three branches), -1 otherwise;
3. its depth from the input.
Works on both Keras 2 and Keras 3 configs; a nested model's layers extend the key of the nested
model's own node with their key inside it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

MERGES = {"Multiply", "Add", "Concatenate", "Average", "Maximum", "Minimum", "Subtract", "Dot"}


def layer_name(layer: dict) -> str:
    return layer.get("name") or layer.get("config", {}).get("name")


def _history_names(obj: Any, out: list[str]) -> None:
    """Names of the layers a node reads, in argument order (Keras 2 lists or Keras 3 keras_history)."""
    if isinstance(obj, dict):
        hist = obj.get("config", {}).get("keras_history") if obj.get("class_name") == "__keras_tensor__" else None
        if hist:
            out.append(hist[0])
            return
        for v in obj.values():
            _history_names(v, out)
    elif isinstance(obj, (list, tuple)):
        if len(obj) >= 3 and isinstance(obj[0], str) and isinstance(obj[1], int) and isinstance(obj[2], int):
            out.append(obj[0])  # Keras 2: [name, node_index, tensor_index, kwargs]
            return
        for v in obj:
            _history_names(v, out)


def inbound(layer: dict) -> list[str]:
    names: list[str] = []
    _history_names(layer.get("inbound_nodes", []), names)
    return names


def output_names(graph: dict) -> list[str]:
    names: list[str] = []
    _history_names(graph.get("output_layers", []), names)
    return names


def layer_keys(graph: dict) -> dict[str, tuple]:
    """{layer name: creation-order key} for a functional model's ``config`` (the dict holding ``layers``)."""
    layers = graph.get("layers", [])
    by_name = {layer_name(lay): lay for lay in layers}
    parents = {n: [p for p in inbound(lay) if p in by_name] for n, lay in by_name.items()}

    @lru_cache(maxsize=None)
    def depth(n: str) -> int:
        return 1 + max((depth(p) for p in parents[n]), default=-1)

    @lru_cache(maxsize=None)
    def ancestors(n: str) -> frozenset:
        out = {n}
        for p in parents[n]:
            out |= ancestors(p)
        return frozenset(out)

    outputs = output_names(graph)
    reach = [ancestors(o) for o in outputs]
    merges = sorted((n for n, lay in by_name.items() if lay.get("class_name") in MERGES and len(set(parents[n])) > 1),
                    key=lambda n: (-depth(n), n))
    merge_inputs = [[ancestors(p) for p in dict.fromkeys(parents[m])] for m in merges]

    def alone(n: str, groups: list[frozenset]) -> int:
        hits = [i for i, g in enumerate(groups) if n in g]
        return hits[0] if len(hits) == 1 else -1

    return {n: (alone(n, reach), *(alone(n, g) for g in merge_inputs), depth(n)) for n in by_name}
