"""noise: matching-graph weights learned from syndrome statistics alone.

Structure (which edges and hyperedges exist) comes from the circuit's layout; probabilities
come from detection-event moments (:func:`estimate_noise`), from a sliding window over a
stream (:class:`SlidingWindowEstimator`), or from the paper's CNN (``noise.learned``, torch).
:func:`matching_dem` turns an estimate into a DEM for (correlated) PyMatching.

Examples:
    >>> from qec import Task, NoiseModel, sample_detectors, MatchingDecoder
    >>> task = Task(distance=3, noise=NoiseModel.uniform(0.005))
    >>> structure = NoiseStructure.from_task(task)
    >>> est = estimate_noise(sample_detectors(task.circuit(), shots=20000, seed=1),
    ...                      structure=structure)
    >>> dec = MatchingDecoder.from_dem(matching_dem(est), correlated=False)
    >>> dec.num_detectors
    24
"""

from noise.crossfit import cross_fit_decode, estimate_halves, half_indices
from noise.drift import SlidingWindowEstimator
from noise.estimate import (
    METHODS,
    NoiseEstimate,
    count_parities,
    estimate_from_counts,
    estimate_noise,
    mechanism_prob,
    pairwise_edge_prob,
)
from noise.moments import BACKENDS, ParityAccumulator, ParityCounts
from noise.reweight import (
    clamp_probabilities,
    graph_edge_prob_like,
    matching_dem,
    uniform_dem,
    with_mechanism_probabilities,
)
from noise.structure import NOMINAL_NOISE, NoiseStructure, structure_fingerprint
from noise.weights_file import NoiseWeights, load_noise_weights, save_noise_weights

__all__ = [
    "BACKENDS", "clamp_probabilities", "count_parities", "estimate_from_counts", "estimate_noise",
    "graph_edge_prob_like", "load_noise_weights", "matching_dem", "mechanism_prob", "METHODS",
    "NoiseEstimate", "NoiseStructure", "NoiseWeights", "NOMINAL_NOISE", "pairwise_edge_prob",
    "ParityAccumulator", "ParityCounts", "save_noise_weights", "SlidingWindowEstimator",
    "structure_fingerprint", "uniform_dem", "with_mechanism_probabilities",
    "cross_fit_decode", "estimate_halves", "half_indices",
]
