"""The two stages on Ray: matcher actors and pre-decoder actors, thin wrappers of plain classes.

Matcher stage (:class:`RayPool`): one actor per worker, each a :class:`WindowWorker` with its
own matchers (PyMatching holds the GIL, so parallel matching needs processes). The template
matching graph is built once on the driver and put in the object store; every actor (and
every restart of one) builds its window matchers from it. Pre-decoder stage
(:class:`RayPredecoderPool`): one actor per GPU (``num_gpus=1``) when the cluster has GPUs,
else one CPU actor, each a :class:`pipelines.BlockPredecoder` that runs a call's blocks from
many windows and streams in one forward pass.

Transport: a call carries a BATCH of jobs (the service sends what is ready, up to
``StreamConfig.batch_windows`` / ``batch_blocks``), so one call's fixed cost (about 1-3 ms on a
loaded 2-core machine, bench/stream_overhead.py) is shared by the whole batch. Events travel in
:func:`compact_bits`' form: bit-packed, or the indices of the set bits when that is smaller (a
window's artificial defects are a handful per shot).
Faults: see :mod:`pipelines._stream.actor_pool`.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

import numpy as np

from pipelines._stream.actor_pool import MAX_RESTARTS, ActorPool, ServiceFailure
from pipelines._stream.config import StreamConfig
from pipelines._stream.pools import BlockJob, CallDone, WindowJob
from pipelines._windows.graphs import WindowGraphs
from pipelines._windows.worker import WindowResult, WindowWorker
from qec import InputError, pack_bits, unpack_bits


def _where() -> tuple[str, int]:
    import ray

    return ray.get_runtime_context().get_node_id(), os.getpid()


class MatcherActor:
    """The matcher actor's body: a WindowWorker (or what ``worker_class`` builds)."""

    def __init__(self, config: StreamConfig, template, soft_cap: float | None,
                 worker_class: type = WindowWorker) -> None:
        self.worker = worker_class(task=config.task(), plan=config.plan(), template=template,
                                   soft_cap=soft_cap)
        self.worker.graphs.warm()

    def decode_many(self, jobs: list[tuple]) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """``[(index, encoded dets, weights), ...]`` (:func:`compact_bits`) -> per window
        ``(flip, encoded toggles, decode seconds)``."""
        out = []
        for index, dets, weights in jobs:
            r = self.worker.decode(index, expand_bits(dets), weights=weights)
            out.append((r.flip, compact_bits(r.toggles), r.decode_seconds))
        return out

    def where(self) -> tuple[str, int]:
        return _where()


class PredecoderActor:
    """The pre-decoder actor's body: a BlockPredecoder on this actor's device."""

    def __init__(self, task, net, policy, block_slices: int, worker_class: type | None) -> None:
        import torch

        from pipelines._decoders.blocks import BlockPredecoder

        device = "cuda" if torch.cuda.is_available() else "cpu"
        self.pre = (worker_class or BlockPredecoder)(
            task=task, net=net.to(device).eval(), policy=policy, block_slices=block_slices,
            device=device)

    def run_many(self, jobs: list[tuple]) -> list:
        """``[(t0, t1, encoded extended dets), ...]`` -> per block its BlockOutput with the
        syndrome encoded (:func:`compact_bits`)."""
        outs = self.pre.run_batch([(t0, t1, expand_bits(d)) for t0, t1, d in jobs])
        return [replace(o, syndrome=compact_bits(o.syndrome)) for o in outs]

    def where(self) -> tuple[str, int]:
        return _where()


@lru_cache(maxsize=2)
def _remote(impl: type):
    import ray

    return ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=0)(impl)


class _StagePool:
    """A stage's :class:`ActorPool` seen as a :class:`pipelines._stream.pools.Pool`."""

    def __init__(self, actors: list, *, what: str, unit: str) -> None:
        import ray

        from pipelines._stream.ray_session import auth_hint, one_line

        self.fleet = ActorPool(actors, what=what, unit=unit)
        self.num_workers = len(actors)
        try:
            self.placement = ray.get([a.where.remote() for a in actors])  # waits for warm-up
        except ray.exceptions.RayError as exc:
            self.fleet.close()
            raise ServiceFailure(f"the {what} actors could not start ({one_line(exc)}); "
                                 f"if they died at once, {auth_hint()}") from None

    @property
    def calls_in_flight(self) -> int:
        return self.fleet.calls_in_flight

    @property
    def lost(self) -> list[tuple[int, tuple]]:
        """(actor, job key) of every job run again after its actor died."""
        return [(w, job.key) for w, jobs in self.fleet.lost for job in jobs]

    @property
    def reruns(self) -> int:
        return len(self.lost)

    def held_by(self, worker: int) -> set[tuple]:
        """Keys of the jobs actor ``worker`` holds now."""
        return {j.key for c in self.fleet.calls() if c.worker == worker for j in c.tag}

    def pending_refs(self) -> list:
        return self.fleet.refs()

    def wait(self, timeout: float | None) -> list[CallDone]:
        return [CallDone(worker, seconds, tuple(zip((j.key for j in jobs),
                                                    self._unpack(jobs, value))))
                for jobs, value, worker, seconds in self.fleet.wait(timeout)]

    def _unpack(self, jobs: tuple, value: list) -> list:
        raise NotImplementedError

    def close(self) -> None:
        self.fleet.close()


