"""Pre-decoder + PyMatching against PyMatching alone, on the same seeded shots.

Used by training's held-out check, threshold calibration and bench/predecoder.py. The
network runs once per chunk; every (threshold, rule) pair then only re-commits and re-matches.

Examples:
    >>> from qec import Task, NoiseModel
    >>> from predecoder.model import PRESETS, PreDecoderNet
    >>> task = Task(distance=3, noise=NoiseModel.uniform(0.006))
    >>> ev = evaluate(PreDecoderNet(PRESETS["small"]), task, shots=200, seed=5,
    ...               thresholds=(30.0,))
    >>> ev.points[0].errors == ev.pm_errors      # commits nothing: exactly PyMatching
    True
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from predecoder.edges import EdgeLayout
from predecoder.inference import apply_edges, commit, shot_logits
from qec import MatchingDecoder, Task, pack_bits, sample_detectors, unpack_bits


@dataclass(frozen=True)
class CommitPoint:
    """pre+PM on the evaluation shots at one (threshold, rule)."""

    threshold: float
    rule: str
    errors: int
    residual_events: int
    committed_edges: int
    matching_seconds: float


@dataclass(frozen=True)
class Evaluation:
    task: Task
    shots: int
    events: int
    pm_errors: int
    pm_seconds: float
    net_seconds: float
    points: tuple[CommitPoint, ...]

    def point(self, threshold: float, rule: str = "threshold") -> CommitPoint:
        for p in self.points:
            if p.threshold == threshold and p.rule == rule:
                return p
        raise ValueError(f"threshold={threshold}, rule={rule!r} was not evaluated")

    def sdr(self, p: CommitPoint) -> float:
        """Detection-event density before / after the pre-decoder (inf if none left)."""
        return self.events / p.residual_events if p.residual_events else float("inf")


def evaluate(net: torch.nn.Module, task: Task, *, shots: int, seed: int,
             thresholds: tuple[float, ...] = (0.0,), rules: tuple[str, ...] = ("threshold",),
             chunk_shots: int = 2048, matcher: MatchingDecoder | None = None,
             tile: tuple[int, int, int] | None = None,
             max_pm_errors: int | None = None) -> Evaluation:
    """Decode ``shots`` seeded shots of ``task`` with PM and with pre+PM at every commit point.

    Stops early, at a chunk boundary, once PyMatching has ``max_pm_errors`` errors.
    """
    layout = EdgeLayout.from_task(task)
    matcher = matcher or MatchingDecoder.from_dem(task.dem())
    keys = [(t, r) for r in rules for t in thresholds]
    acc = {k: np.zeros(4) for k in keys}        # errors, residual events, commits, PM seconds
    events = pm_errors = done = 0
    pm_seconds = net_seconds = 0.0
    device = next(net.parameters()).device
    num_det = layout.geometry.num_detectors
    for chunk in sample_detectors(task.circuit(), shots=shots, seed=seed,
                                  chunk_shots=chunk_shots):
        t0 = time.perf_counter()
        pm_wrong = np.any(matcher.decode_batch(chunk.dets) != chunk.obs, axis=1)
        pm_seconds += time.perf_counter() - t0
        pm_errors += int(pm_wrong.sum())
        dets = torch.from_numpy(unpack_bits(chunk.dets, num_det)).to(device)
        events += int(dets.sum())
        t0 = time.perf_counter()
        e_logit = shot_logits(net, dets, layout, tile=tile)
        net_seconds += time.perf_counter() - t0
        for key in keys:
            acc[key] += _one_point(e_logit, dets, layout, matcher, chunk.obs, *key)
        done += chunk.shots
        if max_pm_errors is not None and pm_errors >= max_pm_errors:
            break
    points = tuple(CommitPoint(t, r, int(a[0]), int(a[1]), int(a[2]), float(a[3]))
                   for (t, r), a in acc.items())
    return Evaluation(task, done, events, pm_errors, pm_seconds, net_seconds, points)


def _one_point(e_logit, dets, layout, matcher, obs, threshold, rule) -> np.ndarray:
    with torch.inference_mode():
        edges = commit(e_logit, dets, layout, threshold=threshold, rule=rule)
        corr = apply_edges(dets, edges, layout)
    residual = corr.residual.cpu().numpy()
    t0 = time.perf_counter()
    predicted = matcher.decode_batch(pack_bits(residual)) ^ pack_bits(corr.flip.cpu().numpy())
    seconds = time.perf_counter() - t0
    wrong = int(np.any(predicted != obs, axis=1).sum())
    return np.array([wrong, residual.sum(), int(edges.sum()), seconds], dtype=float)
