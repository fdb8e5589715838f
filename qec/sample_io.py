"""Detection-event files in stim's result formats: b8, 01 and dets.

The formats are stim's (https://github.com/quantumlib/Stim/blob/main/doc/result_formats.md):

- ``b8``: binary, each shot ceil(n/8) bytes, bit k of a shot in byte k//8 at weight 2**(k%8)
  (qecpipe's bit-packing), padding bits zero.
- ``01``: text, one line of n '0'/'1' characters per shot, each line ended by '\\n'.
- ``dets``: text, one line per shot: 'shot' then space-separated 'D<k>' (detector k fired) and
  'L<k>' (observable k flipped).

A shot holds ``num_detectors`` detector bits followed by ``num_observables`` observable bits,
as stim writes with ``append_observables=True``; an observables-only file (stim's
``obs_out_filepath``) has ``num_detectors=0``. Arrays are bit-packed uint8 in stim's
little-endian convention, (shots, ceil(D/8)) and (shots, ceil(O/8)).

stim's reader parses the files and is strict; when it rejects one, the file is scanned again to
say where and why, so a truncated or mismatched file gets a message naming the file, the line
(or byte size) and the rule it breaks. A b8 file is also checked for a size that is not a whole
number of shots and for set padding bits, which stim's reader cannot see.

Examples:
    >>> import pathlib, tempfile
    >>> import numpy as np
    >>> dets = pack_bits(np.array([[1, 0, 0], [0, 1, 1]]))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     path = pathlib.Path(d) / "events.dets"
    ...     write_sample_file(path, format="dets", dets_bit_packed=dets, num_detectors=3)
    ...     print(path.read_text(), end="")
    ...     back = read_sample_file(path, format="dets", num_detectors=3)
    shot D0
    shot D1 D2
    >>> bool((back.dets == dets).all()), back.obs.shape
    (True, (2, 0))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import stim

from qec.bits import check_packed, pack_bits, unpack_bits
from qec.errors import InputError
from qec.files import atomic_write
from qec.sampling import SampleChunk

SAMPLE_FORMATS = ("b8", "01", "dets")
_SUFFIXES = {".b8": "b8", ".01": "01", ".dets": "dets"}


def sample_format_from_path(path: str | Path) -> str:
    """The format named by a file's extension: '.b8', '.01' or '.dets'.

    Examples:
        >>> sample_format_from_path("run7/detection_events.b8")
        'b8'
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise InputError(f"{path}: cannot tell the sample format from the extension "
                         f"{suffix!r}; use .b8, .01 or .dets or name the format explicitly")
    return _SUFFIXES[suffix]


def read_sample_file(
    path: str | Path, *, format: str, num_detectors: int = 0, num_observables: int = 0
) -> SampleChunk:
    """Read a file of shots with ``num_detectors`` then ``num_observables`` bits each.

    Args:
        path: the file.
        format: 'b8', '01' or 'dets'.
        num_detectors: detector bits per shot (0 for an observables-only file).
        num_observables: observable bits per shot stored in the file.

    Returns:
        SampleChunk with ``dets`` (shots, ceil(D/8)) and ``obs`` (shots, ceil(O/8)) uint8.

    Raises:
        ValueError: the file breaks the format or does not hold the stated bits per shot;
            the message names the file and the problem.
    """
    _check_counts(format, num_detectors, num_observables)
    path = Path(path)
    if format == "b8":  # stim cannot see a b8 file of the wrong width; its size and padding can
        _validate_b8(path, path.read_bytes(), num_detectors + num_observables)
    try:
        dets, obs = stim.read_shot_data_file(
            path=str(path), format=format, num_detectors=num_detectors,
            num_observables=num_observables, separate_observables=True, bit_packed=True)
    except ValueError as exc:
        # stim's reader is strict but does not say where; find the line and say what is wrong.
        if format == "01":
            _find_01_error(path, path.read_bytes(), num_detectors + num_observables)
        elif format == "dets":
            _find_dets_error(path, path.read_bytes(),
                             {"D": num_detectors, "L": num_observables})
        raise InputError(f"{path}: {' '.join(str(exc).split())}") from exc
    return SampleChunk(dets=np.ascontiguousarray(dets, dtype=np.uint8),
                       obs=np.ascontiguousarray(obs, dtype=np.uint8))


def write_sample_file(
    path: str | Path,
    *,
    format: str,
    dets_bit_packed: np.ndarray | None = None,
    num_detectors: int = 0,
    obs_bit_packed: np.ndarray | None = None,
    num_observables: int = 0,
) -> None:
    """Write shots (detectors, then observables) in stim's ``format``, atomically.

    The bytes are made here (stim's own writer does not report a failed write) and land
    through :func:`qec.atomic_write`: a full disk leaves the previous file intact.

    Args:
        path: the file (replaced).
        format: 'b8', '01' or 'dets'.
        dets_bit_packed: (shots, ceil(D/8)) uint8; required when ``num_detectors`` > 0.
        num_detectors: detector bits per shot.
        obs_bit_packed: (shots, ceil(O/8)) uint8; required when ``num_observables`` > 0.
        num_observables: observable bits per shot.
    """
    _check_counts(format, num_detectors, num_observables)
    parts = []
    for name, array, count in (("dets_bit_packed", dets_bit_packed, num_detectors),
                               ("obs_bit_packed", obs_bit_packed, num_observables)):
        if count == 0:
            continue
        if array is None:
            raise InputError(f"{name}=None but the file is to hold {count} bits of it per shot")
        parts.append((name, check_packed(array, count, name), count))
    shots = {name: a.shape[0] for name, a, _ in parts}
    if len(set(shots.values())) > 1:
        raise InputError(f"shot counts differ: {shots}; detectors and observables must have "
                         "one row per shot each")
    if len(parts) == 1:
        data = parts[0][1]
    else:
        data = pack_bits(np.concatenate([unpack_bits(a, n) for _, a, n in parts], axis=1))
    atomic_write(path, _encode(data, format, num_detectors, num_observables))


