"""Drive a running decoding service with stim-generated blocks and measure it.

The blocks (``blocks`` requests of ``shots`` shots of the service's task, seeded) are sampled
here, then sent by ``clients`` processes, each with ``concurrency`` kept-alive connections.
With ``rate`` > 0 block i is due at i / rate seconds (open loop: a block goes out when it is
due, whether earlier ones were answered or not, as long as a connection is free); with rate 0
every block is due at once and the connections send as fast as answers come back.

Reported (:class:`LoadResult`): throughput (shots/s and rounds/s of all answered blocks over
the run), latency per block (send to answer) p50/p99/p99.9 and lateness (due to send, what a
service that falls behind makes grow), the backlog over time (blocks due but not answered),
the LER of the returned predictions against the sampled observables (Wilson 95%), the
per-stage service timings and N_par per stage for a 1 µs cycle, and the accounting: every
block answered exactly once, none missing, how many needed a retry inside the service, how
many the clients sent again (a lost answer), and what the service's own ledger counted for
this run's client id (blocks decoded, re-sends answered from the ledger): the service, not
the client, says whether a block was decoded twice or never.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import queue
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from pipelines._serve.client import RETRY_S, ServiceClient, ServiceError
from qec import DecodeStats, InputError, RunFailure, sample_detectors, unpack_bits
from qec.budget import available_memory_bytes

MAX_TOTAL_SHOTS = 100_000_000
log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class LoadConfig:
    """What to send: see the module docstring."""

    url: str
    blocks: int = 200
    shots: int = 64
    rate: float = 0.0
    clients: int = 2
    concurrency: int = 2
    seed: int = 1
    timeout_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("blocks", "shots", "clients", "concurrency"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name}={v!r} must be an integer >= 1")
        if self.blocks * self.shots > MAX_TOTAL_SHOTS:
            raise InputError(f"blocks={self.blocks} x shots={self.shots} = "
                             f"{self.blocks * self.shots:,} shots is more than one load test "
                             f"samples ({MAX_TOTAL_SHOTS:,}); send fewer or smaller blocks")
        if not (isinstance(self.rate, (int, float)) and math.isfinite(self.rate)
                and self.rate >= 0):
            raise InputError(f"rate={self.rate!r} must be a number >= 0 (0: as fast as "
                             "answers come)")


@dataclass(frozen=True)
class Record:
    """One block's fate, on the wall clock (seconds since the epoch)."""

    block: int
    due: float
    sent: float
    answered: float
    status: int
    predictions: np.ndarray | None
    timings_us: dict
    retried: bool
    error: str = ""
    resent: int = 0           # times the client sent it again (its answer was lost)
    replayed: bool = False    # answered from the service's ledger


def _client_main(url: str, jobs: list, concurrency: int, timeout_s: float, client_id: str,
                 ready, go, start, out) -> None:
    """One client process: ``concurrency`` connections, each in a thread, blocks in due order
    (due = the shared start time + the block's offset)."""
    todo: queue.Queue = queue.Queue()
    for job in jobs:
        todo.put(job)
    records: list[Record] = []
    lock = threading.Lock()
    clients = [ServiceClient(url, timeout_s=timeout_s, client_id=client_id)
               for _ in range(concurrency)]
    for client in clients:
        client.health()                     # connected and warm before the clock starts
    ready.wait()                            # every client process is up,
    go.wait()                               # and the start time is set
    t0 = start.value

    def worker(client: ServiceClient) -> None:
        while True:
            try:
                block, offset, dets = todo.get_nowait()
            except queue.Empty:
                break
            due = t0 + offset
            time.sleep(max(0.0, due - time.time()))
            sent, resends = time.time(), client.resends
            try:
                r = client.decode_response(dets, block_id=str(block))
                rec = Record(block, due, sent, time.time(), 200, r.predictions, r.timings_us,
                             r.retried, resent=client.resends - resends, replayed=r.replayed)
            except ServiceError as exc:
                rec = Record(block, due, sent, time.time(), exc.status, None, {}, False,
                             str(exc), resent=client.resends - resends)
            with lock:
                records.append(rec)
        client.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(records)


