"""qec: the surface-code world -- circuits, noise models, geometry, sampling, matching, statistics.

Knows nothing of neural networks or Ray.

Examples:
    >>> from qec import Task, NoiseModel, MatchingDecoder, sample_detectors
    >>> task = Task(distance=3, rounds=3, basis="X", noise=NoiseModel.uniform(0.003))
    >>> task.circuit().num_detectors
    24
"""

from qec.bits import check_packed, pack_bits, popcount_rows, unpack_bits
from qec.circuits import Basis, memory_circuit
from qec.geometry import BASIS_X, BASIS_Z, Geometry
from qec.graph import BOUNDARY, PROB_FLOOR, MatchingGraph, weight_of_prob, xor_prob
from qec.matching import MATCHING_DECODERS, MatchingDecoder
from qec.noise_models import NOISE_NAMES, PAULIS_2Q, NoiseModel
from qec.per_shot_matching import (
    BlossomMatcher,
    PerShotWeightMatcher,
    SparseEdgeWeights,
    edge_ids_of_pairs,
)
from qec.sample_io import (
    SAMPLE_FORMATS,
    read_sample_file,
    sample_format_from_path,
    write_sample_file,
)
from qec.sampling import DEFAULT_CHUNK_SHOTS, SampleChunk, sample_dem, sample_detectors
from qec.stats import (
    DecodeStats,
    PairedCounts,
    format_rate,
    mcnemar_exact,
    per_round,
    sinter_csv_header,
    sinter_rows,
    wilson_interval,
)
from qec.task import Task, circuit_dem

__all__ = [
    "BASIS_X", "BASIS_Z", "BOUNDARY", "Basis", "DEFAULT_CHUNK_SHOTS", "DecodeStats",
    "Geometry", "MATCHING_DECODERS", "MatchingDecoder", "MatchingGraph", "NOISE_NAMES",
    "NoiseModel", "PAULIS_2Q", "SampleChunk", "Task", "check_packed", "circuit_dem",
    "format_rate", "memory_circuit", "pack_bits", "per_round", "popcount_rows", "sample_dem",
    "sample_detectors", "sinter_csv_header", "sinter_rows", "unpack_bits", "wilson_interval",
    "xor_prob",
    "PairedCounts", "mcnemar_exact", "BlossomMatcher", "PROB_FLOOR", "PerShotWeightMatcher",
    "SparseEdgeWeights", "edge_ids_of_pairs", "weight_of_prob",
    "SAMPLE_FORMATS", "read_sample_file", "sample_format_from_path", "write_sample_file",
]
__version__ = "0.1.0"
