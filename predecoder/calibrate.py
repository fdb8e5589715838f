"""Choose the shipped commit rule and threshold on held-out shots (never the benchmark's).

The rule: for each commit rule, the LOWEST logit threshold at which pre+PM makes no more
errors than PM alone at every calibration point (distance x p x basis, same shots); among the
rules, the one whose threshold removes the most detection events (highest SDR). Committing
nothing (a threshold above every logit) always qualifies, so the result is never worse than
PM on the calibration shots by construction; the benchmark then checks it on fresh shots.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from predecoder.evaluate import Evaluation, evaluate, hard_policies
from predecoder.inference import COMMIT_RULES, CommitPolicy
from qec import NoiseModel, Task

CALIBRATION_SEED = 2_000_003
THRESHOLDS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 30.0)
POINTS = ((5, 0.003), (5, 0.006), (9, 0.003), (9, 0.006))


@dataclass(frozen=True)
class Calibration:
    threshold: float
    rule: str
    evaluations: tuple[Evaluation, ...]

    def rows(self) -> list[dict]:
        """One row per (point, rule, threshold): errors, SDR, commits."""
        out = []
        for ev in self.evaluations:
            for p in ev.points:
                out.append({"distance": ev.task.distance, "p": ev.task.noise.p,
                            "basis": ev.task.basis, "shots": ev.shots, "rule": p.rule,
                            "threshold": p.threshold, "pm_errors": ev.pm_errors,
                            "pre_errors": p.errors, "sdr": ev.sdr(p),
                            "committed_edges": p.committed_edges})
        return out


def calibrate(net: torch.nn.Module, *, shots: int, points=POINTS, bases=("X", "Z"),
              thresholds=THRESHOLDS, rules=COMMIT_RULES, seed: int = CALIBRATION_SEED,
              progress=None) -> Calibration:
    """Evaluate every (rule, threshold) on held-out shots and pick the shipped one."""
    evals = []
    for k, (d, p) in enumerate(points):
        for basis in bases:
            task = Task(distance=d, basis=basis, noise=NoiseModel.uniform(p))
            evals.append(evaluate(net, task, shots=shots, seed=seed + k,
                                  policies=hard_policies(thresholds, rules)))
            if progress is not None:
                progress(evals[-1])
    best: tuple[float, float, str] | None = None     # (sdr, -threshold, rule)
    for rule in rules:
        for t in sorted(thresholds):
            pts = [ev.point(CommitPolicy.hard(t, rule)) for ev in evals]
            if all(p.errors <= ev.pm_errors for p, ev in zip(pts, evals)):
                sdr = sum(ev.events for ev in evals) / max(sum(p.residual_events for p in pts), 1)
                if best is None or sdr > best[0]:
                    best = (sdr, -t, rule)
                break
    if best is None:
        raise ValueError(f"thresholds={tuple(thresholds)}: none keeps pre+PM at or below PM; "
                         "include one above every logit (e.g. 30) so committing nothing is "
                         "an option")
    return Calibration(threshold=-best[1], rule=best[2], evaluations=tuple(evals))
