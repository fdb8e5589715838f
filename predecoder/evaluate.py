"""Pre-decoder + matching against matching alone, on the same seeded shots.

Used by training's held-out check, calibration and bench/predecoder.py. The network runs once
per chunk; every :class:`~predecoder.inference.CommitPolicy` then only re-commits and
re-matches: hard policies with PyMatching on the DEM's static weights, soft policies with the
per-shot-weight matcher (:class:`qec.BlossomMatcher`). Reference matchers (``pymatching``
always, ``pymatching-correlated`` on request) decode the same raw shots. Every decoder's
per-shot "wrong" mask is kept, so any two can be compared shot by shot
(:meth:`Evaluation.paired`, exact McNemar).

Examples:
    >>> from qec import Task, NoiseModel
    >>> from predecoder.model import PRESETS, PreDecoderNet
    >>> task = Task(distance=3, noise=NoiseModel.uniform(0.006))
    >>> ev = evaluate(PreDecoderNet(PRESETS["small"]), task, shots=200, seed=5,
    ...               policies=(CommitPolicy.hard(30.0),))
    >>> ev.points[0].errors == ev.pm_errors      # commits nothing: exactly PyMatching
    True
    >>> ev.paired("pymatching", "hard@30").only_a
    0
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from predecoder.edges import EdgeLayout
from predecoder.inference import CommitPolicy, corrections, shot_logits
from qec import (
    BlossomMatcher,
    InputError,
    MatchingDecoder,
    PairedCounts,
    SampleChunk,
    StageStats,
    Task,
    pack_bits,
    sample_detectors,
    unpack_bits,
)

PM = "pymatching"
NETWORK = "network"   # the key of the network's per-chunk times


@dataclass(frozen=True, kw_only=True)
class CommitPoint:
    """pre+matching on the evaluation shots under one policy: the pre-decoder's stage (events
    in and left in the residual; the network's time) and the matcher's."""

    policy: CommitPolicy
    errors: int
    committed_edges: int
    predecoder: StageStats
    matching: StageStats

    @property
    def residual_events(self) -> int:
        return self.matching.events_in

    @property
    def matching_seconds(self) -> float:
        return self.matching.seconds

    @property
    def threshold(self) -> float:
        return self.policy.threshold

    @property
    def rule(self) -> str:
        return self.policy.rule


@dataclass(frozen=True, kw_only=True)
class Evaluation:
    """Every decoder on the same shots.

    ``wrong[name]`` is the (shots,) bool mask of shots decoder ``name`` got wrong, for
    ``pymatching``, each reference and each policy (by :attr:`CommitPolicy.label`);
    ``seconds[name]`` its matching time; ``network`` is the network's stage;
    ``chunk_seconds[name]`` (and ``["network"]``) the time of each chunk of ``chunk_shots``.
    """

    task: Task | None     # None for shots that no Task describes (real data, a learned DEM)
    network: StageStats
    points: tuple[CommitPoint, ...]
    wrong: dict[str, np.ndarray]
    seconds: dict[str, float]
    chunk_seconds: dict[str, tuple[float, ...]]
    chunk_shots: tuple[int, ...]

    def us_per_shot(self, name: str) -> tuple[float, float]:
        """Mean µs per shot of decoder ``name`` (or ``"network"``) and its standard error over
        chunks (nan with a single chunk): the spread a shared machine puts on a timing."""
        rates = np.array(self.chunk_seconds[name]) / np.array(self.chunk_shots) * 1e6
        mean = float(np.sum(self.chunk_seconds[name]) / max(sum(self.chunk_shots), 1) * 1e6)
        sem = float(rates.std(ddof=1) / np.sqrt(len(rates))) if len(rates) > 1 else math.nan
        return mean, sem

    @property
    def shots(self) -> int:
        return self.network.shots

    @property
    def events(self) -> int:
        return self.network.events_in

    @property
    def net_seconds(self) -> float:
        return self.network.seconds

    @property
    def pm_errors(self) -> int:
        return int(self.wrong[PM].sum())

    @property
    def pm_seconds(self) -> float:
        return self.seconds[PM]

    def errors(self, name: str) -> int:
        return int(self.wrong[name].sum())

    def point(self, policy: CommitPolicy) -> CommitPoint:
        for p in self.points:
            if p.policy == policy:
                return p
        raise InputError(f"policy {policy.describe()} was not evaluated")

    def sdr(self, p: CommitPoint) -> float:
        """Detection-event density before / after the pre-decoder (inf if none left)."""
        return p.predecoder.sdr

    def paired(self, a: str, b: str) -> PairedCounts:
        """Shots only ``a`` / only ``b`` got wrong (exact McNemar via ``.p_value``)."""
        for name in (a, b):
            if name not in self.wrong:
                raise InputError(f"decoder {name!r} was not evaluated; have "
                                 f"{', '.join(self.wrong)}")
        return PairedCounts.of(a, self.wrong[a], b, self.wrong[b])


def hard_policies(thresholds: Sequence[float], rules: Sequence[str] = ("threshold",)
                  ) -> tuple[CommitPolicy, ...]:
    """Every (rule, threshold) pair as hard policies."""
    return tuple(CommitPolicy.hard(t, r) for r in rules for t in thresholds)


def evaluate(net: torch.nn.Module, task: Task, *, shots: int, seed: int,
             policies: Sequence[CommitPolicy] = (CommitPolicy.hard(0.0),),
             references: Sequence[str] = (), chunk_shots: int = 2048,
             tile: tuple[int, int, int] | None = None,
             max_pm_errors: int | None = None, min_shots: int = 0) -> Evaluation:
    """Decode ``shots`` seeded shots of ``task`` with PM, ``references`` (matching decoder
    names) and pre+matching under every policy.

    Stops early, at a chunk boundary, once PyMatching has ``max_pm_errors`` errors and at
    least ``min_shots`` shots were decoded.
    """
    chunks = sample_detectors(task.circuit(), shots=shots, seed=seed, chunk_shots=chunk_shots)
    return evaluate_on(net, EdgeLayout.from_task(task), task.dem(), chunks, task=task,
                       policies=policies, references=references, tile=tile,
                       max_pm_errors=max_pm_errors, min_shots=min_shots)


def evaluate_on(net: torch.nn.Module, layout: EdgeLayout, dem, chunks: Iterable[SampleChunk],
                *, task: Task | None = None,
                policies: Sequence[CommitPolicy] = (CommitPolicy.hard(0.0),),
                references: Sequence[str] = (), tile: tuple[int, int, int] | None = None,
                max_pm_errors: int | None = None, min_shots: int = 0) -> Evaluation:
    """:func:`evaluate` on any shots: ``chunks`` of bit-packed (dets, obs) laid out by
    ``layout``, matchers built from ``dem`` (e.g. a real experiment's files and its circuit's
    DEM, or samples of a learned DEM)."""
    matchers = {name: MatchingDecoder.named(name, dem) for name in (PM, *references)}
    soft = {p.cap: BlossomMatcher.from_graph(layout.graph, cap=p.cap)
            for p in policies if p.soft_mode}
    names = [*matchers, *(p.label for p in policies)]
    wrong: dict[str, list[np.ndarray]] = {n: [] for n in names}
    times: dict[str, list[float]] = {n: [] for n in [*names, NETWORK]}
    counts = {p: np.zeros(2) for p in policies}    # residual events, commits
    sizes, events = [], 0
    for chunk in chunks:
        for name, matcher in matchers.items():
            t0 = time.perf_counter()
            wrong[name].append(np.any(matcher.decode_batch(chunk.dets) != chunk.obs, axis=1))
            times[name].append(time.perf_counter() - t0)
        dets = torch.from_numpy(unpack_bits(chunk.dets, layout.geometry.num_detectors))
        dets = dets.to(next(net.parameters()).device)
        events += int(dets.sum())
        t0 = time.perf_counter()
        e_logit = shot_logits(net, dets, layout, tile=tile)
        times[NETWORK].append(time.perf_counter() - t0)
        for policy in policies:
            second = soft[policy.cap] if policy.soft_mode else matchers[PM]
            mask, found, sec = _one_point(e_logit, dets, layout, second, chunk.obs, policy)
            wrong[policy.label].append(mask)
            counts[policy] += found
            times[policy.label].append(sec)
        sizes.append(chunk.shots)
        if (max_pm_errors is not None and sum(sizes) >= min_shots
                and sum(int(w.sum()) for w in wrong[PM]) >= max_pm_errors):
            break
    return _assemble(task, layout, wrong, times, sizes, events, counts)


def _assemble(task, layout, wrong, times, sizes, events, counts) -> Evaluation:
    masks = {n: np.concatenate(w) if w else np.zeros(0, bool) for n, w in wrong.items()}
    seconds = {n: float(sum(t)) for n, t in times.items() if n != NETWORK}
    stage = dict(shots=sum(sizes), rounds=layout.geometry.rounds,
                 num_detectors=layout.geometry.num_detectors)
    net_seconds = float(sum(times[NETWORK]))
    network = StageStats(**stage, seconds=net_seconds, events_in=events)
    points = tuple(CommitPoint(policy=p, errors=int(masks[p.label].sum()),
                               committed_edges=int(a[1]),
                               predecoder=StageStats(**stage, seconds=net_seconds,
                                                     events_in=events, events_out=int(a[0])),
                               matching=StageStats(**stage, seconds=seconds[p.label],
                                                   events_in=int(a[0])))
                   for p, a in counts.items())
    return Evaluation(task=task, network=network, points=points, wrong=masks, seconds=seconds,
                      chunk_seconds={n: tuple(t) for n, t in times.items()},
                      chunk_shots=tuple(sizes))


def _one_point(e_logit, dets, layout, matcher, obs,
               policy: CommitPolicy) -> tuple[np.ndarray, np.ndarray, float]:
    corr = corrections(e_logit, dets, layout, policy)
    residual = pack_bits(corr.residual.cpu().numpy())
    t0 = time.perf_counter()
    if policy.soft_mode:
        predicted = matcher.decode_batch(residual, corr.weights)
    else:
        predicted = matcher.decode_batch(residual)
    seconds = time.perf_counter() - t0
    predicted ^= pack_bits(corr.flip.cpu().numpy())
    counts = np.array([int(corr.residual.sum()), int(corr.edges.sum())], dtype=float)
    return np.any(predicted != obs, axis=1), counts, seconds