def _encode(data: np.ndarray, format: str, num_detectors: int, num_observables: int) -> bytes:
    """Packed shots -> the bytes of a ``format`` file (stim's result formats)."""
    if format == "b8":
        return np.ascontiguousarray(data, dtype=np.uint8).tobytes()
    bits = unpack_bits(data, num_detectors + num_observables)
    if format == "01":
        rows = np.where(bits, ord("1"), ord("0")).astype(np.uint8)
        return np.concatenate([rows, np.full((rows.shape[0], 1), ord("\n"), np.uint8)],
                              axis=1).tobytes()
    names = [f"D{k}" for k in range(num_detectors)] + [f"L{k}" for k in range(num_observables)]
    return "".join(" ".join(["shot", *(names[k] for k in np.flatnonzero(row))]) + "\n"
                   for row in bits).encode()


def _check_counts(format: str, num_detectors: int, num_observables: int) -> None:
    if format not in SAMPLE_FORMATS:
        raise InputError(f"format={format!r} is not supported; choose one of "
                         f"{', '.join(SAMPLE_FORMATS)}")
    for name, value in (("num_detectors", num_detectors), ("num_observables", num_observables)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"{name}={value!r} must be an integer >= 0")
    if num_detectors + num_observables == 0:
        raise InputError("num_detectors=0 and num_observables=0: a shot must hold at least "
                         "one bit")


def _validate_b8(path: Path, data: bytes, num_bits: int) -> None:
    record = (num_bits + 7) // 8
    if len(data) % record:
        raise InputError(
            f"{path}: b8 file has {len(data)} bytes, not a multiple of {record} bytes per shot "
            f"({num_bits} bits); truncated, or written for a different circuit")
    if num_bits % 8 == 0 or not data:
        return
    last = np.frombuffer(data, dtype=np.uint8)[record - 1::record]
    bad = np.flatnonzero(last >> (num_bits % 8))
    if bad.size:
        raise InputError(
            f"{path}: b8 shot {int(bad[0])} sets padding bits beyond bit {num_bits}; the file "
            f"holds more than {num_bits} bits per shot (written for a different circuit?)")


def _find_01_error(path: Path, data: bytes, num_bits: int) -> None:
    lines = data.split(b"\n")
    for number, line in enumerate(lines if lines[-1] else lines[:-1], start=1):
        line = line[:-1] if line.endswith(b"\r") else line
        bad = line.translate(None, b"01")
        if bad:
            column = next(i for i, c in enumerate(line) if c not in b"01") + 1
            raise InputError(f"{path}: line {number} column {column} has {chr(bad[0])!r}; "
                             "01 lines hold only '0' and '1'")
        if len(line) != num_bits:
            raise InputError(f"{path}: line {number} has {len(line)} bits, expected "
                             f"{num_bits} per shot; truncated, or written for a different "
                             "circuit")
    if lines[-1]:
        raise InputError(f"{path}: 01 file does not end with a newline after line "
                         f"{len(lines)}; truncated?")


def _find_dets_error(path: Path, data: bytes, limits: dict[str, int]) -> None:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        line = raw.decode("ascii", errors="replace").removesuffix("\r")
        if not line:
            continue  # stim skips blank lines
        tokens = line.split(" ")
        where = f"{path}: line {number}"
        if tokens[0] != "shot":
            raise InputError(f"{where} starts with {tokens[0][:20]!r}; dets lines start with "
                             "'shot'")
        for token in tokens[1:]:
            _check_dets_token(where, token, limits)


def _check_dets_token(where: str, token: str, limits: dict[str, int]) -> None:
    if not token:
        raise InputError(f"{where} has a double or trailing space; dets values are separated "
                         "by single spaces")
    prefix, digits = token[0], token[1:]
    if prefix == "M":
        raise InputError(f"{where} has measurement result {token!r}; expected detection "
                         "events (D) and observable flips (L)")
    if prefix not in limits:
        raise InputError(f"{where} has {token[:20]!r} with unknown prefix {prefix!r}; "
                         "expected D<k> or L<k>")
    if not (digits.isascii() and digits.isdigit()):
        raise InputError(f"{where} has {token[:20]!r}; the prefix must be followed by a "
                         "non-negative integer")
    kind = "detectors" if prefix == "D" else "observables"
    if limits[prefix] == 0:
        raise InputError(f"{where} has {token} but the shots hold no {kind}")
    if int(digits) >= limits[prefix]:
        raise InputError(f"{where} has {token}, out of range for {limits[prefix]} {kind} "
                         f"(indices 0..{limits[prefix] - 1})")

