"""Logical error rates with binomial intervals, per shot and per round, and sinter CSV rows."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from qec.errors import InputError

Z_95 = 1.959963984540054


def wilson_interval(errors: int, shots: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval (95% by default) for a binomial rate.

    Examples:
        >>> lo, hi = wilson_interval(0, 1000)
        >>> lo, round(hi, 5)
        (0.0, 0.00383)
    """
    if shots <= 0:
        return 0.0, 1.0
    phat = errors / shots
    denom = 1 + z * z / shots
    centre = (phat + z * z / (2 * shots)) / denom
    half = z * math.sqrt(phat * (1 - phat) / shots + z * z / (4 * shots * shots)) / denom
    low = 0.0 if errors == 0 else max(0.0, centre - half)
    high = 1.0 if errors == shots else min(1.0, centre + half)
    return low, high


def per_round(p_shot: float, rounds: int) -> float:
    """LER per round = 1 - (1 - P)^(1/rounds) (P capped below 1/2's symmetric point).

    Examples:
        >>> round(per_round(0.0199, 2), 5)
        0.01
    """
    p_shot = min(max(p_shot, 0.0), 1.0)
    return 1 - (1 - p_shot) ** (1 / rounds)


def us_per_round(seconds: float, shots: int, rounds: int) -> float:
    """Microseconds per round: seconds / (shots x rounds) x 10^6 (0 for no work).

    Examples:
        >>> us_per_round(0.5, 1000, 5)
        100.0
    """
    return seconds / max(shots * rounds, 1) * 1e6


def _check_counts(owner: str, **counts: int) -> None:
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"{owner}: {name}={value!r} must be an integer >= 0")


@dataclass(frozen=True, kw_only=True)
class DecodeStats:
    """What one decoder did on a set of shots.

    ``ler`` is the observed rate, or the interval's upper bound when there were no errors
    (``ler_is_upper_bound``): a rate of exactly 0 is never reported. Stats of the same decoder
    and rounds add up (``a + b``), like sinter's ``AnonTaskStats``.

    Examples:
        >>> s = DecodeStats(decoder="pymatching", shots=1000, errors=0, seconds=0.1, rounds=5)
        >>> s.ler_is_upper_bound, round(s.ler, 5)
        (True, 0.00383)
        >>> (s + s).shots
        2000
    """

    decoder: str
    shots: int
    errors: int
    seconds: float
    rounds: int
    discards: int = 0

    def __post_init__(self) -> None:
        _check_counts("DecodeStats", shots=self.shots, errors=self.errors,
                      discards=self.discards)
        if self.errors + self.discards > self.shots:
            raise InputError(f"DecodeStats: errors={self.errors} + discards={self.discards} "
                             f"must be <= shots={self.shots}")
        if self.rounds < 1 or not math.isfinite(self.seconds) or self.seconds < 0:
            raise InputError(f"DecodeStats: rounds={self.rounds} must be >= 1 and "
                             f"seconds={self.seconds} finite and >= 0")

    def __add__(self, other: DecodeStats) -> DecodeStats:
        if (self.decoder, self.rounds) != (other.decoder, other.rounds):
            raise InputError(f"cannot add stats of {self.decoder!r} (rounds={self.rounds}) "
                             f"and {other.decoder!r} (rounds={other.rounds})")
        return DecodeStats(decoder=self.decoder, shots=self.shots + other.shots,
                           errors=self.errors + other.errors,
                           seconds=self.seconds + other.seconds, rounds=self.rounds,
                           discards=self.discards + other.discards)

    @property
    def ler_is_upper_bound(self) -> bool:
        return self.errors == 0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.errors, self.shots - self.discards)

    @property
    def ler(self) -> float:
        kept = self.shots - self.discards
        if self.errors == 0:
            return self.interval[1]
        return self.errors / kept

    @property
    def ler_per_round(self) -> float:
        return per_round(self.ler, self.rounds)

    @property
    def us_per_round(self) -> float:
        return us_per_round(self.seconds, self.shots, self.rounds)

    def to_json(self) -> dict:
        """The per-decoder object of ``qecpipe run --json``."""
        low, high = self.interval
        return {"errors": self.errors, "shots": self.shots, "ler": self.ler,
                "ler_low": low, "ler_high": high, "ler_is_upper_bound": self.ler_is_upper_bound,
                "ler_per_round": self.ler_per_round,
                "ler_per_round_low": per_round(low, self.rounds),
                "ler_per_round_high": per_round(high, self.rounds),
                "seconds": self.seconds, "us_per_round": self.us_per_round}


