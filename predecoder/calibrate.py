"""Calibrate a model's commit policies on held-out shots (never the benchmark's).

Per mode:

- hard: for each commit rule, the LOWEST logit threshold at which pre+PM makes no more errors
  than PM alone at every calibration point (distance x p x basis, same shots); among the
  rules, the one whose threshold removes the most detection events (highest SDR). Committing
  nothing (a threshold above every logit) always qualifies, so the result is never worse than
  PM on the calibration shots by construction; the benchmark then checks it on fresh shots.
- soft: no threshold (soft mode commits logit > 0 and lets the matcher undo it). Its one
  free setting is the weight cap (edges with |logit| >= cap keep weight cap and are not sent
  to the matcher): the cap with the fewest soft-mode errors pooled over the calibration
  points; a tie goes to the smaller cap (fewer edges to send per shot).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from predecoder.evaluate import Evaluation, evaluate, hard_policies
from predecoder.inference import COMMIT_RULES, CommitPolicy
from qec import InputError, NoiseModel, Task

CALIBRATION_SEED = 2_000_003
THRESHOLDS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 30.0)
SOFT_CAPS = (4.0, 6.0, 8.0, 12.0)
POINTS = ((5, 0.003), (5, 0.006), (9, 0.003), (9, 0.006))
# si1000's threshold is lower: calibrate it where it is used
POINTS_BY_NOISE = {"uniform": POINTS, "stim": POINTS,
                   "si1000": ((5, 0.002), (5, 0.003), (9, 0.002), (9, 0.003))}


@dataclass(frozen=True)
class Calibration:
    threshold: float
    rule: str
    soft_cap: float | None
    evaluations: tuple[Evaluation, ...]

    def rows(self) -> list[dict]:
        """One row per (point, policy): errors, SDR, commits."""
        out = []
        for ev in self.evaluations:
            for p in ev.points:
                out.append({"distance": ev.task.distance, "p": ev.task.noise.p,
                            "basis": ev.task.basis, "noise": ev.task.noise.name,
                            "shots": ev.shots, "mode": p.policy.mode, "rule": p.rule,
                            "threshold": p.threshold, "cap": p.policy.cap,
                            "pm_errors": ev.pm_errors, "pre_errors": p.errors,
                            "sdr": ev.sdr(p), "committed_edges": p.committed_edges})
        return out


def calibrate(net: torch.nn.Module, *, shots: int, points=POINTS, bases=("X", "Z"),
              thresholds=THRESHOLDS, rules=COMMIT_RULES, soft_caps=SOFT_CAPS,
              noise: str = "uniform", seed: int = CALIBRATION_SEED,
              progress=None) -> Calibration:
    """Evaluate every hard (rule, threshold) and soft cap on held-out shots; pick each mode's."""
    policies = hard_policies(thresholds, rules) + tuple(CommitPolicy.soft(c) for c in soft_caps)
    evals = []
    for k, (d, p) in enumerate(points):
        for basis in bases:
            task = Task(distance=d, basis=basis, noise=NoiseModel.named(noise, p))
            evals.append(evaluate(net, task, shots=shots, seed=seed + k, policies=policies))
            if progress is not None:
                progress(evals[-1])
    threshold, rule = _pick_hard(evals, thresholds, rules)
    return Calibration(threshold=threshold, rule=rule, soft_cap=_pick_cap(evals, soft_caps),
                       evaluations=tuple(evals))


def calibrated_record(cal: Calibration, *, shots: int, noise: str, points) -> dict:
    """What a calibrated weights file says about its calibration (its training record's
    ``calibration`` entry)."""
    return {"shots_per_point": shots, "noise": noise, "seed": CALIBRATION_SEED,
            "points": [list(p) for p in points], "bases": ["X", "Z"],
            "hard_rule": "lowest threshold with pre+PM errors <= PM errors at every point; "
                         "the rule with the highest SDR", "threshold": cal.threshold,
            "commit_rule": cal.rule, "soft_rule": "the weight cap with the fewest pooled "
                                                  "soft-mode errors (ties: the smaller cap)",
            "soft_cap": cal.soft_cap}


def save_calibrated(loaded, path, *, shots: int, noise: str | None = None,
                    progress=None) -> Calibration:
    """Calibrate ``loaded`` (a ``predecoder.LoadedModel``) on held-out shots of ``noise``
    (default: the family it was trained on) and write the calibrated weights to ``path``."""
    from predecoder.weights import save_weights

    noise = noise or loaded.noise_family or "uniform"
    points = POINTS_BY_NOISE[noise]
    cal = calibrate(loaded.net, shots=shots, noise=noise, points=points, progress=progress)
    training = {**(loaded.metadata.get("training") or {}),
                "calibration": calibrated_record(cal, shots=shots, noise=noise, points=points)}
    save_weights(path, loaded.net, preset=loaded.metadata.get("preset"), threshold=cal.threshold,
                 rule=cal.rule, soft_cap=cal.soft_cap, training=training, calibrated=True)
    return cal


def _pick_hard(evals: list[Evaluation], thresholds, rules) -> tuple[float, str]:
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
        raise InputError(f"thresholds={tuple(thresholds)}: none keeps pre+PM at or below PM; "
                         "include one above every logit (e.g. 30) so committing nothing is "
                         "an option")
    return -best[1], best[2]


def _pick_cap(evals: list[Evaluation], soft_caps) -> float | None:
    if not soft_caps:
        return None
    pooled = {c: sum(ev.point(CommitPolicy.soft(c)).errors for ev in evals) for c in soft_caps}
    return min(sorted(soft_caps), key=lambda c: pooled[c])
