"""What the streaming service hands work to: one pool per stage, in this process or on Ray.

Two stages, one shape: the service submits a LIST of jobs as one call (a batch: blocks of
the pre-decoder stage, windows of the matcher stage) and later collects finished calls, each
a :class:`CallDone` holding every job's result. In-process pools run the call at once; Ray
pools (:mod:`pipelines._stream.ray_pool`) keep calls in flight on actors and re-run the calls
of an actor that dies. :func:`wait_any` waits on several pools at once, so a result of either
stage wakes the service without sleeping through the other's.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from pipelines._windows.worker import WindowWorker
from qec import SparseEdgeWeights


class WindowJob(NamedTuple):
    """One window of one stream for the matcher stage."""

    key: tuple                       # (stream id, window index)
    index: int
    dets: np.ndarray                 # (S, D_window) bool
    weights: SparseEdgeWeights | None


class BlockJob(NamedTuple):
    """One block of one stream for the pre-decoder stage."""

    key: tuple                       # (stream id, block number)
    t0: int
    t1: int
    dets_ext: np.ndarray             # (S, D_extended) bool raw detection events


@dataclass(frozen=True)
class CallDone:
    """One finished call: the worker that ran it, its turnaround on the caller's clock
    (submission to collection, queueing included) and each job's result, in job order."""

    worker: int
    call_seconds: float
    results: tuple[tuple[tuple, Any], ...]   # (job key, WindowResult | BlockOutput)


class Pool(Protocol):
    """The workers of one stage (see the module docstring)."""

    num_workers: int

    def submit(self, jobs: Sequence) -> None: ...

    def wait(self, timeout: float | None) -> list[CallDone]: ...

    @property
    def calls_in_flight(self) -> int: ...

    @property
    def reruns(self) -> int: ...

    def pending_refs(self) -> list: ...

    def close(self) -> None: ...


class _InProcess:
    """Runs each call synchronously at submission; :meth:`wait` hands the results over."""

    num_workers = 1

    def __init__(self) -> None:
        self._done: list[CallDone] = []

    def submit(self, jobs: Sequence) -> None:
        start = time.perf_counter()
        results = self._run(list(jobs))
        self._done.append(CallDone(0, time.perf_counter() - start,
                                   tuple((job.key, r) for job, r in zip(jobs, results))))

    def _run(self, jobs: list) -> list:
        raise NotImplementedError

    def wait(self, timeout: float | None) -> list[CallDone]:
        done, self._done = self._done, []
        if not done and timeout:
            time.sleep(timeout)
        return done

    @property
    def calls_in_flight(self) -> int:
        return len(self._done)

    @property
    def reruns(self) -> int:
        return 0

    def pending_refs(self) -> list:
        return []

    def close(self) -> None:
        self._done = []


class InProcessPool(_InProcess):
    """The matcher stage in this process (``workers=0``): windows decoded at submission."""

    def __init__(self, worker: WindowWorker) -> None:
        super().__init__()
        self.worker = worker

    def _run(self, jobs: list[WindowJob]) -> list:
        return [self.worker.decode(j.index, j.dets, weights=j.weights) for j in jobs]


class InProcessPredecoderPool(_InProcess):
    """The pre-decoder stage in this process: a call's blocks go through one forward pass."""

    def __init__(self, predecoder) -> None:
        super().__init__()
        self.predecoder = predecoder

    def _run(self, jobs: list[BlockJob]) -> list:
        return self.predecoder.run_batch([(j.t0, j.t1, j.dets_ext) for j in jobs])


def wait_any(pools: Sequence[Pool], timeout: float | None) -> list[list[CallDone]]:
    """Finished calls of each pool (same order), waiting up to ``timeout`` s for the first.

    With one busy pool this is that pool's own ``wait``; with several, the wait is on the
    union of their Ray calls, so whichever finishes first ends it.
    """
    busy = [p for p in pools if p.calls_in_flight]
    if len(busy) <= 1:
        return [p.wait(timeout if p in busy or not busy and p is pools[0] else 0.0)
                for p in pools]
    done = [p.wait(0.0) for p in pools]
    if any(done) or not timeout:
        return done
    refs = [r for p in busy for r in p.pending_refs()]
    if refs:
        import ray

        ray.wait(refs, num_returns=1, timeout=timeout)
    else:
        time.sleep(timeout)
    return [d + p.wait(0.0) for d, p in zip(done, pools)]