@dataclass(frozen=True, kw_only=True)
class StageStats:
    """One stage of a pipeline (pre-decoder, matcher, ...) on a set of shots: its time and the
    detection events going in and coming out. Adds up over chunks (``a + b``).

    Examples:
        >>> a = StageStats(shots=100, rounds=5, num_detectors=120, seconds=0.01,
        ...                events_in=600, events_out=80)
        >>> b = a + a
        >>> b.shots, b.us_per_round, b.sdr, b.density_out
        (200, 20.0, 7.5, 0.006666666666666667)
    """

    shots: int = 0
    rounds: int
    num_detectors: int
    seconds: float = 0.0
    events_in: int = 0
    events_out: int = 0

    def __post_init__(self) -> None:
        _check_counts("StageStats", shots=self.shots, num_detectors=self.num_detectors,
                      events_in=self.events_in, events_out=self.events_out)
        if self.rounds < 1 or not math.isfinite(self.seconds) or self.seconds < 0:
            raise InputError(f"StageStats: rounds={self.rounds} must be >= 1 and "
                             f"seconds={self.seconds} finite and >= 0")

    def __add__(self, other: StageStats) -> StageStats:
        if (self.rounds, self.num_detectors) != (other.rounds, other.num_detectors):
            raise InputError("cannot add stage stats of different experiments: rounds "
                             f"{self.rounds} vs {other.rounds}, detectors {self.num_detectors} "
                             f"vs {other.num_detectors}")
        return StageStats(shots=self.shots + other.shots, rounds=self.rounds,
                          num_detectors=self.num_detectors,
                          seconds=self.seconds + other.seconds,
                          events_in=self.events_in + other.events_in,
                          events_out=self.events_out + other.events_out)

    @property
    def us_per_round(self) -> float:
        return us_per_round(self.seconds, self.shots, self.rounds)

    @property
    def sdr(self) -> float:
        """Syndrome density reduction: events in / events out (inf when none are left)."""
        return self.events_in / self.events_out if self.events_out else float("inf")

    @property
    def density_out(self) -> float:
        """Detection-event density after the stage (per detector and shot)."""
        return self.events_out / max(self.shots * self.num_detectors, 1)


def mcnemar_exact(only_a: int, only_b: int, *, alternative: str = "two-sided") -> float:
    """Exact McNemar p-value from the discordant counts of two decoders on the same shots
    (shots only A got wrong, shots only B got wrong): a binomial test of ``only_a`` out of
    ``only_a + only_b`` against 1/2. ``alternative="greater"`` is the one-sided test of "A is
    wrong more often than B".

    Examples:
        >>> mcnemar_exact(0, 0), round(mcnemar_exact(10, 0), 5), mcnemar_exact(5, 5)
        (1.0, 0.00195, 1.0)
        >>> round(mcnemar_exact(10, 0, alternative="greater"), 5)
        0.00098
    """
    from scipy.stats import binomtest

    if min(only_a, only_b) < 0:
        raise InputError(f"only_a={only_a}, only_b={only_b} must be counts >= 0")
    if alternative not in ("two-sided", "greater"):
        raise InputError(f"alternative={alternative!r} must be 'two-sided' or 'greater'")
    if only_a + only_b == 0:
        return 1.0
    return float(binomtest(only_a, only_a + only_b, 0.5, alternative=alternative).pvalue)


