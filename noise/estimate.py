"""Correlation estimators: edge and mechanism probabilities from parity counts alone.

Two methods, both reading only :class:`~noise.moments.ParityCounts`:

``'pairwise'`` -- docs/design.md section 4 exactly. For an edge (i, j)::

    p_ij = 1/2 - 1/2 sqrt(1 - 4(<x_i x_j> - <x_i><x_j>) / (1 - 2<x_i> - 2<x_j> + 4<x_i x_j>))

and for the boundary edge of i, ``p_i = (<x_i> - S_i) / (1 - 2 S_i)`` with ``S_i`` the XOR-sum
(a + b - 2ab) of p_ij over i's GRAPH neighbours j only.

``'mechanisms'`` -- exact for any set of independent mechanisms with known symptoms (the
detector sets they flip), including the decomposed DEM's hyperedges ("D1 D2 ^ D5 D7": Y
errors, hook errors). With theta_m = -log(1 - 2 p_m) and L_s = -log(1 - 2 <parity of s>),
independence gives ``L_s = sum_m [|m & s| odd] theta_m`` for every detector set s, and the
alternating sum over the subsets of a set A (a connected 2-, 3-, 4-point correlator in the
log-parity domain) isolates the mechanisms that contain A::

    Theta(A) = -2^(1 - |A|) sum_{s subset of A, s non-empty} (-1)^|s| L_s
             = sum over symptoms B containing A of theta_B

(for |A| = 2 this is the two-point formula; for A = {i} it is L_i). Inverting this
triangular system over the symptom lattice, largest symptoms first
(``theta_A = Theta(A) - sum_{B strictly containing A} theta_B``), gives every symptom's
probability; a symptom shared by several mechanisms is split in the structure's nominal
proportions. Edge probabilities are then the XOR over the mechanisms that fire the edge, so
hyperedge contributions are subtracted from the pairs and boundaries they would otherwise
inflate (the pairwise boundary formula double-counts a hyperedge once per graph neighbour).

Both are raw estimates (possibly <= 0 or >= 1/2 from sampling noise); :mod:`noise.reweight`
clamps them before building a matcher.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from noise.moments import ParityAccumulator, ParityCounts
from noise.structure import MAX_SYMPTOM, NoiseStructure
from qec import InputError

log = logging.getLogger(__name__)

METHODS = ("mechanisms", "pairwise")
DEFAULT_MIN_SHOTS = 1000


@dataclass(frozen=True, eq=False)
class NoiseEstimate:
    """Estimated probabilities on a structure (raw: not yet clamped).

    Attributes:
        structure: the :class:`NoiseStructure` estimated on.
        method: 'mechanisms' or 'pairwise'.
        shots: shots the estimate read.
        edge_prob: (E,) float64 per edge of ``structure.graph``, in the DEM's sense (the XOR
            of the mechanisms whose decomposition fires the edge) for 'mechanisms'.
        mechanism_prob: (M,) float64 per DEM error instruction, or None ('pairwise').
        pair_prob: (E,) float64, the 'pairwise' (docs/design.md section 4) edges, computed for
            either method: the marginal two-point probabilities, hyperedges folded into the
            pairs they correlate. What an UNcorrelated matcher should use: in
            bench/noise_learning.py it decodes with 1-3% fewer errors than even the true
            DEM's edges (d = 5, 7, 9; si1000 with hot spots and uniform).
    """

    structure: NoiseStructure
    method: str
    shots: int
    edge_prob: np.ndarray
    mechanism_prob: np.ndarray | None = None
    pair_prob: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method={self.method!r} must be one of {', '.join(METHODS)}")
        if self.edge_prob.shape != (self.structure.num_edges,):
            raise InputError(f"edge_prob has shape {self.edge_prob.shape}; expected "
                             f"({self.structure.num_edges},)")


def count_parities(
    chunks: Iterable, *, structure: NoiseStructure, backend: str = "numpy", device: str = "cpu"
) -> ParityCounts:
    """Stream bit-packed chunks (arrays or :class:`qec.SampleChunk`) into parity counts.

    Raises:
        ValueError: a chunk's detector count differs from the structure's.
    """
    acc = ParityAccumulator(subsets=structure.subsets, num_detectors=structure.num_detectors,
                            backend=backend, device=device)
    width = (structure.num_detectors + 7) // 8
    for chunk in chunks:
        dets = getattr(chunk, "dets", chunk)
        if dets.ndim != 2 or dets.shape[1] != width:
            raise InputError(f"samples have {dets.shape[-1]} bytes per shot (up to "
                             f"{8 * dets.shape[-1]} detectors); the circuit has "
                             f"{structure.num_detectors} detectors ({width} bytes per shot)")
        acc.add(dets)
    return acc.counts()


def estimate_from_counts(
    counts: ParityCounts, *, structure: NoiseStructure, method: str = "mechanisms",
    min_shots: int = DEFAULT_MIN_SHOTS,
) -> NoiseEstimate:
    """Edge (and, for 'mechanisms', mechanism) probabilities from parity counts.

    Raises:
        ValueError: fewer than ``min_shots`` shots, or an unknown method.
    """
    if method not in METHODS:
        raise InputError(f"method={method!r} must be one of {', '.join(METHODS)}")
    if counts.shots < min_shots:
        raise InputError(f"shots={counts.shots} is below min_shots={min_shots}: too few for a "
                         "stable estimate")
    if counts.subsets != structure.subsets:
        raise InputError("counts were taken over another structure's subsets")
    mean = counts.mean()
    check_parity_rates(mean, subsets=counts.subsets, shots=counts.shots)
    _warn_silent_detectors(mean[:structure.num_detectors])
    pairs = pairwise_edge_prob(mean, structure)
    if method == "pairwise":
        est = NoiseEstimate(structure, method, counts.shots, pairs, pair_prob=pairs)
    else:
        mech = mechanism_prob(mean, structure)
        theta_edge = structure.graph.error_matrix().T @ _theta(mech)
        est = NoiseEstimate(structure, method, counts.shots, _prob(theta_edge), mech, pairs)
    check_estimate(est)
    return est


def check_parity_rates(rates: np.ndarray, *, subsets: tuple[tuple[int, ...], ...],
                       shots: int) -> None:
    """Refuse parity rates that independent errors cannot produce: the parity of any set of
    detectors is the XOR of independent mechanisms of probability < 1/2, so it is odd in
    fewer than half of the shots. All-ones files, random bits and raw measurement records
    fail this; the estimators would turn them into probabilities like -5e31.

    Examples:
        >>> check_parity_rates(np.array([0.02, 0.1, 0.11]), subsets=((0,), (1,), (0, 1)),
        ...                    shots=1000)
        >>> try:
        ...     check_parity_rates(np.array([0.4, 0.3, 0.5]), subsets=((0,), (1,), (0, 1)),
        ...                        shots=1000)
        ... except InputError as exc:
        ...     print(str(exc).split(" shots")[0])
        the parity of detectors (0, 1) is odd in 50.0% of 1000
    """
    bad = np.flatnonzero(np.asarray(rates) >= 0.5)
    if bad.size:
        k = int(bad[np.argmax(rates[bad])])
        what = (f"detector {subsets[k][0]} fires" if len(subsets[k]) == 1 else
                f"the parity of detectors {subsets[k]} is odd")
        raise InputError(f"{what} in {rates[k]:.1%} of {shots} shots ({bad.size} of "
                         f"{len(rates)} detector sets odd in at least half); under independent "
                         "errors every detector and every parity of detectors is odd in fewer "
                         "than half of the shots: these are not detection events of this "
                         "circuit (all ones, random bits, or measurement outcomes instead of "
                         "detection events?)")


def estimator_tolerance(shots: int) -> float:
    """How far outside [0, 1/2] sampling noise alone can push a raw estimate from ``shots``
    shots: 10 / sqrt(shots). Measured worst cases on uniform noise (d = 3, 5; p = 0.001-0.02;
    10^3-10^5 shots; both methods): -2.24 / sqrt(shots) at p = 0.02, about 13 standard
    errors below this bound; anything beyond it is not noise but impossible statistics."""
    return 10.0 / np.sqrt(shots)


def check_estimate(est: NoiseEstimate) -> None:
    """Refuse a 'mechanisms' estimate no set of independent errors explains: a finite
    probability more than :func:`estimator_tolerance` below 0 or above 1/2. NaN stays (an
    edge of a detector that never fired is undefined, and is clamped to p_min like small
    negative noise). The two-point ('pairwise') estimates are not checked: hyperedges bias
    them (docs/design.md section 6), so an out-of-range value there is the formula's bias on
    valid samples, and is clamped."""
    if est.method != "mechanisms":
        return
    tol = estimator_tolerance(est.shots)
    for name, prob in {"edge": est.edge_prob, "mechanism": est.mechanism_prob}.items():
        bad = np.flatnonzero(np.isfinite(prob) & ((prob < -tol) | (prob > 0.5 + tol)))
        if bad.size:
            k = int(bad[np.argmax(np.abs(prob[bad] - 0.25))])
            raise InputError(f"the samples give {name} probability [{k}] = {prob[k]:.3g} "
                             f"({bad.size} of {prob.size} outside [-{tol:.2g}, "
                             f"{0.5 + tol:.2g}], the range sampling noise of {est.shots} shots "
                             "allows): no set of independent errors has these statistics; "
                             "were the samples taken from this circuit?")


def estimate_noise(
    chunks: Iterable, *, structure: NoiseStructure, method: str = "mechanisms",
    backend: str = "numpy", device: str = "cpu", min_shots: int = DEFAULT_MIN_SHOTS,
) -> NoiseEstimate:
    """Estimate the structure's probabilities from streamed detection events.

    Args:
        chunks: iterable of (shots, ceil(D/8)) uint8 bit-packed (little-endian) detection
            events, or of :class:`qec.SampleChunk` (only ``.dets`` is read).
        structure: which edges/mechanisms exist (:meth:`NoiseStructure.from_task`).
        method: 'mechanisms' (hyperedges included) or 'pairwise' (docs/design.md section 4).
        backend, device: 'numpy', or 'torch' on ``device`` ('cpu', 'cuda').
        min_shots: fewer shots raise ValueError.

    Examples:
        >>> from qec import Task, NoiseModel, sample_detectors
        >>> task = Task(distance=3, noise=NoiseModel.uniform(0.005))
        >>> s = NoiseStructure.from_task(task)
        >>> est = estimate_noise(sample_detectors(task.circuit(), shots=20000, seed=1),
        ...                      structure=s)
        >>> est.edge_prob.shape == (s.num_edges,), est.shots
        (True, 20000)
    """
    counts = count_parities(chunks, structure=structure, backend=backend, device=device)
    return estimate_from_counts(counts, structure=structure, method=method, min_shots=min_shots)


def pairwise_edge_prob(mean: np.ndarray, structure: NoiseStructure) -> np.ndarray:
    """(E,) two-point edge estimates and boundary estimates from graph neighbours."""
    g = structure.graph
    pos = _subset_position(structure)
    x = mean[:g.num_detectors]  # subsets start with every singleton, in detector order
    inner = np.flatnonzero(~g.is_boundary)
    a, b = g.edge_dets[inner, 0], g.edge_dets[inner, 1]
    xor = mean[[pos[(int(i), int(j))] for i, j in zip(a, b)]]
    xy = (x[a] + x[b] - xor) / 2  # <x_i x_j>
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 4 * (xy - x[a] * x[b]) / (1 - 2 * x[a] - 2 * x[b] + 4 * xy)
        p_pair = 0.5 - 0.5 * np.sqrt(np.maximum(1 - ratio, 0.0))
    prob = np.full(g.num_edges, np.nan)
    prob[inner] = p_pair
    # S_i: XOR-sum over i's graph neighbours only, as prod(1 - 2 p) = 1 - 2 S.
    keep = np.ones(g.num_detectors)
    np.multiply.at(keep, a, 1 - 2 * p_pair)
    np.multiply.at(keep, b, 1 - 2 * p_pair)
    s = (1 - keep) / 2
    bnd = np.flatnonzero(g.is_boundary)
    i = g.edge_dets[bnd, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        prob[bnd] = (x[i] - s[i]) / (1 - 2 * s[i])
    return prob


def mechanism_prob(mean: np.ndarray, structure: NoiseStructure) -> np.ndarray:
    """(M,) probability of each DEM error instruction by Moebius inversion (module doc)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        big_l = -np.log(np.maximum(1 - 2 * mean, 1e-12))
    design, supersets, levels = _mobius_tables(structure)
    upward = design @ big_l  # Theta(A) per symptom
    theta = np.zeros(len(structure.symptoms))
    for level in levels:  # largest symptoms first
        theta[level] = upward[level] - supersets[level] @ theta
    return _prob(theta[structure.mech_symptom] * structure.mech_share)