@dataclass(frozen=True)
class LoadResult:
    """What a load test measured (module docstring); :meth:`to_json` for the record."""

    config: LoadConfig
    task: dict
    records: tuple[Record, ...] = field(repr=False)
    obs: np.ndarray = field(repr=False)
    rounds: int = 0
    client_id: str = ""
    ledger: dict | None = None    # the service's ledger counts for client_id, after the run

    @property
    def ok(self) -> list[Record]:
        return [r for r in self.records if r.status == 200]

    def accounting(self) -> dict:
        """The client's view (answers received) and the service's (its ledger): a block
        decoded twice shows as ``service_duplicates``, one never decoded as
        ``service_missing``."""
        ids = [r.block for r in self.ok]
        out = {"blocks": self.config.blocks, "answered": len(ids),
               "answered_twice": len(ids) - len(set(ids)),
               "missing": self.config.blocks - len(set(ids)),
               "failed": len(self.records) - len(ids),
               "retried_in_service": sum(r.retried for r in self.ok),
               "resent_by_client": sum(r.resent for r in self.records),
               "answered_from_ledger": sum(r.replayed for r in self.ok)}
        if self.ledger is not None:
            decoded = self.ledger["answered"]
            out["service"] = {**{k: v for k, v in self.ledger.items() if k != "client"},
                              "duplicates": max(0, decoded - self.config.blocks),
                              "missing": max(0, self.config.blocks - decoded)}
        return out

    def backlog(self) -> list[tuple[float, int]]:
        """(seconds since the first due time, blocks due but not answered) at every event."""
        t0 = min(r.due for r in self.records)
        events = sorted([(r.due - t0, 1) for r in self.records]
                        + [(r.answered - t0, -1) for r in self.records])
        out, level = [], 0
        for t, step in events:
            level += step
            out.append((t, level))
        return out

    def to_json(self, max_points: int = 200) -> dict:
        ok = self.ok
        latency = np.array([r.answered - r.sent for r in ok]) * 1e3
        late = np.array([r.sent - r.due for r in ok]) * 1e3
        start = min(r.due for r in self.records)
        span = max(r.answered for r in self.records) - start
        shots = self.config.shots * len(ok)
        wrong = sum(int(np.any(r.predictions != self.obs[r.block], axis=1).sum()) for r in ok)
        stats = DecodeStats(decoder="service", shots=max(shots, 1), errors=wrong,
                            seconds=span, rounds=self.rounds)
        backlog = self.backlog()
        step = max(1, len(backlog) // max_points)
        stages = sorted({k for r in ok for k in r.timings_us})
        per_stage = {s: float(np.mean([r.timings_us.get(s, 0.0) for r in ok])) for s in stages}
        per_round = {s: us / (self.config.shots * self.rounds) for s, us in per_stage.items()}
        q = [50, 99, 99.9]
        return {
            "config": {k: getattr(self.config, k) for k in ("url", "blocks", "shots", "rate",
                                                           "clients", "concurrency", "seed")},
            "client_id": self.client_id,
            "task": self.task, "seconds": span, "accounting": self.accounting(),
            "shots_per_second": shots / span, "rounds_per_second": shots * self.rounds / span,
            "latency_ms": dict(zip(("p50", "p99", "p99.9"),
                                   np.percentile(latency, q).tolist())) if ok else {},
            "lateness_ms": dict(zip(("p50", "p99", "max"),
                                    [*np.percentile(late, q[:2]).tolist(), float(late.max())]))
            if ok else {},
            "max_backlog_blocks": max(b for _, b in backlog),
            "backlog": [[round(t, 4), b] for t, b in backlog[::step]],
            "ler": stats.to_json(),
            "stage_us_per_block": per_stage,
            "stage_us_per_shot_round": per_round,
            "n_par_1us": {s: math.ceil(us / 1.0) for s, us in per_round.items()},
        }


def run_loadtest(config: LoadConfig) -> LoadResult:
    """Sample the blocks, send them from ``config.clients`` processes, collect every answer,
    then read what the service's ledger counted for this run."""
    probe = ServiceClient(config.url, timeout_s=config.timeout_s)
    health = probe.health()
    task = probe.task()
    num_det, num_obs = task.circuit().num_detectors, task.circuit().num_observables
    _check_memory(config, num_det + num_obs)
    chunks = sample_detectors(task.circuit(), shots=config.blocks * config.shots,
                              seed=config.seed, chunk_shots=config.shots)
    blocks, obs = [], []
    for chunk in chunks:
        blocks.append(unpack_bits(chunk.dets, num_det))
        obs.append(unpack_bits(chunk.obs, num_obs))
    client_id = f"loadtest-{secrets.token_hex(6)}"      # this run's blocks in the ledger
    records = _send(config, blocks, client_id)
    ledger = ServiceClient(config.url, timeout_s=config.timeout_s, client_id=client_id)
    try:
        counts = ledger.ledger()
    except ServiceError as exc:   # the service went away after the last answer
        log.warning("the service's ledger could not be read after the run (%s)", exc)
        counts = None
    ledger.close()
    probe.close()
    return LoadResult(config, health["task"], tuple(records), np.stack(obs), task.rounds,
                      client_id, counts)


def _check_memory(config: LoadConfig, bits_per_shot: int) -> None:
    """Refuse a load test whose blocks (held unpacked here and in the clients) cannot fit."""
    need = 2 * config.blocks * config.shots * bits_per_shot
    available = available_memory_bytes()
    if available is not None and need > available // 2:
        raise InputError(f"blocks={config.blocks} x shots={config.shots} of {bits_per_shot} "
                         f"bits need about {need / 2**30:.1f} GiB here; only "
                         f"{available / 2**30:.1f} GiB of memory is available: send fewer "
                         "or smaller blocks")


def _send(config: LoadConfig, blocks: list, client_id: str) -> list[Record]:
    """Every block sent by ``config.clients`` processes; their records."""
    offset = [i / config.rate if config.rate else 0.0 for i in range(config.blocks)]
    ctx = multiprocessing.get_context("spawn")
    out, ready, go = ctx.Queue(), ctx.Barrier(config.clients + 1), ctx.Event()
    start = ctx.Value("d", 0.0)
    procs = [ctx.Process(target=_client_main, daemon=True,
                         args=(config.url, [(i, offset[i], blocks[i])
                                            for i in range(k, config.blocks, config.clients)],
                               config.concurrency, config.timeout_s, client_id, ready, go,
                               start, out))
             for k in range(config.clients)]
    for p in procs:
        p.start()
    try:
        ready.wait(timeout=config.timeout_s + 60)
    except threading.BrokenBarrierError:
        for p in procs:
            p.kill()
        raise RunFailure("the load-test clients could not all connect to "
                         f"{config.url}") from None
    start.value = time.time() + 0.05
    go.set()
    per_connection = math.ceil(config.blocks / (config.clients * config.concurrency))
    bound = (config.blocks / config.rate if config.rate else 0.0) + \
        (config.timeout_s + RETRY_S) * per_connection + 60.0
    return _collect(out, procs, timeout_s=bound)


def _collect(out, procs: Sequence, *, timeout_s: float) -> list[Record]:
    """Every client's records; a client that never reports (it died) fails the test."""
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    for _ in procs:
        try:
            records += out.get(timeout=max(1.0, deadline - time.monotonic()))
        except queue.Empty:
            for p in procs:
                p.kill()
            raise RunFailure(f"a load-test client reported nothing within {timeout_s:.0f} s "
                             "(it died, or the service stopped answering)") from None
    for p in procs:
        p.join(timeout=30)
    return records
