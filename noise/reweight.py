"""Matching DEMs from estimated probabilities on the structure's graph.

Fallback for bad estimates (documented, never a crash inside PyMatching): every probability
is clamped to ``[p_min, 1/2 - eps]``; NaN (an undefined estimate, e.g. a detector that never
fired) becomes ``p_min``. Each clamp is reported through ``logging`` (logger
``noise.reweight``) with the number of values and the worst one.
"""

from __future__ import annotations

import logging

import numpy as np
import stim

from noise.estimate import NoiseEstimate
from noise.structure import NoiseStructure
from qec import InputError, MatchingGraph

log = logging.getLogger(__name__)

DEFAULT_P_MIN = 1e-6
DEFAULT_EPS = 1e-6


def clamp_probabilities(
    prob: np.ndarray, *, p_min: float = DEFAULT_P_MIN, eps: float = DEFAULT_EPS,
    what: str = "edge probabilities", level: int = logging.WARNING,
) -> np.ndarray:
    """Clamp to [p_min, 0.5 - eps] (NaN -> p_min), warning through logging when it acts.

    Examples:
        >>> clamp_probabilities(np.array([0.01, -0.002, 0.7, np.nan])).tolist()
        [0.01, 1e-06, 0.499999, 1e-06]
    """
    if not 0 < p_min < 0.5 - eps or not 0 < eps < 0.5:
        raise InputError(f"p_min={p_min}, eps={eps} must satisfy 0 < p_min < 0.5 - eps")
    prob = np.asarray(prob, dtype=float)
    nan = np.isnan(prob)
    low = prob < p_min
    high = prob > 0.5 - eps
    if nan.any() or low.any() or high.any():
        worst = prob[~nan][np.argmax(np.abs(prob[~nan] - 0.25))] if (~nan).any() else np.nan
        count = int(nan.sum() + low.sum() + high.sum())
        log.log(level, "clamped %d of %d %s to [%g, %g] (%d undefined, %d low, %d high; most "
                    "extreme %.3g): estimator noise on small probabilities, edges of "
                    "detectors that never fired, or the two-point formula's hyperedge bias "
                    "(statistics no independent errors give are refused before this)", count,
                    prob.size, what, p_min, 0.5 - eps, int(nan.sum()), int(low.sum()),
                    int(high.sum()), worst)
    return np.clip(np.where(nan, p_min, prob), p_min, 0.5 - eps)


def matching_dem(
    estimate: NoiseEstimate, *, correlated: bool = False, edges: str = "pairwise",
    p_min: float = DEFAULT_P_MIN, eps: float = DEFAULT_EPS,
) -> stim.DetectorErrorModel:
    """The DEM a matcher should be built from, carrying the estimate's probabilities.

    Uncorrelated: one mechanism per graph edge (``MatchingGraph.to_dem``) with the
    estimate's ``pair_prob`` (``edges='pairwise'``, the default: measured best for
    uncorrelated matching) or its ``edge_prob`` (``edges='estimate'``). Correlated: the
    structure's decomposed mechanisms ("D1 D2 ^ D5 D7") with their learned probabilities, for
    ``pymatching.Matching.from_detector_error_model(..., enable_correlations=True)``; needs a
    'mechanisms' estimate.

    Examples:
        >>> from qec import Task, NoiseModel, sample_detectors
        >>> from noise.estimate import estimate_noise
        >>> task = Task(distance=3, noise=NoiseModel.uniform(0.005))
        >>> s = NoiseStructure.from_task(task)
        >>> est = estimate_noise(sample_detectors(task.circuit(), shots=20000, seed=1),
        ...                      structure=s)
        >>> matching_dem(est, correlated=True).num_detectors == task.dem().num_detectors
        True
    """
    if edges not in ("pairwise", "estimate"):
        raise InputError(f"edges={edges!r} must be 'pairwise' or 'estimate'")
    if not correlated:
        chosen = estimate.pair_prob if edges == "pairwise" else estimate.edge_prob
        if chosen is None:
            raise InputError("this estimate carries no pair_prob; use edges='estimate'")
        prob = clamp_probabilities(chosen, p_min=p_min, eps=eps)
        return estimate.structure.graph.to_dem(prob)
    if estimate.mechanism_prob is None:
        raise InputError(f"correlated matching needs mechanism probabilities; method="
                         f"{estimate.method!r} gives edges only (use method='mechanisms')")
    prob = clamp_probabilities(estimate.mechanism_prob, p_min=p_min, eps=eps,
                               what="mechanism probabilities")
    return with_mechanism_probabilities(estimate.structure.dem, prob)


def with_mechanism_probabilities(
    dem: stim.DetectorErrorModel, prob: np.ndarray
) -> stim.DetectorErrorModel:
    """``dem`` (flattened) with the k-th error instruction's probability set to ``prob[k]``."""
    out = stim.DetectorErrorModel()
    k = 0
    for inst in dem.flattened():
        if inst.type == "error":
            out.append("error", float(prob[k]), inst.targets_copy())
            k += 1
        else:
            out.append(inst)
    if k != len(prob):
        raise InputError(f"prob has {len(prob)} entries; the DEM has {k} error mechanisms")
    return out


def uniform_dem(
    structure: NoiseStructure, *, p: float, correlated: bool = False
) -> stim.DetectorErrorModel:
    """Every edge (or, correlated, every mechanism) with the same probability ``p``.

    Examples:
        >>> dem = stim.DetectorErrorModel("error(0.1) D0 D1\\nerror(0.2) D1")
        >>> out = uniform_dem(NoiseStructure.from_dem(dem), p=0.25)
        >>> [inst.args_copy() for inst in out if inst.type == "error"]
        [[0.25], [0.25]]
    """
    if not 0 < p < 0.5:
        raise InputError(f"p={p} must be in (0, 0.5)")
    if correlated:
        return with_mechanism_probabilities(structure.dem, np.full(len(structure.mech_symptom), p))
    return structure.graph.to_dem(np.full(structure.num_edges, p))


def graph_edge_prob_like(graph: MatchingGraph, reference: MatchingGraph) -> np.ndarray:
    """``graph``'s edge probabilities reordered to ``reference``'s edges (missing -> NaN).

    For comparing an estimate with the true DEM, whose edges may be listed in another order.
    """
    key = {tuple(e): k for k, e in enumerate(graph.edge_dets.tolist())}
    out = np.full(reference.num_edges, np.nan)
    for k, e in enumerate(reference.edge_dets.tolist()):
        if tuple(e) in key:
            out[k] = graph.edge_prob[key[tuple(e)]]
    return out