def _theta(p: np.ndarray) -> np.ndarray:
    return -np.log(np.maximum(1 - 2 * np.asarray(p, dtype=float), 1e-12))


def _prob(theta: np.ndarray) -> np.ndarray:
    return (1 - np.exp(-np.asarray(theta, dtype=float))) / 2


def _warn_silent_detectors(x: np.ndarray) -> None:
    silent = np.flatnonzero(x == 0)
    if silent.size:
        log.warning("detectors %s never fired: their edges cannot be estimated and will be "
                    "clamped to p_min", silent[:10].tolist())


@lru_cache(maxsize=16)
def _subset_position(structure: NoiseStructure) -> dict[tuple[int, ...], int]:
    return {s: k for k, s in enumerate(structure.subsets)}


@lru_cache(maxsize=16)
def _mobius_tables(structure: NoiseStructure):
    """(symptoms x subsets) alternating-sum matrix, strict-superset matrix, size levels."""
    from itertools import combinations

    from scipy.sparse import csr_matrix

    pos = _subset_position(structure)
    sym_pos = {s: k for k, s in enumerate(structure.symptoms)}
    rows, cols, vals, sup_r, sup_c = [], [], [], [], []
    for k, sym in enumerate(structure.symptoms):
        if not sym or len(sym) > MAX_SYMPTOM:
            continue
        for size in range(1, len(sym) + 1):
            for sub in combinations(sym, size):
                rows.append(k)
                cols.append(pos[sub])
                vals.append(-(2.0 ** (1 - len(sym))) * (-1) ** size)
                if size < len(sym) and sub in sym_pos:
                    sup_r.append(sym_pos[sub])
                    sup_c.append(k)
    n = len(structure.symptoms)
    design = csr_matrix((vals, (rows, cols)), shape=(n, len(structure.subsets)))
    supersets = csr_matrix((np.ones(len(sup_r)), (sup_r, sup_c)), shape=(n, n))
    sizes = np.array([len(s) for s in structure.symptoms])
    levels = [np.flatnonzero(sizes == k) for k in sorted(set(sizes.tolist()), reverse=True)]
    return design, supersets, levels
