"""An experiment folder in the layout of Google's published surface-code data.

Google Quantum AI published its Sycamore memory experiments (Nature 614, 676-681 (2023);
doi:10.5281/zenodo.6804040, CC BY 4.0) as one folder per experiment::

    circuit_noisy.stim                      the circuit that ran, with Google's noise model
    detection_events.b8                     detection events, one shot each (stim's b8)
    obs_flips_actual.01                     the observable flips that happened (stim's 01)
    obs_flips_predicted_by_<decoder>.01     optional: a decoder's predictions for every shot
    pij_from_even_for_odd.dem               optional: a DEM fitted on the even shots (0, 2,
    pij_from_odd_for_even.dem                 4, ...) for decoding the odd ones, and back
    circuit_detector_error_model.dem        optional: the circuit's DEM
    properties.yml                          optional: 'key: value' lines (rounds, shots, ...)

:func:`read_experiment` reads one, checking every file against the circuit before any
decoding: the events must hold the circuit's detector count per shot, every observable file
the same shots as the events, the properties (when present) the same counts, and the circuit
must be a rotated surface-code memory experiment (its layout is inferred by
:class:`qec.Geometry`).

Examples:
    >>> import pathlib, tempfile
    >>> from qec import Task, NoiseModel, sample_detectors, write_sample_file
    >>> task = Task(distance=3, rounds=2, noise=NoiseModel.uniform(0.01))
    >>> chunk = next(sample_detectors(task.circuit(), shots=100, seed=1))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     folder = pathlib.Path(d)
    ...     _ = (folder / CIRCUIT_FILE).write_text(str(task.circuit()))
    ...     write_sample_file(folder / DETS_FILE, format="b8", dets_bit_packed=chunk.dets,
    ...                       num_detectors=16)
    ...     write_sample_file(folder / OBS_FILE, format="01", obs_bit_packed=chunk.obs,
    ...                       num_observables=1)
    ...     exp = read_experiment(folder)
    >>> exp.shots, exp.num_detectors, exp.rounds, exp.predictions
    (100, 16, 2, {})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import stim

from qec.errors import InputError
from qec.geometry import Geometry
from qec.sample_io import read_sample_file

CIRCUIT_FILE = "circuit_noisy.stim"
DETS_FILE = "detection_events.b8"
OBS_FILE = "obs_flips_actual.01"
REQUIRED_FILES = (CIRCUIT_FILE, DETS_FILE, OBS_FILE)
PREDICTION_PREFIX = "obs_flips_predicted_by_"
CIRCUIT_DEM_FILE = "circuit_detector_error_model.dem"
PROPERTIES_FILE = "properties.yml"
#: The published DEM fitted on each half of the shots (used to decode the other half).
PIJ_FILES = {"even": "pij_from_even_for_odd.dem", "odd": "pij_from_odd_for_even.dem"}


@dataclass(frozen=True, kw_only=True, eq=False)
class Experiment:
    """One experiment folder, read and checked.

    Attributes:
        path: the folder.
        circuit: the circuit that ran (``circuit_noisy.stim``).
        geometry: its inferred rotated surface-code layout.
        dets: (shots, ceil(D/8)) uint8, bit-packed detection events.
        obs: (shots, ceil(O/8)) uint8, bit-packed actual observable flips.
        predictions: decoder name (the ``obs_flips_predicted_by_<name>.01`` part) -> its
            (shots, ceil(O/8)) uint8 bit-packed predictions.
        properties: ``properties.yml``'s 'key: value' pairs (strings; empty without one).
    """

    path: Path
    circuit: stim.Circuit
    geometry: Geometry
    dets: np.ndarray
    obs: np.ndarray
    predictions: dict[str, np.ndarray] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def shots(self) -> int:
        return int(self.dets.shape[0])

    @property
    def num_detectors(self) -> int:
        return self.circuit.num_detectors

    @property
    def num_observables(self) -> int:
        return self.circuit.num_observables

    @property
    def rounds(self) -> int:
        return self.geometry.rounds

    @property
    def distance(self) -> int:
        return self.geometry.distance

    def has_pij(self) -> bool:
        """Whether both published cross-fitted DEMs (``pij_from_*.dem``) are present."""
        return all((self.path / name).is_file() for name in PIJ_FILES.values())

    def pij_dem(self, fitted_on: str) -> stim.DetectorErrorModel:
        """The published DEM fitted on the ``fitted_on`` half ('even' or 'odd') of the shots,
        for decoding the other half; checked against the circuit's detector count."""
        if fitted_on not in PIJ_FILES:
            raise InputError(f"fitted_on={fitted_on!r} must be 'even' or 'odd'")
        return read_dem_file(self.path / PIJ_FILES[fitted_on], circuit=self.circuit,
                             what=f"{PIJ_FILES[fitted_on]} of {str(self.path)!r}")


