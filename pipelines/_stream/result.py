"""One paced stream through the service, and what it measured."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pipelines._stream.config import StreamConfig
from pipelines._stream.pools import Pool
from pipelines._stream.service import StageCall, StreamService, WindowCall
from pipelines._stream.source import RoundSource
from qec import InputError, StageStats


@dataclass(frozen=True)
class StreamResult:
    """Metrics of one paced stream (times in seconds unless the name says otherwise).

    ``rounds_per_second``: rounds (of all S shots at once) from the first slice's arrival to
    the last commit. ``window_latency``: per window, from the arrival of its last slice to its
    in-order commit. ``backlog``: (seconds, rounds received but not committed) after each
    event. ``kept_up``: the backlog never exceeded ``config.backlog_bound`` (with
    ``cycle_us`` = 0 every round arrives at once, so only a tiny experiment keeps up).
    ``n_par``: docs/design.md §4, N_par = 2·T_dec / ((T_link + T_cycle)(n_com + n_buf)) with
    T_dec the mean worker time per window and T_link = 0 (Ray's per-call overhead is measured
    apart, by ``bench/streaming.py``). ``mean_window_turnaround_us`` is submit-to-result time
    per window, queueing behind other in-flight windows included. :meth:`stage` summarises
    each stage's calls (batch sizes, work, turnaround, N_par). ``predictions``: the (S, O)
    bool logical flips the stream committed, shot by shot.
    """

    config: StreamConfig
    seconds: float
    rounds_per_second: float
    window_latency: tuple[float, ...]
    backlog: tuple[tuple[float, int], ...]
    windows_committed: int
    errors: int
    shots: int
    calls: tuple[WindowCall, ...] = field(repr=False)
    reruns: int = 0
    decoder: str = "windowed-pymatching"
    predecoder: StageStats | None = None
    stage_calls: tuple[StageCall, ...] = field(default=(), repr=False)
    block_reruns: int = 0
    predictions: np.ndarray | None = field(default=None, repr=False, compare=False)

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
            raise InputError(f"cycle_us={cycle} must be > 0 for N_par")
        t_dec = self.mean_decode_seconds
        period = self.config.plan().period
        return math.ceil(2 * t_dec / ((0.0 + cycle * 1e-6) * period))

    def stage(self, name: str, *, cycle_us: float = 1.0) -> dict:
        """One stage's figures: calls, jobs per call, the worker's time per job and per
        round, its rounds per second of work (one worker's capacity), mean turnaround per
        call, and N_par = workers that stage needs for a ``cycle_us`` cycle (its work per
        round over the cycle)."""
        calls = [c for c in self.stage_calls if c.stage == name]
        if not calls:
            return {}
        work = sum(c.work_seconds for c in calls)
        jobs = sum(c.jobs for c in calls)
        per_round = work / self.config.plan().num_slices
        return {"calls": len(calls), "jobs": jobs, "mean_jobs_per_call": jobs / len(calls),
                "work_seconds": work, "mean_job_work_us": work / jobs * 1e6,
                "work_us_per_round": per_round * 1e6,
                "rounds_per_work_second": 1 / max(per_round, 1e-12),
                "mean_call_turnaround_us": float(np.mean([c.call_seconds for c in calls])) * 1e6,
                "workers_used": len({c.worker for c in calls}),
                f"n_par_{cycle_us:g}us": math.ceil(per_round / (cycle_us * 1e-6))}

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
               "cycle_us": cfg.cycle_us, "n_com": cfg.plan().n_com, "n_buf": cfg.plan().n_buf,
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
        out["stages"] = {name: self.stage(name) for name in ("predecoder", "matcher")
                         if self.stage(name)}
        out["blocks_rerun"] = self.block_reruns
        if self.predecoder is not None:
            out["predecoder_us_per_round"] = self.predecoder.us_per_round
            out["sdr"] = self.predecoder.sdr
            out["residual_density"] = self.predecoder.density_out
        if cfg.cycle_us > 0:
            out["n_par"] = self.n_par()
        return out


def run_stream(
    config: StreamConfig, *, pool: Pool | None = None, source: RoundSource | None = None,
    predecoder=None, predecoder_pool: Pool | None = None,
    progress: Callable[[int, int], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> StreamResult:
    """Stream ``source`` (default: sampled from the config) through a service and measure it.

    Slices are pushed when due (their scheduled arrival time is what latency counts from);
    between arrivals the loop collects results. The pools are closed after draining.
    """
    source = source or RoundSource.from_task(config.task(), shots=config.shots,
                                             seed=config.seed, cycle_us=config.cycle_us)
    service = StreamService(config=config, pool=pool, predecoder=predecoder,
                            predecoder_pool=predecoder_pool, clock=clock)
    service.open("main", shots=source.dets.shape[0])
    state = service.streams["main"]
    try:
        start = service.now()
        for t, dets in source:
            due = start + source.due(t)
            while (remaining := due - service.now()) > 0:   # one clock read per decision
                service.poll(min(0.01, remaining))
            service.push("main", t, dets, arrival=due)
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
    decoder, stage = "windowed-pymatching", None
    if pre is not None:
        decoder = ("windowed-predecoder+soft-matching" if pre.policy.soft_mode
                   else "windowed-predecoder+pymatching")
        stage = StageStats(shots=state.shots, rounds=config.rounds,
                           num_detectors=state.layout.num_detectors,
                           seconds=state.predecoder_seconds, events_in=int(state.raw.sum()),
                           events_out=int(state.dets.sum()))
    return StreamResult(config=config, seconds=end - start,
                        rounds_per_second=source.num_slices / max(end - start, 1e-12),
                        window_latency=latency, backlog=tuple(service.backlog["main"]),
                        windows_committed=state.committed, errors=errors,
                        shots=source.dets.shape[0], calls=tuple(service.calls),
                        reruns=service.pool.reruns, decoder=decoder, predecoder=stage,
                        stage_calls=tuple(service.stage_calls),
                        block_reruns=(service.predecoder_pool.reruns
                                      if service.predecoder_pool is not None else 0),
                        predictions=state.flip.copy())
