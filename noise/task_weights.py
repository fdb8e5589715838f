"""Matching DEMs for a task under a weights choice: true, learned, uniform, or a file.

- ``'true'``: the task's own DEM (the noise is known).
- ``'learned'``: estimated by :func:`noise.estimate_noise` ('mechanisms') from a separate
  seeded sample of the task (seed derived from the run's seed, so the decoded shots are
  never the estimation shots).
- ``'uniform'``: every edge (correlated: every mechanism) the same probability, the mean of
  the true DEM's edge (mechanism) probabilities. Only the ratio of weights matters to
  matching, so the scale reads nothing useful from the truth.
- a path: a weights.json from ``qecpipe learn-noise``; its detector count must match.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import stim

from noise.estimate import estimate_noise
from noise.reweight import matching_dem, uniform_dem
from noise.structure import NoiseStructure
from noise.weights_file import load_noise_weights
from qec import InputError, MatchingGraph, Task, sample_detectors

WEIGHTS_CHOICES = ("true", "learned", "uniform")
DEFAULT_LEARN_SHOTS = 1_000_000


def learn_seed(seed: int) -> int:
    """The estimation sample's seed for a run seeded ``seed`` (distinct from it).

    Examples:
        >>> learn_seed(1) != 1
        True
    """
    return int(np.random.SeedSequence([seed, 0x6E6F6973]).generate_state(1, np.uint32)[0])


def task_dem_factory(
    task: Task, *, weights: str | Path, seed: int, learn_shots: int = DEFAULT_LEARN_SHOTS,
) -> Callable[[bool], stim.DetectorErrorModel | None]:
    """Return ``dem(correlated) -> DEM`` for ``task`` under ``weights`` (None: task's own).

    Estimation (for 'learned') happens once, on the first call.

    Raises:
        ValueError: an unknown choice, an unreadable file, or a file whose detector count
            differs from the task's circuit.
    """
    name = str(weights)
    if name == "true":
        return lambda correlated: None
    if name == "uniform":
        true_dem = task.dem()
        graph = MatchingGraph.from_dem(true_dem)
        structure = NoiseStructure.from_task(task)
        return lambda correlated: uniform_dem(
            structure, correlated=correlated,
            p=float(np.mean(graph.error_prob if correlated else graph.edge_prob)))
    if name == "learned":
        if learn_shots < 1000:
            raise InputError(f"learn_shots={learn_shots} must be >= 1000")
        cache: dict = {}

        def learned(correlated: bool) -> stim.DetectorErrorModel:
            if "est" not in cache:
                structure = NoiseStructure.from_task(task)
                chunks = sample_detectors(task.circuit(), shots=learn_shots,
                                          seed=learn_seed(seed))
                cache["est"] = estimate_noise(chunks, structure=structure)
            return matching_dem(cache["est"], correlated=correlated)
        return learned
    if not Path(name).is_file():
        raise InputError(f"weights={name!r} must be one of {', '.join(WEIGHTS_CHOICES)} or an "
                         "existing weights.json file")
    file = load_noise_weights(name)
    file.check_matches(NoiseStructure.from_task(task), what=f"the task (d={task.distance}, "
                       f"rounds={task.rounds}, basis={task.basis})")
    return lambda correlated: file.dem(correlated=correlated)