class RayPool(_StagePool):
    """The matcher stage: ``config.workers`` decoder actors (a
    :class:`pipelines._stream.pools.Pool`).

    Args:
        config: the stream configuration.
        soft_cap: the soft-mode base weight, when windows come with per-shot weights.
        worker_class: the window worker each actor runs (default :class:`WindowWorker`; a
            subclass must pickle by value or be importable on every node).
        spread: place actors on different nodes where possible (Ray's SPREAD strategy).
    """

    def __init__(self, *, config: StreamConfig, soft_cap: float | None = None,
                 spread: bool = False, worker_class: type = WindowWorker) -> None:
        import ray

        if config.workers < 1:
            raise InputError(f"workers={config.workers} must be >= 1 for a Ray pool")
        template = WindowGraphs(config.task(), config.plan()).template_graph
        # Held for the pool's life: restarting actors read their constructor arguments again.
        self._template_ref = ray.put(template)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        opts: dict = {"num_cpus": min(1.0, cpus / config.workers)}
        if spread:
            opts["scheduling_strategy"] = "SPREAD"
        actor = _remote(MatcherActor).options(**opts)
        super().__init__([actor.remote(config, self._template_ref, soft_cap, worker_class)
                          for _ in range(config.workers)], what="decoder", unit="windows")

    def submit(self, jobs: Sequence[WindowJob]) -> None:
        payload = [(j.index, compact_bits(j.dets), j.weights) for j in jobs]
        self.fleet.submit(tuple(jobs), "decode_many", payload)

    def _unpack(self, jobs: tuple, value: list) -> list[WindowResult]:
        return [WindowResult(j.index, flip, expand_bits(toggles), seconds)
                for j, (flip, toggles, seconds) in zip(jobs, value)]


class RayPredecoderPool(_StagePool):
    """The pre-decoder stage: one actor per GPU of the cluster (``num_gpus=1`` each), or
    ``cpu_actors`` CPU actors when it has none.

    Args:
        predecoder: the driver's :class:`pipelines.BlockPredecoder` (its task, network,
            policy and block size are what the actors run).
        cpu_actors: actors when the cluster has no GPU.
        worker_class: what each actor runs (default :class:`pipelines.BlockPredecoder`; a
            subclass must pickle by value or be importable on every node).
    """

    def __init__(self, *, predecoder, cpu_actors: int = 1,
                 worker_class: type | None = None) -> None:
        import ray

        if isinstance(cpu_actors, bool) or not isinstance(cpu_actors, int) or cpu_actors < 1:
            raise InputError(f"cpu_actors={cpu_actors!r} must be an integer >= 1")
        gpus = int(ray.cluster_resources().get("GPU", 0))
        # Without GPUs the network shares the cores with the matchers; it asks Ray for no
        # CPU so that it can always be placed next to them (Ray's counts only place actors).
        opts = {"num_gpus": 1, "num_cpus": 1} if gpus else {"num_cpus": 0}
        self._net_ref = ray.put(copy.deepcopy(predecoder.net).cpu())
        actor = _remote(PredecoderActor).options(**opts)
        args = (predecoder.task, self._net_ref, predecoder.policy, predecoder.block_slices,
                worker_class)
        super().__init__([actor.remote(*args) for _ in range(gpus or cpu_actors)],
                         what="pre-decoder", unit="blocks")
        self.gpus = gpus

    def submit(self, jobs: Sequence[BlockJob]) -> None:
        payload = [(j.t0, j.t1, compact_bits(j.dets_ext)) for j in jobs]
        self.fleet.submit(tuple(jobs), "run_many", payload)

    def _unpack(self, jobs: tuple, value: list) -> list:
        return [replace(o, syndrome=expand_bits(o.syndrome)) for o in value]




def compact_bits(bits: np.ndarray) -> tuple:
    """An (S, D) bool array for the wire, whichever is smaller: bit-packed (dense events), or
    the int32 flat indices of the set entries (sparse: artificial defects, low-p events).
    Keeping a batch under Ray's 100 KiB inline-object limit halves a call's cost."""
    count = int(np.count_nonzero(bits))
    if 4 * count < bits.size // 8:
        return ("sparse", bits.shape, np.flatnonzero(bits).astype(np.int32))
    return ("packed", bits.shape, pack_bits(bits))


def expand_bits(encoded: tuple) -> np.ndarray:
    """The inverse of :func:`compact_bits`.

    Examples:
        >>> bits = np.zeros((2, 100), bool); bits[1, 7] = True
        >>> compact_bits(bits)[0], bool((expand_bits(compact_bits(bits)) == bits).all())
        ('sparse', True)
        >>> bits[:] = True
        >>> compact_bits(bits)[0], bool((expand_bits(compact_bits(bits)) == bits).all())
        ('packed', True)
    """
    kind, shape, data = encoded
    if kind == "packed":
        return unpack_bits(data, shape[1])
    out = np.zeros(shape, dtype=bool)
    out.flat[data] = True
    return out
