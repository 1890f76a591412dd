"""Ladders through the executors (inline, process pool, Dask): one loop, one set of semantics."""

from __future__ import annotations

import json
import logging
import math
import sys

import cv2
import numpy as np
import pytest
from skimage import data

from laserjnd.cli.main import main
from laserjnd.data import executors as X
from laserjnd.data import ladder as L
from laserjnd.data.codecs import CodecSettings
from laserjnd.data.default_content import default_content
from laserjnd.data.prepare import PrepareConfig, prepare_dataset
from laserjnd.errors import BadInputError, JNDError

distributed = pytest.importorskip("distributed")

JPEG = CodecSettings("jpeg")


@pytest.fixture(scope="module")
def scheduler():
    """Address of a two-worker LocalCluster (separate processes, one thread each)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster:  # fmt: skip
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    names = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry")
    return {n: cv2.resize(getattr(data, n)(), (48, 32), interpolation=cv2.INTER_AREA) for n in names}


@pytest.fixture
def no_local_ladders(monkeypatch):
    """Ladders computed in this process fail, so whatever succeeds was computed on the cluster."""

    def refuse(*_, **__):
        raise AssertionError("ladder computed in the client process")

    monkeypatch.setattr(L, "compute_ladder", refuse)


@pytest.mark.parametrize("kind", ["inline", "pool", "dask"])
def test_runners_share_one_interface(kind, scheduler):
    runner = {"inline": X.TaskRunner, "pool": lambda: X.ProcessPoolRunner(2),
              "dask": lambda: X.DaskRunner(scheduler)}[kind]()  # fmt: skip
    with runner:
        assert runner.slots >= (1 if kind == "inline" else 2) and runner.parallel == (kind != "inline")
        for k in range(5):
            runner.submit(k, pow, 2, k)
        runner.submit("bad", math.sqrt, -1.0)
        got = {tag: (value, exc) for tag, value, exc in runner.collect(0)}
        assert list(runner.collect(0)) == []  # each result is handed out once
    assert {k: got[k][0] for k in range(5)} == {k: 2**k for k in range(5)}
    assert got["bad"][0] is None and isinstance(got["bad"][1], ValueError)


def _prepare_cli(tmp_path, *extra, out="ds", cache="c"):
    return main(["prepare", str(tmp_path / out), "--max-side", "48", "--limit", "4", "--cache-dir", str(tmp_path / cache), *extra])


def test_prepare_through_dask_matches_local_pool(tmp_path, scheduler, no_local_ladders):
    src = default_content(max_side=48, limit=4)  # what the CLI's default kind reads with these options
    local = prepare_dataset(tmp_path / "local", src, PrepareConfig(cache_dir=tmp_path / "c1", workers=2, progress=False))
    assert _prepare_cli(tmp_path, "--executor", "dask", "--scheduler", scheduler, out="dask", cache="c2") == 0
    a, b = (json.loads((tmp_path / d / "manifest.json").read_text()) for d in ("local", "dask"))
    assert a["hash"] == b["hash"] and len(b["frames"]) == len(src.items)
    caches = [{p.name: p.read_bytes() for p in (tmp_path / c / "ladders").glob("*.json")} for c in ("c1", "c2")]
    assert len(caches[1]) == len(src.items) and caches[0] == caches[1]  # byte-identical ladders, written here


def test_dask_first_failure_keeps_finished_and_resumes(tmp_path, scheduler, photos, no_local_ladders):
    cache = L.LadderCache(tmp_path)

    def broken():
        raise OSError("disk on fire")

    p = photos
    items = [("astronaut", p["astronaut"]), ("coffee", lambda: p["coffee"]), ("broken", broken), ("chelsea", p["chelsea"])]
    with pytest.raises(JNDError, match="broken: ladder failed: OSError: disk on fire"):
        cache.compute_many(items, JPEG, executor="dask", scheduler=scheduler, progress=False)
    assert cache.get(p["astronaut"], JPEG) is not None and cache.get(p["coffee"], JPEG) is not None
    assert cache.get(p["chelsea"], JPEG) is None  # nothing after the failure started

    stamps = {f: f.stat().st_mtime_ns for f in tmp_path.glob("*.json")}
    rest = [it for it in items if it[0] != "broken"]
    out = cache.compute_many(rest, JPEG, executor="dask", scheduler=scheduler, progress=False)
    assert [o.content_hash for o in out] == [L.array_hash(p[n]) for n, _ in rest]
    assert all(f.stat().st_mtime_ns == t for f, t in stamps.items())  # resumed: finished ones not redone
    assert len(list(tmp_path.glob("*.json"))) == 3 and not list(tmp_path.glob(".*tmp"))


def test_dask_worker_error_names_the_item(tmp_path, scheduler, photos, no_local_ladders):
    cache = L.LadderCache(tmp_path)
    items = [("ok", photos["rocket"]), ("tiny", np.zeros((8, 8, 3), np.uint8))]
    with pytest.raises(BadInputError, match="tiny: .*too small for VMAF"):
        cache.compute_many(items, JPEG, executor="dask", scheduler=scheduler, progress=False)
    assert cache.get(photos["rocket"], JPEG) is not None


def test_ladder_from_other_tools_is_not_cached(tmp_path, photos, monkeypatch):
    real = L.compute_ladder

    def other_encoder(frame, settings, **kw):
        lad = real(frame, settings, levels=[50], vmaf_threads=1)
        lad.settings = {**lad.settings, "key": "0" * 16, "encoder_version": "libjpeg 0.1"}
        return lad

    monkeypatch.setattr(L, "compute_ladder", other_encoder)
    cache = L.LadderCache(tmp_path)
    with pytest.raises(JNDError, match=r"x: ladder failed: not cached: the worker's encoder \(libjpeg 0.1\) differs"):
        cache.compute_many([("x", photos["coffee"])], JPEG, workers=1, progress=False)
    assert not list(tmp_path.glob("*.json"))


def test_cli_unreachable_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(X, "CONNECT_TIMEOUT_S", 1)
    assert _prepare_cli(tmp_path, "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot reach the dask scheduler at tcp://127.0.0.1:9") and "\n" not in err
    assert not (tmp_path / "ds").exists()


def test_cli_dask_not_installed(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import now raises ImportError
    assert _prepare_cli(tmp_path, "--executor", "dask") == 2
    assert capsys.readouterr().err.strip() == (
        "error: --executor dask needs dask and distributed: pip install 'laserjnd[cluster]'"
    )


@pytest.mark.parametrize("args, message", [
    (["--executor", "spark"], "--executor must be one of local, dask, got 'spark'"),
    (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --executor dask"),
    (["--workers", "0"], "--workers must be at least 1, got 0"),
])  # fmt: skip
def test_cli_bad_executor_options(tmp_path, capsys, args, message):
    assert _prepare_cli(tmp_path, *args) == 2
    assert capsys.readouterr().err.strip() == f"error: {message}"
