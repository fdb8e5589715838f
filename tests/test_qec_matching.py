import numpy as np
import pytest
import sinter
import stim

from qec import (
    DecodeStats,
    MatchingDecoder,
    circuit_dem,
    per_round,
    sample_detectors,
    wilson_interval,
)


def _errors(decoder, circuit, shots, seed):
    errors = 0
    for chunk in sample_detectors(circuit, shots=shots, seed=seed):
        errors += int(np.any(decoder.decode_batch(chunk.dets) != chunk.obs, axis=1).sum())
    return errors


@pytest.mark.slow
def test_our_pymatching_equals_sinter_pymatching_within_statistics():
    circuit = stim.Circuit.generated("surface_code:rotated_memory_z", distance=5, rounds=5,
                                     after_clifford_depolarization=0.006,
                                     before_round_data_depolarization=0.006,
                                     before_measure_flip_probability=0.006,
                                     after_reset_flip_probability=0.006)
    shots = 40_000
    ours = _errors(MatchingDecoder.from_dem(circuit_dem(circuit)), circuit, shots, seed=11)
    stats = sinter.collect(num_workers=1, decoders=["pymatching"], max_shots=shots,
                           tasks=[sinter.Task(circuit=circuit, json_metadata={})])
    theirs = stats[0].errors
    # Two independent binomial counts of ~1.5k errors: the difference is within 5 sigma.
    sigma = np.sqrt(ours + theirs)
    assert abs(ours - theirs) < 5 * sigma, (ours, theirs)
    assert ours > 500  # the comparison has statistical power


def test_correlated_matching_is_at_least_as_good_on_the_same_shots():
    circuit = stim.Circuit.generated("surface_code:rotated_memory_x", distance=5, rounds=5,
                                     after_clifford_depolarization=0.008,
                                     before_measure_flip_probability=0.008)
    dem = circuit_dem(circuit)
    plain = _errors(MatchingDecoder.from_dem(dem), circuit, 20_000, seed=3)
    corr = _errors(MatchingDecoder.from_dem(dem, correlated=True), circuit, 20_000, seed=3)
    assert corr < plain


def test_decode_batch_checks_its_input():
    dem = circuit_dem(stim.Circuit.generated("surface_code:rotated_memory_x", distance=3,
                                             rounds=2, after_clifford_depolarization=0.01))
    dec = MatchingDecoder.named("pymatching", dem)
    with pytest.raises(ValueError, match=r"expected \(shots, 2\)"):
        dec.decode_batch(np.zeros((4, 3), dtype=np.uint8))
    with pytest.raises(TypeError, match="must be uint8"):
        dec.decode_batch(np.zeros((4, 2), dtype=np.int64))
    with pytest.raises(ValueError, match="decoder='mwpm' is not a matching decoder"):
        MatchingDecoder.named("mwpm", dem)


def test_wilson_interval_and_per_round():
    low, high = wilson_interval(50, 1000)
    assert low < 0.05 < high and 0.037 < low and high < 0.066
    assert wilson_interval(0, 100)[0] == 0.0
    assert abs(per_round(1 - 0.99**5, 5) - 0.01) < 1e-12


def test_zero_errors_reports_an_upper_bound_never_zero():
    s = DecodeStats(decoder="pymatching", shots=10_000, errors=0, seconds=1.0, rounds=5)
    assert s.ler_is_upper_bound and s.ler > 0
    assert s.to_json()["ler"] == s.ler and s.to_json()["ler_per_round"] > 0
    assert s.us_per_round == pytest.approx(20.0)
