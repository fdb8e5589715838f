"""qec: the surface-code world -- circuits, noise models, geometry, sampling, matching, statistics.

Knows nothing of neural networks or Ray.

Examples:
    >>> from qec import Task, NoiseModel, MatchingDecoder, sample_detectors
    >>> task = Task(distance=3, rounds=3, basis="X", noise=NoiseModel.uniform(0.003))
    >>> task.circuit().num_detectors
    24
"""

from qec.bits import check_packed, pack_bits, popcount_rows, unpack_bits
from qec.budget import WorkEstimate, check_fits, estimate_detectors, estimate_task
from qec.circuit_file import (
    MAX_CIRCUIT_OPERATIONS,
    file_circuit_dem,
    flattened_operations,
    read_circuit_file,
)
from qec.circuits import Basis, memory_circuit
from qec.cycle_fit import CycleFit, fit_error_per_cycle
from qec.errors import InputError, InputTypeError, RunFailure
from qec.experiment import Experiment, read_dem_file, read_experiment
from qec.files import (
    append_text,
    atomic_path,
    atomic_write,
    check_output_dir,
    check_output_path,
    file_sha256,
    update_text,
)
from qec.frame import LayoutFrame
from qec.geometry import BASIS_X, BASIS_Z, Geometry
from qec.graph import BOUNDARY, PROB_FLOOR, MatchingGraph, weight_of_prob, xor_prob
from qec.matching import MATCHING_DECODERS, MatchingDecoder
from qec.noise_models import NOISE_NAMES, PAULIS_2Q, NoiseModel, noise_family_of
from qec.per_shot_matching import (
    BlossomMatcher,
    PerShotWeightMatcher,
    SparseEdgeWeights,
    edge_ids_of_pairs,
)
from qec.referees import (
    REFEREE_NAMES,
    MissingRefereeError,
    make_referee,
    referee_within_budget,
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
    StageStats,
    format_rate,
    mcnemar_exact,
    per_round,
    sinter_csv_header,
    sinter_rows,
    us_per_round,
    wilson_interval,
)
from qec.task import Task, circuit_dem

__all__ = [
    "append_text", "atomic_path", "atomic_write", "Basis", "BASIS_X", "BASIS_Z", "BlossomMatcher",
    "BOUNDARY", "check_fits", "check_output_dir", "check_output_path", "check_packed",
    "circuit_dem", "DecodeStats", "DEFAULT_CHUNK_SHOTS", "edge_ids_of_pairs", "estimate_detectors",
    "estimate_task", "file_circuit_dem", "file_sha256", "flattened_operations", "format_rate",
    "Geometry", "InputError", "InputTypeError", "LayoutFrame", "MATCHING_DECODERS",
    "MatchingDecoder", "MatchingGraph", "MAX_CIRCUIT_OPERATIONS", "mcnemar_exact", "memory_circuit",
    "noise_family_of", "NOISE_NAMES", "NoiseModel", "pack_bits", "PairedCounts", "PAULIS_2Q",
    "per_round", "PerShotWeightMatcher", "popcount_rows", "PROB_FLOOR", "read_circuit_file",
    "read_sample_file",
    "RunFailure", "sample_dem", "sample_detectors", "sample_format_from_path", "SAMPLE_FORMATS",
    "SampleChunk", "sinter_csv_header", "sinter_rows", "SparseEdgeWeights", "StageStats", "Task",
    "unpack_bits", "update_text", "us_per_round", "weight_of_prob", "wilson_interval",
    "WorkEstimate",
    "write_sample_file", "xor_prob",
    "CycleFit", "Experiment", "fit_error_per_cycle", "read_dem_file", "read_experiment",
    # the referees of the layered decoders (qec.referees)
    "make_referee", "MissingRefereeError", "REFEREE_NAMES", "referee_within_budget",
]


def _package_version() -> str:
    """The installed distribution's version: pyproject.toml is its one source."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("qecpipe")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


__version__ = _package_version()
