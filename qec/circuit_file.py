"""The one way qecpipe reads a stim circuit from a file: sized from its text before anything
is built from it.

stim parses a circuit without flattening its REPEAT blocks, and counts its detectors,
observables and qubits the same way (``REPEAT 1000000000000 { ... }`` parses in microseconds).
Everything built from a circuit afterwards (the sample reader's buffers, the detector layout,
the DEM, the matching graph, the noise structure) grows with those counts or with the
flattened operations, so they are checked here, first:

- the detectors must fit in the memory available now (:func:`qec.check_fits`, the budget every
  subcommand uses);
- the flattened operation count (gate targets, REPEAT counts multiplied out) must stay under
  :data:`MAX_CIRCUIT_OPERATIONS`: stim's DEM analysis walks them one by one, so a loop of 10^12
  noisy idles with a single detector would otherwise run for days.

Examples:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.stim"
    >>> _ = path.write_text("REPEAT 1000000000000 {\\n X_ERROR(0.1) 0\\n}\\nM 0\\n"
    ...                     "DETECTOR rec[-1]\\nOBSERVABLE_INCLUDE(0) rec[-1]\\n")
    >>> try:
    ...     read_circuit_file(path, flag="--circuit")
    ... except InputError as exc:
    ...     print(str(exc).split(" has ")[1].split(";")[0])
    1,000,000,000,003 operations once its REPEAT blocks are multiplied out
    >>> from qec import Task, NoiseModel
    >>> _ = path.write_text(str(Task(distance=3, noise=NoiseModel.uniform(0.01)).circuit()))
    >>> read_circuit_file(path, flag="--circuit").num_detectors
    24
"""

from __future__ import annotations

from pathlib import Path

import stim

from qec.budget import check_fits, estimate_detectors
from qec.errors import InputError
from qec.task import circuit_dem

MAX_CIRCUIT_FILE_BYTES = 256 * 2**20
# A rotated surface-code memory circuit has about 23 gate targets per detector (d = 3..25);
# 10^8 operations are about 4 million detectors, more than the memory budget admits here.
MAX_CIRCUIT_OPERATIONS = 10**8


def read_circuit_file(path: str | Path, *, flag: str, need_observables: bool = True
                      ) -> stim.Circuit:
    """The stim circuit in ``path``, refused (naming ``flag`` and the path) unless it can be
    read, parsed, has at least one detector (and observable, with ``need_observables``), and
    its sizes fit: all checked before anything is built from it.

    Args:
        path: a stim circuit file (text).
        flag: the command-line flag that named it, for messages (``"--circuit"``).
        need_observables: refuse a circuit without ``OBSERVABLE_INCLUDE``.

    Returns:
        The parsed circuit (REPEAT blocks kept, nothing flattened).
    """
    shown = f"{flag}={str(path)!r}"
    text = _read_text(Path(path), shown)
    try:
        circuit = stim.Circuit(text)
    except ValueError as exc:  # stim's parse error names the problem; keep it on one line
        raise InputError(f"{shown} is not a stim circuit: {' '.join(str(exc).split())}"
                         ) from exc
    check_fits(estimate_detectors(circuit.num_detectors), what=shown)
    try:
        operations = flattened_operations(circuit)
    except RecursionError as exc:  # REPEAT blocks nested thousands deep
        raise InputError(f"{shown} nests REPEAT blocks too deeply to be analysed") from exc
    if operations > MAX_CIRCUIT_OPERATIONS:
        raise InputError(f"{shown} has {operations:,} operations once its REPEAT blocks are "
                         f"multiplied out; at most {MAX_CIRCUIT_OPERATIONS:,} are allowed "
                         "(about 4 million detectors of a surface-code circuit)")
    if circuit.num_detectors == 0 or (need_observables and circuit.num_observables == 0):
        need = "at least one detector and one observable" if need_observables else (
            "at least one detector")
        raise InputError(f"{shown} has {circuit.num_detectors} detectors and "
                         f"{circuit.num_observables} observables; decoding needs {need} "
                         "(DETECTOR and OBSERVABLE_INCLUDE instructions)")
    return circuit


def _read_text(path: Path, shown: str) -> str:
    try:
        size = path.stat().st_size
        if size > MAX_CIRCUIT_FILE_BYTES:
            raise InputError(f"{shown} holds {size:,} bytes; a circuit file may hold at most "
                             f"{MAX_CIRCUIT_FILE_BYTES:,} (use REPEAT blocks)")
        return path.read_text()
    except OSError as exc:
        raise InputError(f"{shown} cannot be read: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{shown} cannot be read: not a text file (byte {exc.start} is not "
                         "UTF-8)") from exc


def flattened_operations(circuit: stim.Circuit) -> int:
    """Gate targets (at least one per instruction) with every REPEAT count multiplied out,
    counted from the circuit's structure without flattening it.

    Examples:
        >>> flattened_operations(stim.Circuit("H 0 1\\nREPEAT 10 {\\n CX 0 1\\n TICK\\n}"))
        32
    """
    total = 0
    for item in circuit:
        if isinstance(item, stim.CircuitRepeatBlock):
            total += item.repeat_count * flattened_operations(item.body_copy())
        else:
            total += max(1, len(item.targets_copy()))
    return total


def file_circuit_dem(circuit: stim.Circuit, *, flag: str, path: str | Path
                     ) -> stim.DetectorErrorModel:
    """The graphlike-decomposed DEM of a circuit read from a file (:func:`qec.circuit_dem`),
    refused with one message naming ``flag`` and ``path`` when stim cannot decompose its
    errors into edges (e.g. a colour code's three-detector errors): what every subcommand
    that builds a matching graph from a user's circuit (decode, learn-noise) says."""
    try:
        return circuit_dem(circuit)
    except ValueError as exc:  # an error with 3+ detection events that is not graphlike
        raise InputError(f"{flag}={str(path)!r}: no matching graph: stim cannot decompose its "
                         f"errors into edges ({' '.join(str(exc).split()[:12])}...); matching "
                         "needs errors with at most two detection events each") from exc
