"""Where batch tasks (encoding ladders) run: this process, a local process pool, or a Dask cluster.

Every runner has one interface, so :meth:`laserjnd.data.ladder.LadderCache.compute_many` has
one loop for all of them:

* ``submit(tag, fn, *args)`` starts ``fn(*args)``;
* ``collect(keep)`` yields ``(tag, value, error)`` for every finished task, blocking until at
  most ``keep`` are still running (``error`` is an exception raised while running or fetching
  the task, e.g. a worker killed by the OS; ``value`` is then ``None``);
* ``slots`` is how many tasks run at once, ``parallel`` whether each task should keep to one core.

Runners return results to the caller; they never touch files, so remote workers need no shared
file system. ``fn`` must be importable on the workers (a module-level function of laserjnd).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import threading
import time
import warnings
from typing import Any, Callable, Iterator

from laserjnd.errors import JNDError

EXECUTORS = ("local", "dask")
CONNECT_TIMEOUT_S = 10  # reaching a Dask scheduler
WORKER_TIMEOUT_S = 60  # a scheduler with no worker yet gets this long for one to join

Finished = tuple[Any, Any, "BaseException | None"]


def cpu_count() -> int:
    return os.cpu_count() or 1


class TaskRunner:
    """Base runner: tasks run here, one at a time, when submitted."""

    parallel = False

    def __init__(self) -> None:
        self._done: list[Finished] = []

    @property
    def slots(self) -> int:
        return 1

    def submit(self, tag: Any, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self._done.append((tag, fn(*args), None))
        except Exception as exc:  # noqa: BLE001 - handed to the caller with its tag
            self._done.append((tag, None, exc))

    def collect(self, keep: int) -> Iterator[Finished]:
        done, self._done = self._done, []
        yield from done

    def close(self) -> None:
        pass

    def __enter__(self) -> TaskRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class _FutureRunner(TaskRunner):
    """Shared by runners whose ``_start`` returns futures (``done``, ``result``, ``add_done_callback``)."""

    parallel = True

    def __init__(self) -> None:
        self._pending: dict[Any, Any] = {}
        self._finished = threading.Event()

    def _start(self, fn: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError

    def submit(self, tag: Any, fn: Callable[..., Any], *args: Any) -> None:
        fut = self._start(fn, *args)
        fut.add_done_callback(lambda _: self._finished.set())
        self._pending[fut] = tag

    def _wait_first(self) -> None:
        self._finished.clear()  # before looking, so a task finishing meanwhile still wakes us
        if not any(f.done() for f in self._pending):
            self._finished.wait()

    def collect(self, keep: int) -> Iterator[Finished]:
        while self._pending:
            done = [f for f in self._pending if f.done()]
            if not done:
                if len(self._pending) <= keep:
                    return
                self._wait_first()
                continue
            for fut in done:
                tag = self._pending.pop(fut)
                try:
                    yield tag, fut.result(), None
                except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OS
                    yield tag, None, exc


class ProcessPoolRunner(_FutureRunner):
    """``workers`` spawned processes on this machine."""

    def __init__(self, workers: int):
        super().__init__()
        self._slots = workers
        ctx = multiprocessing.get_context("spawn")  # fork is unsafe once torch/OpenMP threads exist
        self._pool = cf.ProcessPoolExecutor(workers, mp_context=ctx)

    @property
    def slots(self) -> int:
        return self._slots

    def _start(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskRunner(_FutureRunner):
    """Tasks on a Dask cluster: the scheduler at ``scheduler``, or a new local cluster of ``workers`` processes."""

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        super().__init__()
        try:
            import distributed
        except ImportError:
            raise JNDError("--executor dask needs dask and distributed: pip install 'laserjnd[cluster]'") from None
        self._cluster = None
        if scheduler is None:
            self._cluster = distributed.LocalCluster(
                n_workers=workers or cpu_count(), threads_per_worker=1, processes=True,
                dashboard_address=":0", silence_logs=logging.ERROR,
            )  # fmt: skip
            scheduler = self._cluster.scheduler_address
        try:
            self.client = _connect(distributed, scheduler)
        except BaseException:
            if self._cluster is not None:
                self._cluster.close()
            raise
        self._slots_at = (0, -1.0)

    @property
    def slots(self) -> int:
        """Worker threads of the cluster (re-read every few seconds: workers may join or leave)."""
        n, at = self._slots_at
        if time.monotonic() - at > 5:
            n = sum(self.client.nthreads().values())
            self._slots_at = (n, time.monotonic())
        return max(1, n)

    def _start(self, fn: Callable[..., Any], *args: Any) -> Any:
        with warnings.catch_warnings():  # each frame is sent once, so dask's advice for big graphs does not apply
            warnings.filterwarnings("ignore", "Sending large graph", UserWarning)
            return self.client.submit(fn, *args, pure=False)

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def _connect(distributed: Any, address: str) -> Any:
    try:
        client = distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise JNDError(f"cannot reach the dask scheduler at {address}: {exc}") from None
    try:
        client.wait_for_workers(1, timeout=WORKER_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise JNDError(f"no dask worker joined the scheduler at {address} within {WORKER_TIMEOUT_S} s") from exc
    return client


def open_runner(executor: str = "local", workers: int | None = None, scheduler: str | None = None) -> TaskRunner:
    """The runner for ``--executor``/``--workers``/``--scheduler``.

    ``local``: ``workers`` processes (default: all cores; 1 runs in this process).
    ``dask``: the cluster whose scheduler is at ``scheduler`` (e.g. ``tcp://10.0.0.5:8786``), or
    without one a local cluster of ``workers`` single-threaded processes.
    """
    if executor not in EXECUTORS:
        raise JNDError(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers is not None and int(workers) < 1:
        raise JNDError(f"--workers must be at least 1, got {workers}")
    if executor == "dask":
        return DaskRunner(scheduler, workers)
    if scheduler is not None:
        raise JNDError("--scheduler needs --executor dask")
    n = int(workers) if workers is not None else cpu_count()
    return TaskRunner() if n == 1 else ProcessPoolRunner(n)
