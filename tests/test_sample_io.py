"""qec.sample_io: stim's b8 / 01 / dets files, round trips against stim and strict validation."""

from __future__ import annotations

import numpy as np
import pytest
import stim

from qec import (
    SAMPLE_FORMATS,
    NoiseModel,
    Task,
    pack_bits,
    read_sample_file,
    sample_detectors,
    sample_format_from_path,
    unpack_bits,
    write_sample_file,
)


@pytest.fixture(scope="module")
def circuit() -> stim.Circuit:
    return Task(distance=3, rounds=2, noise=NoiseModel.uniform(0.02)).circuit()


@pytest.fixture(scope="module")
def chunk(circuit):
    return next(sample_detectors(circuit, shots=300, seed=5))


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
def test_reads_what_stims_sampler_writes(tmp_path, circuit, fmt):
    dets_path, obs_path = tmp_path / f"d.{fmt}", tmp_path / f"o.{fmt}"
    circuit.compile_detector_sampler(seed=3).sample_write(
        shots=200, filepath=str(dets_path), format=fmt,
        obs_out_filepath=str(obs_path), obs_out_format=fmt)
    expected_dets, expected_obs = stim.read_shot_data_file(
        path=str(dets_path), format=fmt, num_detectors=circuit.num_detectors, bit_packed=True), \
        stim.read_shot_data_file(path=str(obs_path), format=fmt,
                                 num_observables=circuit.num_observables, bit_packed=True)
    dets = read_sample_file(dets_path, format=fmt, num_detectors=circuit.num_detectors)
    obs = read_sample_file(obs_path, format=fmt, num_observables=circuit.num_observables)
    assert dets.dets.shape == (200, (circuit.num_detectors + 7) // 8)
    np.testing.assert_array_equal(dets.dets, expected_dets)
    np.testing.assert_array_equal(obs.obs, expected_obs)
    assert dets.dets.any() and obs.obs.shape == (200, 1)


@pytest.mark.parametrize("fmt", SAMPLE_FORMATS)
def test_write_then_read_round_trips_with_appended_observables(tmp_path, circuit, chunk, fmt):
    path = tmp_path / f"both.{fmt}"
    d, o = circuit.num_detectors, circuit.num_observables
    write_sample_file(path, format=fmt, dets_bit_packed=chunk.dets, num_detectors=d,
                      obs_bit_packed=chunk.obs, num_observables=o)
    # stim's own reader sees detectors then observables, as with append_observables=True.
    raw = stim.read_shot_data_file(path=str(path), format=fmt, num_detectors=d,
                                   num_observables=o)
    np.testing.assert_array_equal(raw[:, :d], unpack_bits(chunk.dets, d))
    np.testing.assert_array_equal(raw[:, d:], unpack_bits(chunk.obs, o))
    back = read_sample_file(path, format=fmt, num_detectors=d, num_observables=o)
    np.testing.assert_array_equal(back.dets, chunk.dets)
    np.testing.assert_array_equal(back.obs, chunk.obs)


def test_b8_layout_is_stims_little_endian(tmp_path):
    path = tmp_path / "x.b8"
    write_sample_file(path, format="b8", dets_bit_packed=pack_bits(np.array([[1] + [0] * 8])),
                      num_detectors=9)
    assert path.read_bytes() == bytes([1, 0])


def test_format_from_extension():
    assert [sample_format_from_path(f"a{s}") for s in (".b8", ".01", ".dets")] == ["b8", "01",
                                                                                   "dets"]
    with pytest.raises(ValueError, match=r"a\.txt: cannot tell the sample format.*'\.txt'"):
        sample_format_from_path("a.txt")


def _write(tmp_path, name, content):
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    return path


@pytest.mark.parametrize("content, match", [
    (bytes(7), r"bad\.b8: b8 file has 7 bytes, not a multiple of 2 bytes per shot \(9 bits\)"),
    (bytes([0, 0, 1, 2]), r"bad\.b8: b8 shot 1 sets padding bits beyond bit 9"),
])
def test_b8_rejects_truncated_and_overwide_files(tmp_path, content, match):
    path = _write(tmp_path, "bad.b8", content)
    with pytest.raises(ValueError, match=match):
        read_sample_file(path, format="b8", num_detectors=9)


@pytest.mark.parametrize("content, match", [
    ("0101\n011\n", r"bad\.01: line 2 has 3 bits, expected 4 per shot"),
    ("0101\n01010\n", r"line 2 has 5 bits, expected 4"),
    ("0101\n0121\n", r"line 2 column 3 has '2'; 01 lines hold only '0' and '1'"),
    ("0101\n01 1\n", r"line 2 column 3 has ' '"),
    ("0101\n0101", r"bad\.01: 01 file does not end with a newline after line 2; truncated"),
    ("0101\n\n", r"line 2 has 0 bits"),
])
def test_01_rejects_bad_lines(tmp_path, content, match):
    path = _write(tmp_path, "bad.01", content)
    with pytest.raises(ValueError, match=match):
        read_sample_file(path, format="01", num_detectors=4)


def test_01_accepts_crlf_line_ends(tmp_path):
    path = _write(tmp_path, "win.01", b"0101\r\n1000\r\n")
    got = read_sample_file(path, format="01", num_detectors=4)
    np.testing.assert_array_equal(unpack_bits(got.dets, 4), [[0, 1, 0, 1], [1, 0, 0, 0]])


@pytest.mark.parametrize("content, match", [
    ("shot D1\nshot D4\n", r"bad\.dets: line 2 has D4, out of range for 4 detectors"),
    ("shot D1\nshot X1\n", r"line 2 has 'X1' with unknown prefix 'X'; expected D<k> or L<k>"),
    ("shot M0\n", r"line 1 has measurement result 'M0'"),
    ("shot L0\n", r"line 1 has L0 but the shots hold no observables"),
    ("D1\n", r"line 1 starts with 'D1'; dets lines start with 'shot'"),
    ("shot D1 \n", r"line 1 has a double or trailing space"),
    ("shot D-1\n", r"line 1 has 'D-1'; the prefix must be followed by a non-negative integer"),
])
def test_dets_rejects_bad_lines(tmp_path, content, match):
    path = _write(tmp_path, "bad.dets", content)
    with pytest.raises(ValueError, match=match):
        read_sample_file(path, format="dets", num_detectors=4)


def test_dets_accepts_blank_lines_and_empty_shots(tmp_path):
    path = _write(tmp_path, "ok.dets", "shot D3 L0\nshot\n\n")
    got = read_sample_file(path, format="dets", num_detectors=4, num_observables=1)
    np.testing.assert_array_equal(unpack_bits(got.dets, 4), [[0, 0, 0, 1], [0, 0, 0, 0]])
    np.testing.assert_array_equal(unpack_bits(got.obs, 1), [[1], [0]])


def test_argument_validation(tmp_path, chunk):
    with pytest.raises(ValueError, match=r"format='r8' is not supported"):
        read_sample_file(tmp_path / "x", format="r8", num_detectors=3)
    with pytest.raises(ValueError, match=r"num_detectors=-1 must be an integer >= 0"):
        read_sample_file(tmp_path / "x", format="b8", num_detectors=-1)
    with pytest.raises(ValueError, match=r"a shot must hold at least one bit"):
        read_sample_file(tmp_path / "x", format="b8")
    with pytest.raises(ValueError, match=r"obs_bit_packed=None but the file is to hold 1 bits"):
        write_sample_file(tmp_path / "x.b8", format="b8", dets_bit_packed=chunk.dets,
                          num_detectors=16, num_observables=1)
    with pytest.raises(ValueError, match=r"shot counts differ"):
        write_sample_file(tmp_path / "x.b8", format="b8", dets_bit_packed=chunk.dets,
                          num_detectors=16, obs_bit_packed=chunk.obs[:5], num_observables=1)