def read_experiment(path: str | Path) -> Experiment:
    """Read and check an experiment folder (see the module docstring for its files).

    Args:
        path: the folder.

    Returns:
        The :class:`Experiment`.

    Raises:
        InputError: a file is missing or unreadable, the events do not fit the circuit, an
            observable file holds another number of shots, the properties disagree with the
            files, or the circuit is not a rotated surface-code memory experiment.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InputError(f"experiment={str(path)!r} is not a folder")
    missing = [name for name in REQUIRED_FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(f"experiment={str(path)!r} lacks {', '.join(missing)} (an experiment "
                         f"folder holds {', '.join(REQUIRED_FILES)})")
    circuit = _read_circuit(folder / CIRCUIT_FILE)
    properties = _read_properties(folder / PROPERTIES_FILE)
    geometry = _geometry(folder / CIRCUIT_FILE, circuit, basis=properties.get("basis"))
    dets = _read_bits(folder / DETS_FILE, "b8", circuit.num_detectors, 0, circuit)
    obs = _read_bits(folder / OBS_FILE, "01", 0, circuit.num_observables, circuit)
    _check_shots(folder / OBS_FILE, obs.shape[0], dets.shape[0])
    predictions = {}
    for file in sorted(folder.glob(PREDICTION_PREFIX + "*.01")):
        predictions[file.stem.removeprefix(PREDICTION_PREFIX)] = _read_bits(
            file, "01", 0, circuit.num_observables, circuit)
        _check_shots(file, predictions[file.stem.removeprefix(PREDICTION_PREFIX)].shape[0],
                     dets.shape[0])
    _check_properties(folder / PROPERTIES_FILE, properties, circuit=circuit, geometry=geometry,
                      shots=dets.shape[0])
    return Experiment(path=folder, circuit=circuit, geometry=geometry, dets=dets, obs=obs,
                      predictions=predictions, properties=properties)


def read_dem_file(path: str | Path, *, circuit: stim.Circuit, what: str | None = None
                  ) -> stim.DetectorErrorModel:
    """A detector error model file for decoding ``circuit``'s events: parsed, with the
    circuit's detector and observable counts, and carrying its detector coordinates (added
    from the circuit when the file has none, so the pre-decoder can read the layout).

    Examples:
        >>> import pathlib, tempfile
        >>> from qec import memory_circuit
        >>> c = memory_circuit(distance=3, rounds=1, basis="X")
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = pathlib.Path(d) / "m.dem"
        ...     _ = p.write_text("error(0.1) D0 D1\\nerror(0.1) D0 L0\\ndetector D7")
        ...     dem = read_dem_file(p, circuit=c)
        >>> dem.num_detectors, dem.get_detector_coordinates()[0] == c.get_detector_coordinates()[0]
        (8, True)
    """
    what = what or f"DEM file {str(path)!r}"
    try:
        dem = stim.DetectorErrorModel(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"{what} cannot be read: {exc.strerror}") from exc
    except (UnicodeDecodeError, ValueError) as exc:  # stim names the line that breaks
        raise InputError(f"{what} is not a detector error model: "
                         f"{' '.join(str(exc).split())[:300]}") from exc
    if (dem.num_detectors, dem.num_observables) != (circuit.num_detectors,
                                                     circuit.num_observables):
        raise InputError(f"{what} has {dem.num_detectors} detectors and {dem.num_observables} "
                         f"observables but the circuit has {circuit.num_detectors} and "
                         f"{circuit.num_observables}: it is the DEM of another circuit")
    return with_detector_coordinates(dem, circuit)


def with_detector_coordinates(dem: stim.DetectorErrorModel, circuit: stim.Circuit
                              ) -> stim.DetectorErrorModel:
    """``dem`` with ``circuit``'s detector coordinates when it carries none (a DEM built
    from learned weights does not); unchanged when it has its own."""
    if all(dem.get_detector_coordinates().values()):
        return dem
    # stim keeps a detector's first declaration, so bare 'detector Dk' lines must go first
    out = stim.DetectorErrorModel()
    for inst in dem.flattened():
        if inst.type != "detector":
            out.append(inst)
    coords = circuit.get_detector_coordinates()
    for k in range(circuit.num_detectors):
        out.append("detector", coords.get(k, []), [stim.target_relative_detector_id(k)])
    return out


def _read_circuit(path: Path) -> stim.Circuit:
    try:
        circuit = stim.Circuit(path.read_text())
    except OSError as exc:
        raise InputError(f"{str(path)!r} cannot be read: {exc.strerror}") from exc
    except (UnicodeDecodeError, ValueError) as exc:  # stim names the line that breaks
        raise InputError(f"{str(path)!r} is not a stim circuit: "
                         f"{' '.join(str(exc).split())[:300]}") from exc
    if circuit.num_detectors == 0 or circuit.num_observables == 0:
        raise InputError(f"{str(path)!r} has {circuit.num_detectors} detectors and "
                         f"{circuit.num_observables} observables; decoding needs both")
    return circuit


def _geometry(path: Path, circuit: stim.Circuit, *, basis: str | None) -> Geometry:
    """The inferred layout; the memory basis from properties.yml when it says (a one-round
    experiment's coordinates fit a patch and its transpose alike)."""
    if basis not in (None, "X", "Z"):
        raise InputError(f"{str(path.parent / PROPERTIES_FILE)!r} says basis: {basis}; "
                         "expected X or Z")
    try:
        return Geometry.from_circuit(circuit, basis=basis)
    except ValueError as exc:  # the layout inference says what does not fit
        raise InputError(f"{str(path)!r} is not a rotated surface-code memory experiment: "
                         f"{exc}") from exc


def _read_bits(path: Path, fmt: str, num_detectors: int, num_observables: int,
               circuit: stim.Circuit) -> np.ndarray:
    """The bit-packed detectors (or observables) of one file, checked against the circuit."""
    try:
        chunk = read_sample_file(path, format=fmt, num_detectors=num_detectors,
                                 num_observables=num_observables)
    except OSError as exc:
        raise InputError(f"{str(path)!r} cannot be read: {exc.strerror}") from exc
    except ValueError as exc:  # the reader names the file and the rule; add the circuit's size
        raise InputError(f"{exc} (the circuit {CIRCUIT_FILE} has {circuit.num_detectors} "
                         f"detectors and {circuit.num_observables} observables)") from exc
    bits = chunk.dets if num_detectors else chunk.obs
    if bits.shape[0] == 0:
        raise InputError(f"{str(path)!r} holds no shots")
    return bits


def _check_shots(path: Path, shots: int, dets_shots: int) -> None:
    if shots != dets_shots:
        raise InputError(
            f"{str(path)!r} holds {shots} shots but {DETS_FILE} holds {dets_shots} shots of "
            f"the circuit's detectors: the files are of different experiments, or "
            f"{CIRCUIT_FILE} is not the circuit of these events")


def _read_properties(path: Path) -> dict[str, str]:
    """'key: value' lines of a flat YAML file (the only kind the published folders have)."""
    if not path.is_file():
        return {}
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{str(path)!r} cannot be read as text: {exc}") from exc
    out = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or not key.strip():
            raise InputError(f"{str(path)!r} line {number} is not 'key: value': {line[:80]!r}")
        out[key.strip()] = value.strip()
    return out


def _check_properties(path: Path, props: dict[str, str], *, circuit: stim.Circuit,
                      geometry: Geometry, shots: int) -> None:
    """Every count the properties state must be the files' own."""
    actual = {"shots": shots, "rounds": geometry.rounds, "distance": geometry.distance,
              "circuit_detectors": circuit.num_detectors,
              "circuit_observables": circuit.num_observables}
    for key, value in actual.items():
        if key in props and props[key] != str(value):
            raise InputError(f"{str(path)!r} says {key}: {props[key]} but the files have "
                             f"{value}: the folder mixes files of different experiments")
    if "basis" in props and props["basis"] != geometry.basis:
        raise InputError(f"{str(path)!r} says basis: {props['basis']} but the circuit is a "
                         f"{geometry.basis}-basis memory experiment")
