"""The error per cycle: Google's reference figures reproduced from their prediction files'
error counts, the fit recovers a known eps, and its bootstrap interval covers it ~95 % of the
time."""

from __future__ import annotations

import numpy as np
import pytest

from qec import InputError
from qec.cycle_fit import fit_error_per_cycle

ROUNDS = list(range(1, 26, 2))
# Errors of Google's published prediction files (d=5, X basis, centre 5_5, 50,000 shots per
# round count), counted from obs_flips_predicted_by_*.01 against obs_flips_actual.01 of the
# full data set (doi:10.5281/zenodo.6804040, CC BY 4.0).
GOOGLE_D5_ERRORS = {
    "pymatching": [449, 4082, 7412, 10643, 13021, 15256, 16447, 18146, 19207, 20512, 20998,
                   21944, 22551],
    "correlated_matching": [447, 3527, 6504, 9252, 11304, 13399, 14797, 16517, 17557, 19041,
                            19523, 20563, 21283],
    "belief_matching": [447, 3066, 5652, 8036, 10159, 12125, 13182, 14864, 16057, 17516, 18169,
                        19192, 20074],
    "tensor_network_contraction": [426, 2794, 5392, 7695, 9604, 11619, 12593, 14452, 15554,
                                   17147, 17576, 18690, 19775],
}
# The data set README's reference figures (error per cycle, fit over r = 3..25).
REFERENCE = {"pymatching": 0.0458, "correlated_matching": 0.0380, "belief_matching": 0.0324,
             "tensor_network_contraction": 0.0310}


@pytest.mark.parametrize("decoder", list(REFERENCE))
def test_reproduces_googles_error_per_cycle(decoder):
    fit = fit_error_per_cycle(ROUNDS, GOOGLE_D5_ERRORS[decoder], [50_000] * 13)
    assert round(fit.eps, 4) == REFERENCE[decoder]
    assert fit.rounds == tuple(range(3, 26, 2))               # r = 1 left out
    assert fit.low < fit.eps < fit.high and fit.high - fit.low < 0.003
    assert fit.saturated == 0


def test_recovers_a_known_eps_and_the_interval_covers_it_about_95_percent():
    eps, amplitude, shots = 0.03, 0.95, 5000
    rounds = np.array(ROUNDS)
    p = (1 - amplitude * (1 - 2 * eps) ** rounds) / 2
    rng = np.random.default_rng(7)
    fits = [fit_error_per_cycle(rounds, rng.binomial(shots, p), [shots] * rounds.size,
                                bootstrap=500, seed=k) for k in range(120)]
    estimates = np.array([f.eps for f in fits])
    assert abs(estimates.mean() - eps) < 0.001                # unbiased to within 3 %
    covered = np.mean([f.low <= eps <= f.high for f in fits])
    assert 0.88 <= covered <= 1.0


def test_the_interval_narrows_with_more_shots():
    rounds = np.array(ROUNDS)
    p = (1 - (1 - 2 * 0.04) ** rounds) / 2
    few = fit_error_per_cycle(rounds, np.round(p * 1000), [1000] * 13)
    many = fit_error_per_cycle(rounds, np.round(p * 100_000), [100_000] * 13)
    assert (many.high - many.low) < (few.high - few.low) / 5


def test_bad_input_is_refused_with_the_rule():
    with pytest.raises(InputError, match="P\\(r=25\\) = 0.500 >= 1/2"):
        fit_error_per_cycle([5, 25], [100, 500], [1000, 1000])
    with pytest.raises(InputError, match="at least two distinct round counts"):
        fit_error_per_cycle([1, 3], [10, 20], [100, 100])
    with pytest.raises(InputError, match="one of each per round count"):
        fit_error_per_cycle([3, 5], [10], [100, 100])
    with pytest.raises(InputError, match="error count in \\[0, shots\\]"):
        fit_error_per_cycle([3, 5], [10, 200], [100, 100])


def test_replicates_that_reach_one_half_are_counted_not_dropped():
    fit = fit_error_per_cycle([3, 25], [10, 47], [100, 100], bootstrap=400, seed=1)
    assert fit.saturated > 0 and fit.high == 0.5
