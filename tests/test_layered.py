"""The layered (consensus) decoder: the common answer where soft mode and correlated
PyMatching agree, the referee's where they do not; the budget caps the referee; a missing
optional referee package is one clear error."""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import pytest

from pipelines import ConsensusDecoder, PredecoderPipeline, main
from qec import (
    MatchingDecoder,
    MissingRefereeError,
    NoiseModel,
    Task,
    sample_detectors,
    unpack_bits,
)
from qec.referees import referee_within_budget

TASK = Task(distance=5, noise=NoiseModel.uniform(0.01))


@pytest.fixture(scope="module")
def shots():
    chunk = next(sample_detectors(TASK.circuit(), shots=400, seed=23, chunk_shots=400))
    return chunk.dets, unpack_bits(chunk.obs, 1)


@pytest.fixture(scope="module")
def independent_answers(shots):
    """Soft mode and correlated PyMatching, each built on its own."""
    dets, _ = shots
    soft = PredecoderPipeline.from_task(TASK, model="small", mode="soft").decode_batch(dets)
    corr = MatchingDecoder.from_dem(TASK.dem(), correlated=True).decode_batch(dets)
    return unpack_bits(soft, 1), unpack_bits(corr, 1)


class CountingReferee:
    """A referee that answers 'flipped' on every shot and counts its calls."""

    name, num_observables = "counting", 1

    def __init__(self, seconds_per_call: float = 0.0) -> None:
        self.calls = self.shots = 0
        self.seconds_per_call = seconds_per_call

    def decode_bool(self, dets: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.shots += dets.shape[0]
        if self.seconds_per_call:
            time.sleep(self.seconds_per_call)
        return np.ones((dets.shape[0], 1), dtype=bool)


def consensus(layers=("counting",), referee=None, budget=None) -> ConsensusDecoder:
    soft = PredecoderPipeline.from_task(TASK, model="small", mode="soft")
    return ConsensusDecoder(name="predecoder+consensus", soft=soft,
                            correlated=MatchingDecoder.from_dem(TASK.dem(), correlated=True),
                            layers=layers, external={"counting": referee or CountingReferee()},
                            budget_seconds=budget)


def test_common_answer_where_they_agree_and_the_referees_where_they_do_not(
        shots, independent_answers):
    dets, _ = shots
    soft, corr = independent_answers
    agree = (soft == corr).all(axis=1)
    assert 0 < (~agree).sum() < 0.2 * agree.size          # some shots are contested
    referee = CountingReferee()
    dec = consensus(referee=referee)
    answer = unpack_bits(dec.decode_batch(dets), 1)
    assert np.array_equal(answer[agree], soft[agree])      # == corr[agree] too
    assert np.all(answer[~agree])                          # the referee said 'flipped'
    assert referee.shots == (~agree).sum()                 # and saw only the contested shots
    assert dec.metrics()["referred_share"] == pytest.approx((~agree).mean())


def test_the_registered_decoder_answers_with_belief_matching_on_the_contested_shots(
        shots, independent_answers):
    from pipelines import make_decoder
    from qec import make_referee

    dets, _ = shots
    soft, corr = independent_answers
    contested = ~(soft == corr).all(axis=1)
    answer = unpack_bits(make_decoder("predecoder+consensus", TASK, model="small")
                         .decode_batch(dets), 1)
    referee = make_referee("beliefmatching", TASK.dem())
    judged = referee.decode_bool(unpack_bits(dets, TASK.circuit().num_detectors)[contested])
    assert np.array_equal(answer[contested], judged)
    assert np.array_equal(answer[~contested], corr[~contested])


def test_ensemble_layer_answer_is_its_majority_vote(shots, independent_answers):
    dets, _ = shots
    soft, corr = independent_answers
    dec = consensus(layers=("ensemble",))
    first = dec.first_pass(dets)
    assert np.array_equal(first.soft, soft) and np.array_equal(first.correlated, corr)
    answer = unpack_bits(dec.decode_batch(dets), 1)
    c = first.contested
    prepared = dec.ensemble.prepare(first.dets[c], first.logits[c])
    votes = np.array([dec.ensemble.votes(prepared, i) for i in range(c.size)])
    assert np.array_equal(answer[c], votes > len(dec.ensemble.members) / 2)


def test_two_layers_send_only_the_ensembles_split_shots_on(shots):
    dets, _ = shots
    referee = CountingReferee()
    dec = consensus(layers=("ensemble", "counting"), referee=referee)
    first = dec.first_pass(dets)
    c = first.contested
    prepared = dec.ensemble.prepare(first.dets[c], first.logits[c])
    votes = np.array([dec.ensemble.votes(prepared, i)[0] for i in range(c.size)])
    split = (votes > 0) & (votes < len(dec.ensemble.members))
    answer = unpack_bits(dec.decode_batch(dets), 1)[:, 0]
    assert 0 < referee.shots == split.sum() < c.size
    assert np.all(answer[c[split]])                       # the second layer's answer
    assert np.array_equal(answer[c[~split]], votes[~split] > 0)   # the unanimous vote


def test_budget_caps_the_referees_calls(shots, independent_answers):
    dets, _ = shots
    soft, _ = independent_answers
    none = CountingReferee()
    dec = consensus(referee=none, budget=0.0)
    answer = unpack_bits(dec.decode_batch(dets), 1)
    assert none.calls == 0 and np.array_equal(answer, soft)   # over budget: the soft answer
    assert dec.metrics()["over_budget_shots"] == dec.metrics()["referred_shots"] > 0
    slow = CountingReferee(seconds_per_call=0.05)
    dec = consensus(referee=slow, budget=0.12)
    dec.decode_batch(dets)
    assert 1 <= slow.calls <= 3                              # each call takes >= 50 ms
    assert dec.metrics()["over_budget_shots"] == dec.metrics()["referred_shots"] - slow.calls


def test_referee_within_budget_without_a_budget_decodes_every_shot():
    dets = np.zeros((7, 3), dtype=bool)
    out = referee_within_budget(CountingReferee(), dets, budget_seconds=None)
    assert (out.decoded, out.skipped, bool(out.predictions.all())) == (7, 0, True)
    with pytest.raises(ValueError, match="budget_seconds=-1"):
        referee_within_budget(CountingReferee(), dets, budget_seconds=-1)


@pytest.mark.parametrize("name, module, package", [
    ("predecoder+consensus-tesseract", "tesseract_decoder", "tesseract-decoder"),
    ("predecoder+consensus", "beliefmatching", "beliefmatching")])
def test_a_missing_referee_package_is_one_clear_error(monkeypatch, capsys, name, module,
                                                      package):
    monkeypatch.setitem(sys.modules, module, None)        # as if not installed
    from pipelines import make_decoder

    with pytest.raises(MissingRefereeError, match=f"pip install {package}"):
        make_decoder(name, Task(distance=3, noise=NoiseModel.uniform(0.006)))
    code = main(["run", "--distance", "3", "--max-shots", "50", "--decoder", name])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and package in err


def test_run_reports_the_consensus_decoder(capsys):
    code = main(["run", "--distance", "3", "--max-shots", "300", "--json", "--decoder",
                 "pymatching-correlated", "--decoder", "predecoder+consensus",
                 "--referee-budget-ms", "50"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    entry = out["decoders"]["predecoder+consensus"]
    assert entry["shots"] == 300 and 0 <= entry["referred_share"] < 0.2
    assert entry["us_per_shot"] > 0 and "referee_beliefmatching_us_per_shot" in entry


def test_the_budget_flag_is_refused_without_a_consensus_decoder(capsys):
    code = main(["run", "--distance", "3", "--max-shots", "50", "--decoder", "pymatching",
                 "--referee-budget-ms", "5"])
    assert code == 2 and "--referee-budget-ms=5" in capsys.readouterr().err


def test_the_sinter_plugin_builds_the_consensus_decoder():
    from pipelines import sinter_decoders

    compiled = sinter_decoders()["predecoder+consensus"].compile_decoder_for_dem(
        dem=TASK.dem())
    chunk = next(sample_detectors(TASK.circuit(), shots=64, seed=1))
    out = compiled.decode_shots_bit_packed(bit_packed_detection_event_data=chunk.dets)
    assert out.shape == (64, 1) and out.dtype == np.uint8


@pytest.mark.slow
def test_the_ladders_quick_mode_writes_its_results(tmp_path):
    from bench.__main__ import main as bench_main

    assert bench_main(["layered", "--quick", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "layered_quick.json").read_text())
    (row,) = data["rows"]
    errors = {name: d["errors"] for name, d in row["decoders"].items()}
    both_wrong = errors["oracle"]
    assert all(both_wrong <= e for e in errors.values())      # the ceiling of any referee
    assert errors["consensus[beliefmatching]"] <= row["contested"] + both_wrong
    assert row["referred_share"] == row["contested"] / row["shots"]
    assert (tmp_path / "layered_quick.md").read_text().startswith("# The layered")
    assert (tmp_path / "layered_quick.png").stat().st_size > 0
    assert bench_main(["layered", "--quick", "--render", "--out", str(tmp_path)]) == 0


def test_decode_on_sycamore_data_with_no_referee_time_gives_soft_modes_answers(tmp_path,
                                                                               capsys):
    from pathlib import Path

    data = (Path(__file__).parent / "data" / "google_qec3v5"
            / "surface_code_bX_d3_r03_center_5_3")
    common = ["decode", "--circuit", str(data / "circuit_noisy.stim"), "--dets",
              str(data / "detection_events.b8"), "--obs", str(data / "obs_flips_actual.01"),
              "--json"]
    assert main([*common, "--decoder", "predecoder+soft-matching",
                 "--out", str(tmp_path / "soft.b8")]) == 0
    capsys.readouterr()
    assert main([*common, "--decoder", "predecoder+consensus", "--referee-budget-ms", "0",
                 "--out", str(tmp_path / "consensus.b8")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["over_budget_shots"] == out["referred_shots"] > 0
    assert (tmp_path / "soft.b8").read_bytes() == (tmp_path / "consensus.b8").read_bytes()
