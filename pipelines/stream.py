"""The streaming decoder: rounds arrive, windows become ready, workers decode, a sink commits.

One detector *slice* per syndrome round (T = rounds + 1 slices; the last one comes from the
final data measurement) arrives for S shots at once (S parallel streams decoded in lockstep,
one batched call per window). The :class:`StreamService` validates every slice at the boundary,
keeps the received slices, dispatches each window as soon as it is ready (an A window once its
last slice arrived; a B window once both neighbouring A windows committed) to a worker pool
with a bound on in-flight work, and commits windows strictly in time order. When decoding falls
behind, ready windows wait in the service and the backlog (rounds received but not yet
committed) grows; nothing is dropped or reordered.

With the AI pre-decoder (``predecoder=`` a :class:`pipelines.predecoder_blocks.BlockPredecoder`),
the service pre-decodes each block of slices as soon as the slices it reads (the block and its
halo) have arrived, and the windows decode the residual (hard mode) or the residual with the
block's per-shot weights (soft mode); a window becomes ready once every block that owns edges
in it is done. The prediction is the windows' flip XOR the pre-decoder's flip.

Pools: :class:`InProcessPool` (``workers=0``) and ``pipelines.ray_service.RayPool``.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from pipelines.window_graphs import SliceLayout
from pipelines.windows import WindowPlan, WindowResult, WindowWorker, check_dets
from qec import NoiseModel, SparseEdgeWeights, Task, pack_bits, sample_detectors, unpack_bits


@dataclass(frozen=True)
class StreamConfig:
    """What a stream decodes and how.

    Args:
        distance, rounds, basis, noise: the memory experiment (a :class:`qec.Task`).
        shots: parallel streams decoded in lockstep (S).
        cycle_us: microseconds between rounds at the source; 0 = all rounds at once.
        workers: decoder processes (Ray actors); 0 = decode in-process.
        n_com, n_buf: commit and buffer slices per window (0 = distance).
        max_in_flight: windows dispatched but not returned (0 = 2 per worker, at least 2).

    Examples:
        >>> c = StreamConfig(distance=3, rounds=30, noise=NoiseModel.uniform(0.001))
        >>> c.plan().n_com, len(c.plan().windows), c.in_flight_limit
        (3, 11, 2)
    """

    distance: int
    rounds: int
    noise: NoiseModel
    basis: str = "X"
    shots: int = 1
    cycle_us: float = 1.0
    workers: int = 0
    n_com: int = 0
    n_buf: int = 0
    max_in_flight: int = 0
    seed: int = 1

    def __post_init__(self) -> None:
        self.task()  # validates distance, rounds, basis, noise
        for name in ("shots", "workers", "n_com", "n_buf", "max_in_flight", "seed"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < (1 if name == "shots" else 0):
                rule = ">= 1" if name == "shots" else ">= 0"
                raise ValueError(f"{name}={v!r} must be an integer {rule}")
        if not (isinstance(self.cycle_us, (int, float)) and math.isfinite(self.cycle_us)
                and self.cycle_us >= 0):
            raise ValueError(f"cycle_us={self.cycle_us!r} must be a number >= 0")
        for name in ("n_com", "n_buf"):
            if getattr(self, name) == 0:
                object.__setattr__(self, name, self.distance)

    def task(self) -> Task:
        return Task(distance=self.distance, noise=self.noise, rounds=self.rounds,
                    basis=self.basis)

    def plan(self) -> WindowPlan:
        return WindowPlan(num_slices=self.rounds + 1, n_com=self.n_com, n_buf=self.n_buf)

    @property
    def in_flight_limit(self) -> int:
        return self.max_in_flight or max(2, 2 * self.workers)

    @property
    def backlog_bound(self) -> int:
        """Rounds a decoder that keeps up may still hold: one A+B period, both buffers, and
        one more window of decoding latency."""
        return 2 * (self.n_com + 2 * self.n_buf)


class RoundSource:
    """Slices of S shots of a memory experiment, emitted one round per ``cycle_us``.

    Args:
        dets: (S, D) bool detection events of the whole experiment (sampled once).
        obs: (S, O) bool true observable flips (to score the stream's predictions).
        layout: the experiment's :class:`SliceLayout`.
        cycle_us: microseconds between slices; 0 = every slice is due at once.
    """

    def __init__(self, *, dets: np.ndarray, obs: np.ndarray, layout: SliceLayout,
                 cycle_us: float) -> None:
        self.dets = check_dets(dets, layout.num_detectors, "dets")
        self.obs = np.asarray(obs, dtype=bool)
        if self.obs.ndim != 2 or self.obs.shape[0] != self.dets.shape[0]:
            raise ValueError(f"obs has shape {self.obs.shape}; expected ({self.dets.shape[0]}, O)")
        self.layout, self.cycle_us = layout, float(cycle_us)

    @classmethod
    def from_task(cls, task: Task, *, shots: int, seed: int, cycle_us: float) -> RoundSource:
        """Sample ``shots`` shots of the whole experiment once (stim, seeded)."""
        layout = SliceLayout.of_task(task)
        chunk = next(sample_detectors(task.circuit(), shots=shots, seed=seed,
                                      chunk_shots=shots))
        return cls(dets=unpack_bits(chunk.dets, layout.num_detectors).astype(bool),
                   obs=unpack_bits(chunk.obs, 1).astype(bool), layout=layout,
                   cycle_us=cycle_us)

    @classmethod
    def from_file(cls, path: Path, *, task: Task, cycle_us: float) -> RoundSource:
        """Load an ``.npz`` written by :meth:`save` (bit-packed ``dets`` and ``obs``)."""
        layout = SliceLayout.of_task(task)
        with np.load(path) as data:
            if "dets" not in data or "obs" not in data:
                raise ValueError(f"path={str(path)!r} must hold arrays 'dets' and 'obs'")
            dets = unpack_bits(data["dets"], layout.num_detectors).astype(bool)
            obs = unpack_bits(data["obs"], 1).astype(bool)
        return cls(dets=dets, obs=obs, layout=layout, cycle_us=cycle_us)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, dets=pack_bits(self.dets), obs=pack_bits(self.obs))

    @property
    def num_slices(self) -> int:
        return self.layout.num_slices

    def due(self, t: int) -> float:
        """Seconds after the start at which slice t arrives."""
        return t * self.cycle_us * 1e-6

    def slice(self, t: int) -> np.ndarray:
        """(S, D_t) bool detectors of slice t."""
        return self.dets[:, self.layout.start(t):self.layout.start(t + 1)]

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        return ((t, self.slice(t)) for t in range(self.num_slices))


class _StreamState:
    """One stream's received slices, pre-decoded blocks, pending artificial defects and
    in-order commits. ``dets`` holds the residual once the pre-decoder has run on a block."""

    def __init__(self, *, worker: WindowWorker, shots: int, predecoder=None) -> None:
        self.worker, self.plan, self.layout = worker, worker.plan, worker.layout
        self.shots, self.predecoder = shots, predecoder
        self.dets = np.zeros((shots, self.layout.num_detectors), dtype=bool)
        self.raw = self.dets if predecoder is None else self.dets.copy()
        self.blocks = list(predecoder.blocks()) if predecoder is not None else []
        self.block_weights: dict[int, SparseEdgeWeights] = {}
        self.predecoded = 0 if predecoder is not None else None  # blocks done, in order
        self.predecoder_seconds = 0.0
        self.received = 0  # slices received
        self.arrival: list[float] = []  # seconds, per slice
        self.dispatched: set[int] = set()
        self.results: dict[int, WindowResult] = {}
        self.b_toggles: dict[int, np.ndarray] = {}
        self.committed = 0  # windows committed, in order
        self.commit_time: dict[int, float] = {}
        self.flip = np.zeros((shots, worker.num_observables), dtype=bool)
        self._a_order = [w.index for w in self.plan.windows if w.layer == "A"]  # by time
        self._next_a = 0
        self._b_waiting: set[int] = set()  # B windows with a committed neighbour

    def push(self, t: int, dets: np.ndarray, arrival: float) -> None:
        if t != self.received:
            raise ValueError(f"slice t={t} arrived out of order; expected t={self.received}")
        if t >= self.layout.num_slices:
            raise ValueError(f"slice t={t} is past the experiment's last slice "
                             f"{self.layout.num_slices - 1}")
        size = self.layout.size(t)
        dets = check_dets(dets, size, f"slice {t}")
        if dets.shape[0] != self.shots:
            raise ValueError(f"slice {t} has {dets.shape[0]} shots; the stream has {self.shots}")
        self.dets[:, self.layout.start(t):self.layout.start(t + 1)] = dets
        if self.raw is not self.dets:
            self.raw[:, self.layout.start(t):self.layout.start(t + 1)] = dets
        self.received += 1
        self.arrival.append(arrival)
        self._predecode()

    def _predecode(self) -> None:
        """Run every block whose slices (and halo) have all arrived, in time order."""
        while self.predecoded is not None and self.predecoded < len(self.blocks):
            t0, t1 = self.blocks[self.predecoded]
            e0, e1 = self.predecoder.extended(t0, t1)
            if e1 > self.received:
                return
            out = self.predecoder.run(t0, t1, self.raw[:, self.layout.start(e0):
                                                        self.layout.start(e1)])
            self.dets[:, out.det_lo:out.det_hi] ^= out.syndrome
            self.flip ^= out.flip
            if out.weights is not None:
                self.block_weights[self.predecoded] = out.weights
            self.predecoder_seconds += out.seconds
            self.predecoded += 1

    @property
    def final_slices(self) -> int:
        """Slices whose input to the windows is final (residual: their blocks are done)."""
        if self.predecoded is None:
            return self.received
        return self.blocks[self.predecoded - 1][1] if self.predecoded else 0

    def window_weights(self, index: int) -> SparseEdgeWeights | None:
        """Soft mode: the per-shot weights of the blocks owning edges in window ``index``."""
        if not self.block_weights:
            return None
        w, n = self.plan.windows[index], self.predecoder.block_slices
        # blocks own anchors [k n, (k + 1) n); the window needs anchors lo - 1 .. hi - 1
        ks = range(max(0, w.lo - 1) // n, (w.hi - 1) // n + 1)
        return SparseEdgeWeights.concat([self.block_weights[k] for k in ks])

    def ready(self) -> list[int]:
        """Windows not yet dispatched whose inputs are complete (A: all slices final;
        B: both neighbouring A windows done). Amortised O(1) per call."""
        out = []
        while (self._next_a < len(self._a_order)
               and self.plan.windows[self._a_order[self._next_a]].hi <= self.final_slices):
            out.append(self._a_order[self._next_a])
            self._next_a += 1
        for b in sorted(self._b_waiting):
            w = self.plan.windows[b]
            if w.hi <= self.final_slices and all(a in self.results for a in w.depends):
                out.append(b)
                self._b_waiting.discard(b)
        return out

    def window_input(self, index: int) -> np.ndarray:
        w = self.plan.windows[index]
        lo, hi = self.worker.window_range(w)
        out = self.dets[:, lo:hi].copy()
        if w.layer == "B":
            out ^= self.b_toggles.get(index, False)
        return out

    def complete(self, result: WindowResult, now: float) -> list[int]:
        """Store a window's result; return the windows this commits (in order)."""
        if result.index in self.results:
            raise RuntimeError(f"window {result.index} completed twice")
        self.results[result.index] = result
        w = self.plan.windows[result.index]
        for b in (result.index - 1, result.index + 1) if w.layer == "A" else ():
            if 0 <= b < len(self.plan.windows):
                self._b_waiting.add(b)
                part = self.worker.toggles_into(w, result.toggles, self.plan.windows[b])
                self.b_toggles[b] = self.b_toggles.get(b, False) ^ part
        done = []
        while self.committed in self.results:
            self.flip ^= self.results[self.committed].flip
            self.commit_time[self.committed] = now
            done.append(self.committed)
            self.committed += 1
        return done

    @property
    def finished(self) -> bool:
        return self.committed == len(self.plan.windows)

    @property
    def committed_slices(self) -> int:
        return self.plan.windows[self.committed - 1].commit_hi if self.committed else 0


class Pool(Protocol):
    """Decoder workers: submit windows, collect results (any order)."""

    num_workers: int

    def submit(self, key: tuple, index: int, dets: np.ndarray,
               weights: SparseEdgeWeights | None = None) -> None: ...

    def wait(self, timeout: float | None) -> list[tuple[tuple, WindowResult, int, float]]: ...

    @property
    def in_flight(self) -> int: ...

    def close(self) -> None: ...


class InProcessPool:
    """``workers=0``: decode each window synchronously in this process."""

    num_workers = 1

    def __init__(self, worker: WindowWorker) -> None:
        self.worker = worker
        self._done: list[tuple[tuple, WindowResult, int, float]] = []
        self.reruns = 0

    def submit(self, key: tuple, index: int, dets: np.ndarray,
               weights: SparseEdgeWeights | None = None) -> None:
        t0 = time.perf_counter()
        result = self.worker.decode(index, dets, weights=weights)
        self._done.append((key, result, 0, time.perf_counter() - t0))

    def wait(self, timeout: float | None) -> list[tuple[tuple, WindowResult, int, float]]:
        done, self._done = self._done, []
        if not done and timeout:
            time.sleep(timeout)
        return done

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def close(self) -> None:
        self._done = []


@dataclass
class _Call:
    worker: int
    index: int
    decode_seconds: float
    call_seconds: float
    commit_rounds: int


class StreamService:
    """Decodes any number of streams of one experiment type on one worker pool.

    Every slice is validated at :meth:`push` (dtype, shape, order) before anything is stored,
    so a malformed slice raises ``TypeError``/``ValueError`` and changes nothing: that stream
    may retry, and every other stream goes on.

    Examples:
        >>> cfg = StreamConfig(distance=3, rounds=9, noise=NoiseModel.uniform(0.001))
        >>> svc = StreamService(config=cfg)
        >>> svc.open("q0", shots=2)
        >>> for t in range(10):
        ...     svc.push("q0", t, np.zeros((2, svc.worker.layout.size(t)), dtype=bool))
        >>> svc.drain(); svc.prediction("q0").tolist()
        [[False], [False]]
        >>> svc.open("q1", shots=2)
        >>> svc.push("q1", 0, np.zeros((2, 4), dtype=np.int32))
        Traceback (most recent call last):
        ...
        TypeError: slice 0 has dtype int32; expected bool or uint8 (0/1)
    """

    def __init__(self, *, config: StreamConfig, pool: Pool | None = None,
                 predecoder=None) -> None:
        self.config, self.predecoder = config, predecoder
        self.worker = WindowWorker(task=config.task(), plan=config.plan(),
                                   soft_cap=soft_cap_of(predecoder))
        if pool is None:
            self.worker.graphs.warm()  # build the matchers before the clock starts
            pool = InProcessPool(self.worker)
        self.pool = pool
        self.streams: dict[str, _StreamState] = {}
        self.queue: deque[tuple[str, int]] = deque()  # ready, waiting for an in-flight slot
        self.backlog: dict[str, list[tuple[float, int]]] = {}
        self.calls: list[_Call] = []
        self.t0 = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def open(self, stream_id: str, *, shots: int) -> None:
        if stream_id in self.streams:
            raise ValueError(f"stream_id={stream_id!r} is already open")
        if isinstance(shots, bool) or not isinstance(shots, int) or shots < 1:
            raise ValueError(f"shots={shots!r} must be an integer >= 1")
        self.streams[stream_id] = _StreamState(worker=self.worker, shots=shots,
                                               predecoder=self.predecoder)
        self.backlog[stream_id] = []

    def push(self, stream_id: str, t: int, dets: np.ndarray, *,
             arrival: float | None = None) -> None:
        """Receive slice t of a stream: (S, D_t) bool or 0/1 uint8."""
        state = self._state(stream_id)
        state.push(t, dets, self.now() if arrival is None else arrival)
        self._record(stream_id)
        self._enqueue(stream_id)
        self._dispatch()

    def poll(self, timeout: float | None = 0.0) -> int:
        """Collect finished windows (waiting up to ``timeout`` s); return how many."""
        done = self.pool.wait(timeout)
        for (stream_id, index), result, worker, call_s in done:
            state = self.streams[stream_id]
            w = self.worker.plan.windows[index]
            self.calls.append(_Call(worker, index, result.decode_seconds, call_s,
                                    w.commit_rounds))
            if state.complete(result, self.now()):
                self._record(stream_id)
            self._enqueue(stream_id)
        self._dispatch()
        return len(done)

    def drain(self) -> None:
        """Finish all dispatched and queued work (streams whose slices all arrived finish)."""
        while self.queue or self.pool.in_flight:
            self.poll(0.05)

    def close(self, *, drain: bool = True) -> None:
        if drain:
            self.drain()
        self.pool.close()

    def prediction(self, stream_id: str) -> np.ndarray:
        """(S, O) bool observable prediction of a finished stream."""
        state = self._state(stream_id)
        if not state.finished:
            raise ValueError(f"stream_id={stream_id!r} has committed {state.committed} of "
                             f"{len(state.plan.windows)} windows")
        return state.flip.copy()

    def _state(self, stream_id: str) -> _StreamState:
        if stream_id not in self.streams:
            raise ValueError(f"stream_id={stream_id!r} is not open")
        return self.streams[stream_id]

    def _record(self, stream_id: str) -> None:
        s = self.streams[stream_id]
        self.backlog[stream_id].append((self.now(), s.received - s.committed_slices))

    def _enqueue(self, stream_id: str) -> None:
        state = self.streams[stream_id]
        for index in state.ready():
            if index in state.dispatched:
                raise RuntimeError(f"window {index} of stream {stream_id!r} became ready twice")
            state.dispatched.add(index)
            self.queue.append((stream_id, index))

    def _dispatch(self) -> None:
        while self.queue and self.pool.in_flight < self.config.in_flight_limit:
            stream_id, index = self.queue.popleft()
            state = self.streams[stream_id]
            self.pool.submit((stream_id, index), index, state.window_input(index),
                             state.window_weights(index))


def soft_cap_of(predecoder) -> float | None:
    """The soft-mode base weight the window workers need (None without soft mode)."""
    if predecoder is None or not predecoder.policy.soft_mode:
        return None
    return predecoder.policy.cap


@dataclass(frozen=True)
class StreamResult:
    """Metrics of one paced stream (times in seconds unless the name says otherwise).

    ``rounds_per_second``: rounds (of all S shots at once) from the first slice's arrival to
    the last commit. ``window_latency``: per window, from the arrival of its last slice to its
    in-order commit. ``backlog``: (seconds, rounds received but not committed) after each
    event. ``kept_up``: the backlog never exceeded ``config.backlog_bound`` (with
    ``cycle_us`` = 0 every round arrives at once, so only a tiny experiment keeps up).
    ``n_par``: DESIGN §7, N_par = 2·T_dec / ((T_link + T_cycle)(n_com + n_buf)) with T_dec the
    mean worker time per window and T_link = 0 (Ray's per-call overhead is measured apart, by
    ``bench/streaming.py``). ``mean_window_turnaround_us`` is submit-to-result time per window,
    queueing behind other in-flight windows included.
    """

    config: StreamConfig
    seconds: float
    rounds_per_second: float
    window_latency: tuple[float, ...]
    backlog: tuple[tuple[float, int], ...]
    windows_committed: int
    errors: int
    shots: int
    calls: tuple[_Call, ...] = field(repr=False)
    reruns: int = 0
    decoder: str = "windowed-pymatching"
    predecoder_seconds: float = 0.0
    sdr: float | None = None

    @property
    def max_backlog_rounds(self) -> int:
        return max((b for _, b in self.backlog), default=0)

    @property
    def kept_up(self) -> bool:
        return self.max_backlog_rounds <= self.config.backlog_bound

    def latency_us(self, q: float) -> float:
        return float(np.percentile(self.window_latency, q)) * 1e6

    @property
    def mean_decode_seconds(self) -> float:
        return float(np.mean([c.decode_seconds for c in self.calls]))

    @property
    def mean_call_seconds(self) -> float:
        return float(np.mean([c.call_seconds for c in self.calls]))

    def n_par(self, *, cycle_us: float | None = None) -> int:
        """Workers needed to keep up at ``cycle_us`` (default: the stream's own cycle)."""
        cycle = self.config.cycle_us if cycle_us is None else cycle_us
        if cycle <= 0:
            raise ValueError(f"cycle_us={cycle} must be > 0 for N_par")
        t_dec = self.mean_decode_seconds
        period = self.config.n_com + self.config.n_buf
        return math.ceil(2 * t_dec / ((0.0 + cycle * 1e-6) * period))

    def per_worker(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for c in self.calls:
            w = out.setdefault(str(c.worker), {"windows": 0, "decode_seconds": 0.0,
                                               "commit_rounds": 0})
            w["windows"] += 1
            w["decode_seconds"] += c.decode_seconds
            w["commit_rounds"] += c.commit_rounds
        for w in out.values():
            w["rounds_per_second"] = w["commit_rounds"] / max(w["decode_seconds"], 1e-12)
        return out

    def to_json(self, max_points: int = 100) -> dict:
        from qec import DecodeStats

        stats = DecodeStats(decoder=self.decoder, shots=self.shots, errors=self.errors,
                            seconds=self.seconds, rounds=self.config.rounds)
        step = max(1, len(self.backlog) // max_points)
        cfg = self.config
        out = {"workers": cfg.workers, "rounds": cfg.rounds, "shots": cfg.shots,
               "cycle_us": cfg.cycle_us, "n_com": cfg.n_com, "n_buf": cfg.n_buf,
               "seconds": self.seconds, "rounds_per_second": self.rounds_per_second,
               "window_latency_us_p50": self.latency_us(50),
               "window_latency_us_p99": self.latency_us(99),
               "kept_up": self.kept_up, "backlog_bound_rounds": cfg.backlog_bound,
               "max_backlog_rounds": self.max_backlog_rounds,
               "backlog": [[round(t, 6), b] for t, b in self.backlog[::step]],
               "windows_committed": self.windows_committed, "windows_rerun": self.reruns,
               "mean_window_decode_us": self.mean_decode_seconds * 1e6,
               "mean_window_turnaround_us": self.mean_call_seconds * 1e6,
               "per_worker": self.per_worker(),
               "decoders": {self.decoder: stats.to_json()}}
        if self.sdr is not None:
            out["predecoder_us_per_round"] = (self.predecoder_seconds * 1e6
                                              / max(self.shots * cfg.rounds, 1))
            out["sdr"] = self.sdr
        if cfg.cycle_us > 0:
            out["n_par"] = self.n_par()
        return out


def run_stream(
    config: StreamConfig, *, pool: Pool | None = None, source: RoundSource | None = None,
    predecoder=None, progress: Callable[[int, int], None] | None = None,
) -> StreamResult:
    """Stream ``source`` (default: sampled from the config) through a service and measure it.

    Slices are pushed when due (their scheduled arrival time is what latency counts from);
    between arrivals the loop collects results. The pool is closed after draining.
    """
    source = source or RoundSource.from_task(config.task(), shots=config.shots,
                                             seed=config.seed, cycle_us=config.cycle_us)
    service = StreamService(config=config, pool=pool, predecoder=predecoder)
    service.open("main", shots=source.dets.shape[0])
    state = service.streams["main"]
    try:
        start = service.now()
        for t, dets in source:
            while service.now() < start + source.due(t):
                service.poll(min(0.01, start + source.due(t) - service.now()))
            service.push("main", t, dets, arrival=start + source.due(t))
            if progress is not None:
                progress(state.committed, len(state.plan.windows))
        service.drain()
    finally:
        service.close(drain=False)
    return _result(config, service, source, start)


def _result(config: StreamConfig, service: StreamService, source: RoundSource,
            start: float) -> StreamResult:
    state = service.streams["main"]
    end = max(state.commit_time.values())
    latency = tuple(state.commit_time[w.index] - state.arrival[w.hi - 1]
                    for w in state.plan.windows)
    errors = int(np.any(state.flip != source.obs, axis=1).sum())
    pre = service.predecoder
    decoder, sdr = "windowed-pymatching", None
    if pre is not None:
        decoder = ("windowed-predecoder+soft-matching" if pre.policy.soft_mode
                   else "windowed-predecoder+pymatching")
        sdr = float(state.raw.sum()) / max(float(state.dets.sum()), 1.0)
    return StreamResult(config=config, seconds=end - start,
                        rounds_per_second=source.num_slices / max(end - start, 1e-12),
                        window_latency=latency, backlog=tuple(service.backlog["main"]),
                        windows_committed=state.committed, errors=errors,
                        shots=source.dets.shape[0], calls=tuple(service.calls),
                        reruns=getattr(service.pool, "reruns", 0), decoder=decoder,
                        predecoder_seconds=state.predecoder_seconds, sdr=sdr)
