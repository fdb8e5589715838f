"""Ray actors as thin wrappers around :class:`pipelines.WindowWorker`, and their pool.

PyMatching holds the GIL, so parallel decoding needs processes: one actor per worker, each
with its own matchers, each call one whole window of S shots (a call costs ~1 ms, so batching
keeps Ray's share small). The template matching graph is built once on the driver and put in
the object store; every actor (and every restart of one) builds its window matchers from it.

Faults: actors restart (``max_restarts``); a call lost with a dying actor is re-submitted by
the pool, so every window is decoded and committed exactly once (the service refuses a second
completion of a window).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import numpy as np

from pipelines._stream.config import StreamConfig
from pipelines._windows.graphs import WindowGraphs
from pipelines._windows.worker import WindowResult, WindowWorker
from qec import SparseEdgeWeights, pack_bits, unpack_bits

MAX_RESTARTS = 4
MAX_RERUNS_PER_WINDOW = 4


def local_cpus() -> int:
    """Cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@contextmanager
def ray_session(address: str | None, *, num_cpus: int | None = None) -> Iterator[bool]:
    """Ray for one run: join ``address`` ('auto' or HOST:PORT), or start a local one.

    A local Ray uses ``num_cpus`` (default: the cores this process may use) and no dashboard,
    and is shut down at the end (Ray 2.60 on Linux cannot be held to the loopback interface:
    it replaces 127.0.0.1 by the routable node address; its token authentication is on).
    If Ray is already initialised in this process (a notebook, the test suite), it is used
    as it is and left running. Yields whether this call started (and will stop) Ray.
    """
    import ray

    if ray.is_initialized():
        yield False
        return
    if address is None:
        ray.init(address="local", num_cpus=num_cpus or local_cpus(), include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    else:
        ray.init(address=address, log_to_driver=False, configure_logging=False)
    try:
        yield True
    finally:
        ray.shutdown()


class _DecoderActorImpl:
    """The actor body: a WindowWorker (or what ``worker_class`` builds) and nothing else."""

    def __init__(self, config: StreamConfig, template, soft_cap: float | None,
                 worker_class: type = WindowWorker) -> None:
        self.worker = worker_class(task=config.task(), plan=config.plan(), template=template,
                                   soft_cap=soft_cap)
        self.worker.graphs.warm()

    def decode(self, index: int, dets: np.ndarray,
               weights: SparseEdgeWeights | None = None) -> WindowResult:
        return self.worker.decode(index, dets, weights=weights)

    def decode_packed(self, index: int, dets_bit_packed: np.ndarray, num_detectors: int,
                      weights: SparseEdgeWeights | None = None):
        """Bit-packed in and out: a d = 13 window of 16 shots stays under Ray's 100 KiB
        inline-object limit (half the per-call overhead measured, bench/streaming.py)."""
        dets = unpack_bits(dets_bit_packed, num_detectors)
        r = self.worker.decode(index, dets, weights=weights)
        return r.flip, pack_bits(r.toggles), r.decode_seconds

    def where(self) -> tuple[str, int]:
        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()


@lru_cache(maxsize=1)
def _actor_class():
    import ray

    return ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=0)(_DecoderActorImpl)


class RayPool:
    """A pool of decoder actors (the :class:`pipelines._stream.service.Pool` protocol).

    Args:
        config: the stream configuration (``config.workers`` actors).
        soft_cap: the soft-mode base weight, when windows come with per-shot weights.
        worker_class: the window worker each actor runs (default :class:`WindowWorker`; a
            subclass must pickle by value or be importable on every node).
        spread: place actors on different nodes where possible (Ray's SPREAD strategy).

    Windows go to the actor with the fewest calls in flight. ``reruns`` counts windows
    re-submitted after their actor died.
    """

    def __init__(self, *, config: StreamConfig, soft_cap: float | None = None,
                 spread: bool = False, worker_class: type = WindowWorker) -> None:
        import ray

        if config.workers < 1:
            raise ValueError(f"workers={config.workers} must be >= 1 for a Ray pool")
        self.num_workers = config.workers
        template = WindowGraphs(config.task(), config.plan()).template_graph
        # Held for the pool's life: restarting actors read their constructor arguments again.
        self._template_ref = template_ref = ray.put(template)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        opts: dict = {"num_cpus": min(1.0, cpus / config.workers)}
        if spread:
            opts["scheduling_strategy"] = "SPREAD"
        actor = _actor_class()
        self.actors = [actor.options(**opts).remote(config, template_ref, soft_cap, worker_class)
                       for _ in range(config.workers)]
        self.placement = ray.get([a.where.remote() for a in self.actors])  # waits for warm-up
        self.load = [0] * config.workers
        self.pending: dict = {}  # ObjectRef -> (key, index, dets, worker, t_submit, tries)
        self.reruns = 0

    @property
    def in_flight(self) -> int:
        return len(self.pending)

    def submit(self, key: tuple, index: int, dets: np.ndarray,
               weights: SparseEdgeWeights | None = None, *, tries: int = 0) -> None:
        worker = int(np.argmin(self.load))
        ref = self.actors[worker].decode_packed.remote(index, pack_bits(dets), dets.shape[1],
                                                       weights)
        self.load[worker] += 1
        self.pending[ref] = (key, index, dets, weights, worker, time.perf_counter(), tries)

    def wait(self, timeout: float | None) -> list[tuple[tuple, WindowResult, int, float]]:
        import ray
        from ray.exceptions import RayActorError

        if not self.pending:
            if timeout:
                time.sleep(timeout)
            return []
        ready, _ = ray.wait(list(self.pending), num_returns=1, timeout=timeout)
        if ready:  # collect everything else that is already done, without waiting
            ready, _ = ray.wait(list(self.pending), num_returns=len(self.pending), timeout=0)
        done = []
        for ref in ready:
            key, index, dets, weights, worker, t0, tries = self.pending.pop(ref)
            self.load[worker] -= 1
            try:
                flip, toggles, seconds = ray.get(ref)
            except RayActorError as exc:  # the actor died with this call: decode it again
                if tries >= MAX_RERUNS_PER_WINDOW:
                    raise RuntimeError(f"window {index} failed {tries + 1} times; the "
                                       f"decoder actors keep dying") from exc
                self.reruns += 1
                self.submit(key, index, dets, weights, tries=tries + 1)
                continue
            result = WindowResult(index, flip, unpack_bits(toggles, dets.shape[1]), seconds)
            done.append((key, result, worker, time.perf_counter() - t0))
        return done

    def close(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors, self.pending = [], {}
