"""Ray actors as thin wrappers around :class:`pipelines.WindowWorker`, and their pool.

PyMatching holds the GIL, so parallel decoding needs processes: one actor per worker, each
with its own matchers, each call one whole window of S shots (a call costs ~1 ms, so batching
keeps Ray's share small). The template matching graph is built once on the driver and put in
the object store; every actor (and every restart of one) builds its window matchers from it.

Faults: actors restart (``max_restarts``). A call lost with a dying actor is re-submitted to
another actor; the dead one gets no new work until a probe call shows it is back (so the
windows decoded again are exactly the ones it held), and after ``MAX_RESTARTS`` deaths it is
given up. Every window is decoded and committed exactly once (the service refuses a second
completion). When every actor is given up, or one window keeps failing, the pool raises
:class:`ServiceFailure` with one line saying so.
"""

from __future__ import annotations

import os
import time
from functools import lru_cache

import numpy as np

from pipelines._stream.config import StreamConfig
from pipelines._windows.graphs import WindowGraphs
from pipelines._windows.worker import WindowResult, WindowWorker
from qec import InputError, RunFailure, SparseEdgeWeights, pack_bits, unpack_bits

MAX_RESTARTS = 4
MAX_RERUNS_PER_WINDOW = 4


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


class ServiceFailure(RunFailure):
    """The decoding service cannot go on (its workers keep dying); the message says why."""


class RayPool:
    """A pool of decoder actors (the :class:`pipelines._stream.service.Pool` protocol).

    Args:
        config: the stream configuration (``config.workers`` actors).
        soft_cap: the soft-mode base weight, when windows come with per-shot weights.
        worker_class: the window worker each actor runs (default :class:`WindowWorker`; a
            subclass must pickle by value or be importable on every node).
        spread: place actors on different nodes where possible (Ray's SPREAD strategy).

    Windows go to the live actor with the fewest calls in flight. ``reruns`` counts windows
    re-submitted after their actor died, ``lost`` lists them as (actor, window index), and
    ``deaths`` counts each actor's deaths.
    """

    def __init__(self, *, config: StreamConfig, soft_cap: float | None = None,
                 spread: bool = False, worker_class: type = WindowWorker) -> None:
        import ray

        if config.workers < 1:
            raise InputError(f"workers={config.workers} must be >= 1 for a Ray pool")
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
        self.state = ["ok"] * config.workers       # ok | probing | dead
        self.deaths = [0] * config.workers
        self.probes: dict = {}   # ObjectRef -> worker whose restart it checks
        self.pending: dict = {}  # ObjectRef -> (key, index, dets, weights, worker, t0, tries)
        self.waiting: list = []  # submissions held while no actor is live
        self.lost: list[tuple[int, int]] = []

    @property
    def in_flight(self) -> int:
        return len(self.pending) + len(self.waiting)

    @property
    def reruns(self) -> int:
        return len(self.lost)

    def submit(self, key: tuple, index: int, dets: np.ndarray,
               weights: SparseEdgeWeights | None = None, *, tries: int = 0) -> None:
        live = [w for w, st in enumerate(self.state) if st == "ok"]
        if not live:
            self.waiting.append((key, index, dets, weights, tries))
            return
        worker = min(live, key=lambda w: self.load[w])
        ref = self.actors[worker].decode_packed.remote(index, pack_bits(dets), dets.shape[1],
                                                       weights)
        self.load[worker] += 1
        self.pending[ref] = (key, index, dets, weights, worker, time.perf_counter(), tries)

    def wait(self, timeout: float | None) -> list[tuple[tuple, WindowResult, int, float]]:
        import ray

        refs = [*self.pending, *self.probes]
        if not refs:
            if timeout:
                time.sleep(timeout)
            return []
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:  # collect everything else that is already done, without waiting
            ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        done = []
        for ref in ready:
            if ref in self.probes:
                self._probed(ref)
            else:
                done += self._collected(ref)
        return done

    def _collected(self, ref) -> list[tuple[tuple, WindowResult, int, float]]:
        import ray
        from ray.exceptions import RayActorError

        key, index, dets, weights, worker, t0, tries = self.pending.pop(ref)
        self.load[worker] -= 1
        try:
            flip, toggles, seconds = ray.get(ref)
        except RayActorError:  # the actor died with this call: decode the window elsewhere
            if tries >= MAX_RERUNS_PER_WINDOW:
                raise ServiceFailure(f"window {index} failed {tries + 1} times: the decoder "
                                     "actors keep dying") from None
            self._died(worker)
            self.lost.append((worker, index))
            self.submit(key, index, dets, weights, tries=tries + 1)
            return []
        result = WindowResult(index, flip, unpack_bits(toggles, dets.shape[1]), seconds)
        return [(key, result, worker, time.perf_counter() - t0)]

    def _died(self, worker: int) -> None:
        """A call of ``worker`` failed: stop using it until a probe shows it restarted."""
        if self.state[worker] != "ok":
            return                 # this death is already known
        self.deaths[worker] += 1
        self._probe(worker)

    def _probe(self, worker: int) -> None:
        if self.deaths[worker] > MAX_RESTARTS:
            self.state[worker] = "dead"
            if all(st == "dead" for st in self.state):
                raise ServiceFailure(f"all {self.num_workers} decoder actors died (each more "
                                     f"than {MAX_RESTARTS} times); the stream stops with "
                                     f"{self.in_flight} windows undecoded")
            return
        self.state[worker] = "probing"
        self.probes[self.actors[worker].where.remote()] = worker

    def _probed(self, ref) -> None:
        import ray
        from ray.exceptions import RayActorError

        worker = self.probes.pop(ref)
        try:
            ray.get(ref)
        except RayActorError:   # died again while restarting
            self.deaths[worker] += 1
            self._probe(worker)
            return
        self.state[worker] = "ok"
        held, self.waiting = self.waiting, []
        for key, index, dets, weights, tries in held:
            self.submit(key, index, dets, weights, tries=tries)

    def close(self) -> None:
        import ray

        for a in self.actors:
            ray.kill(a, no_restart=True)
        self.actors, self.pending, self.probes, self.waiting = [], {}, {}, []