@dataclass(frozen=True)
class PairedCounts:
    """Two decoders on the same shots: how many shots only one of them got wrong.

    Examples:
        >>> import numpy as np
        >>> a, b = np.array([1, 1, 0, 0], bool), np.array([0, 1, 1, 0], bool)
        >>> pc = PairedCounts.of("a", a, "b", b)
        >>> pc.only_a, pc.only_b, pc.p_value
        (1, 1, 1.0)
    """

    a: str
    b: str
    only_a: int
    only_b: int

    @classmethod
    def of(cls, a: str, wrong_a, b: str, wrong_b) -> PairedCounts:
        """From per-shot (S,) bool 'decoder was wrong' masks of the same shots."""
        import numpy as np

        wrong_a, wrong_b = np.asarray(wrong_a, dtype=bool), np.asarray(wrong_b, dtype=bool)
        if wrong_a.shape != wrong_b.shape:
            raise InputError(f"masks have shapes {wrong_a.shape} and {wrong_b.shape}; they "
                             "must cover the same shots")
        return cls(a, b, int((wrong_a & ~wrong_b).sum()), int((wrong_b & ~wrong_a).sum()))

    def __add__(self, other: PairedCounts) -> PairedCounts:
        if (self.a, self.b) != (other.a, other.b):
            raise InputError(f"cannot add counts of ({self.a}, {self.b}) and "
                             f"({other.a}, {other.b})")
        return PairedCounts(self.a, self.b, self.only_a + other.only_a,
                            self.only_b + other.only_b)

    @property
    def p_value(self) -> float:
        """Exact two-sided McNemar p-value (:func:`mcnemar_exact`)."""
        return mcnemar_exact(self.only_a, self.only_b)

    def to_json(self) -> dict:
        return {"a": self.a, "b": self.b, "only_a_wrong": self.only_a,
                "only_b_wrong": self.only_b, "mcnemar_p": self.p_value}


def format_rate(stats: DecodeStats) -> str:
    """'1.20e-03 [9.1e-04, 1.6e-03]' or '< 3.8e-03' with no errors."""
    if stats.ler_is_upper_bound:
        return f"< {stats.ler:.2e}"
    low, high = stats.interval
    return f"{stats.ler:.2e} [{low:.1e}, {high:.1e}]"


def sinter_rows(stats: Iterable[DecodeStats], *, circuit, json_metadata: dict,
                per_decoder: Mapping[str, dict] | None = None) -> list[str]:
    """CSV lines in sinter's format (without header) for ``sinter plot`` and friends.

    Each row's metadata is ``json_metadata`` plus ``per_decoder[decoder]`` (what only that
    decoder depends on, e.g. the pre-decoder's model), with its keys sorted
    (:func:`canonical_metadata`): the order sinter's CSV writer prints and its reader returns.

    ``strong_id`` is computed exactly as ``sinter collect`` computes it: sinter hashes the
    circuit's TEXT, the DEM its worker derives from that text (stim prints probabilities with
    finite precision, so the re-parsed circuit's DEM differs in the last digits from the
    in-memory one) and the metadata dict in its own key order. Rows for the same circuit,
    decoder and metadata therefore merge with sinter's (``TaskStats.__add__``,
    ``sinter combine``), whether sinter got the metadata from this CSV or from a
    ``--metadata_func``.
    """
    import sinter  # heavy: imported only when writing CSV
    import stim

    from qec.task import circuit_dem

    circuit = stim.Circuit(str(circuit))            # what sinter's worker process sees
    dem = circuit_dem(circuit)
    rows = []
    for s in stats:
        meta = canonical_metadata({**json_metadata, **(per_decoder or {}).get(s.decoder, {})})
        task = sinter.Task(circuit=circuit, detector_error_model=dem, decoder=s.decoder,
                           json_metadata=meta)
        row = sinter.TaskStats(strong_id=task.strong_id(), decoder=s.decoder,
                               json_metadata=meta, shots=s.shots, errors=s.errors,
                               discards=s.discards, seconds=s.seconds)
        rows.append(row.to_csv_line())
    return rows


def canonical_metadata(meta: dict) -> dict:
    """``meta`` with every dict's keys sorted, as sinter's CSV stores and reads it back.

    sinter's ``strong_id`` hashes the metadata in its key order, so the same metadata given in
    another order names another task; qecpipe hashes the order every reader of the CSV sees.

    Examples:
        >>> list(canonical_metadata({"p": 0.001, "d": 5, "x": {"b": 1, "a": 2}}).items())
        [('d', 5), ('p', 0.001), ('x', {'a': 2, 'b': 1})]
    """
    return json.loads(json.dumps(meta, sort_keys=True))


def sinter_csv_header() -> str:
    """sinter's CSV header line."""
    import sinter

    return sinter.CSV_HEADER


def json_metadata_text(meta: dict) -> str:
    """Canonical JSON text of a metadata dict (sorted keys), as sinter stores it."""
    return json.dumps(meta, sort_keys=True)
