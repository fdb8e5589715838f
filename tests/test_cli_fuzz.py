"""Bad input, table-driven, across every subcommand: each case must exit 2 with exactly one line
on stderr that names the flag or file, print nothing on stdout, show no traceback, and leave no
output file behind."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from pipelines import main
from predecoder import ModelConfig, PreDecoderNet, save_weights
from qec import NoiseModel, Task, sample_detectors, write_sample_file

# a progress line of qecpipe's ProgressBar when stderr is not a terminal (its start or its end)
PROGRESS_LINE = re.compile(r"qecpipe: (?!error:)[^:]+: .+")

GOOD_RUN = ["run", "--distance", "3", "--max-shots", "100", "--decoder", "pymatching"]
GOOD_DECODE = ["decode", "--circuit", "{circuit}", "--dets", "{dets}", "--decoder",
               "pymatching", "--out", "{out}/p.b8"]
GOOD_LEARN = ["learn-noise", "--simulate", "uniform", "--distance", "3", "--p", "0.01",
              "--shots", "2000", "--out", "{out}/w.json"]
GOOD_STREAM = ["stream", "--distance", "3", "--rounds", "10", "--workers", "0", "--cycle-us",
               "0", "--shots", "2"]
GOOD_TRAIN = ["train", "--steps", "1", "--batch", "2", "--distances", "3", "--eval-every", "0",
              "--out", "{out}/m.safetensors"]
# Dead address / URL: a check that failed to fire ends in another message, never a service.
GOOD_SERVE = ["serve", "--distance", "3", "--address", "127.0.0.1:1"]
GOOD_LOADTEST = ["loadtest", "--url", "http://127.0.0.1:1", "--blocks", "1"]
GOOD_CALIBRATE = ["calibrate", "{model_tiny}", "--out", "{out}/c.safetensors", "--shots", "200"]
GOOD_CIRCUIT = ["circuit", "--distance", "3", "--out", "{out}/c.stim"]
NUMBER_GARBAGE = ["x", "", "nan", "inf", "-inf", "1e400", "0x10"]


def _cases() -> list[tuple[str, list[str], str]]:
    """(id, argv with {placeholders}, text the message must contain)."""
    cases: list[tuple[str, list[str], str]] = []

    def add(name: str, argv: list[str], text: str) -> None:
        cases.append((name, argv, text))

    numeric = {  # subcommand base, flag, bad values
        "run": (GOOD_RUN, {"--distance": ["4", "1", "101", "-3", *NUMBER_GARBAGE],
                           "--rounds": ["0", "-1", "2000000", "2.5", *NUMBER_GARBAGE],
                           "--p": ["0", "0.5", "0.7", "-0.1", *NUMBER_GARBAGE],
                           "--max-shots": ["0", "-5", str(10**12), *NUMBER_GARBAGE],
                           "--max-errors": ["0", "-1", "x"],
                           "--seed": ["-1", "x", "1.5"],
                           "--learn-shots": ["10", "x"],
                           "--multipliers-seed": ["-1", "x"]}),
        "learn": (GOOD_LEARN, {"--distance": ["4", "x", "nan"], "--p": ["0", "nan", "inf"],
                               "--shots": ["10", "0", str(10**12), "x"],
                               "--rounds": ["0", "x"], "--seed": ["-2"]}),
        "stream": (GOOD_STREAM, {"--distance": ["4", "x"], "--rounds": ["0", "x"],
                                 "--cycle-us": ["-2", "nan", "inf", "x"],
                                 "--workers": ["-1", "x"], "--shots": ["0", "x"],
                                 "--n-com": ["-1"], "--n-buf": ["-1"],
                                 "--max-in-flight": ["-1"], "--block-slices": ["-1"],
                                 "--p": ["0.7", "nan"]}),
        "train": (GOOD_TRAIN, {"--steps": ["0", "x"], "--batch": ["0", "x"],
                               "--lr": ["0", "-1", "nan", "inf", "2"],
                               "--p-min": ["0", "nan"], "--p-max": ["0.5", "inf"],
                               "--threshold": ["nan", "inf", "1e9"], "--threads": ["0"],
                               "--eval-shots": ["0"], "--eval-every": ["-1"],
                               "--checkpoint-every": ["0"], "--seed": ["-1"]}),
        "serve": (GOOD_SERVE, {"--distance": ["4", "x"], "--rounds": ["0"], "--p": ["0.7"],
                               "--port": ["0", "70000", "x"], "--max-batch": ["0"],
                               "--batch-wait-ms": ["-1", "nan"], "--max-shots": ["0"],
                               "--predecoder-replicas": ["0"], "--matcher-replicas": ["x"],
                               "--max-replicas": ["-1"], "--n-com": ["-1"]}),
        "loadtest": (GOOD_LOADTEST, {"--blocks": ["0", "x"], "--shots": ["0"],
                                     "--rate": ["-1", "nan", "inf"], "--clients": ["0"],
                                     "--concurrency": ["0"], "--wait-s": ["-1"],
                                     "--timeout-s": ["0"], "--seed": ["-1"]}),
        "calibrate": (GOOD_CALIBRATE, {"--shots": ["0", "x", "10"]}),
        "circuit": (GOOD_CIRCUIT, {"--distance": ["4", "x"], "--rounds": ["0"], "--p": ["0.7"],
                                   "--multipliers-seed": ["-1"]}),
    }
    for group, (base, flags) in numeric.items():
        for flag, values in flags.items():
            for value in values:
                add(f"{group}{flag}={value!r}", [*base, flag, value], f"argument {flag}:")
    choices = {"run": (GOOD_RUN, {"--basis": "Y", "--noise": "pink", "--decoder": "bp-osd",
                                  "--device": "tpu"}),
               "learn": (GOOD_LEARN, {"--method": "x", "--backend": "jax", "--device": "tpu",
                                      "--simulate": "pink", "--format": "npy",
                                      "--basis": "both"}),
               "stream": (GOOD_STREAM, {"--mode": "medium", "--basis": "both",
                                        "--noise": "pink"}),
               "train": (GOOD_TRAIN, {"--preset": "huge", "--noise": "pink", "--device": "tpu",
                                      "--distances": "3,4", "--snapshots": "x"}),
               "decode": (GOOD_DECODE, {"--decoder": "bp-osd", "--dets-format": "npy"}),
               "serve": (GOOD_SERVE, {"--mode": "medium", "--noise": "pink", "--basis": "both"}),
               "calibrate": (GOOD_CALIBRATE, {"--noise": "pink"}),
               "circuit": (GOOD_CIRCUIT, {"--noise": "pink", "--basis": "Y"})}
    for group, (base, flags) in choices.items():
        for flag, value in flags.items():
            add(f"{group}{flag}={value}", [*base, flag, value], f"argument {flag}:")
    for group, base in {"run": GOOD_RUN, "decode": GOOD_DECODE, "learn": GOOD_LEARN,
                        "stream": GOOD_STREAM, "train": GOOD_TRAIN, "serve": GOOD_SERVE,
                        "loadtest": GOOD_LOADTEST, "calibrate": GOOD_CALIBRATE,
                        "circuit": GOOD_CIRCUIT}.items():
        add(f"{group}-unknown-flag", [*base, "--nope"], "unrecognized arguments: --nope")
    add("top-level-unknown-flag", ["--nope", "run", "--distance", "3"], "'--nope'")
    add("no-subcommand", [], "subcommand")
    add("run-missing-distance", ["run"], "--distance")
    add("train-distances-201", [*GOOD_TRAIN, "--distances", "201"], "argument --distances:")
    add("train-distances-empty", [*GOOD_TRAIN, "--distances", ","], "argument --distances:")
    add("train-pmin-above-pmax", [*GOOD_TRAIN, "--p-min", "0.01", "--p-max", "0.005"],
        "--p-min=0.01 must be <= --p-max=0.005")
    add("run-twice-a-decoder", [*GOOD_RUN, "--decoder", "pymatching"], "names a decoder twice")
    add("run-model-without-predecoder", [*GOOD_RUN, "--model", "small"], "--model='small'")
    soft = [*GOOD_RUN[:-2], "--decoder", "predecoder+soft-matching"]
    add("run-model-not-shipped", [*soft, "--model", "huge"], "--model='huge' must be a shipped")
    add("run-model-missing", [*soft, "--model", "none.safetensors"], "--model='none.safetensors'")
    add("stream-address-needs-workers", [*GOOD_STREAM, "--address", "auto"], "--address='auto'")
    add("stream-dead-address", [*GOOD_STREAM[:-4], "--workers", "1", "--address",
                                "127.0.0.1:1"], "--address='127.0.0.1:1': nothing answers")
    add("stream-bad-address", [*GOOD_STREAM[:-4], "--workers", "1", "--address", "nohost"],
        "--address='nohost' must be auto or HOST:PORT")
    add("serve-no-distance", ["serve", "--address", "127.0.0.1:1"], "--distance is required")
    add("serve-model-not-shipped", [*GOOD_SERVE, "--model", "huge"], "--model: model='huge'")
    add("serve-bad-address", [*GOOD_SERVE[:-2], "--address", "nohost"], "--address='nohost'")
    add("serve-host-empty", [*GOOD_SERVE, "--host", ""], "host='' must be an address")
    add("serve-host-unresolvable", [*GOOD_SERVE, "--host", "no.such.host.invalid"],
        "--host='no.such.host.invalid' is not an address or host name")
    add("serve-host-not-here", [*GOOD_SERVE, "--host", "203.0.113.77"],   # TEST-NET-3
        "give an address of this machine's interfaces")
    add("serve-stop-nothing-running", ["serve", "--stop", "--pid-file", "{out}/none.pid"],
        "no running service recorded there")
    add("loadtest-url-scheme", [*GOOD_LOADTEST[:1], "--url", "ftp://x", *GOOD_LOADTEST[3:]],
        "url='ftp://x' must look like http://HOST:PORT")
    add("loadtest-nothing-answers", GOOD_LOADTEST, "--url='http://127.0.0.1:1': ")
    for label, url in (("port-range", "http://127.0.0.1:99999"), ("port-text",
                       "http://127.0.0.1:abc"), ("port-negative", "http://127.0.0.1:-1"),
                       ("open-bracket", "http://[::1")):
        add(f"loadtest-url-{label}", ["loadtest", "--url", url, "--blocks", "1"],
            f"argument --url: url={url!r} must look like http://HOST:PORT")
    add("loadtest-blocks-times-shots", [*GOOD_LOADTEST[:3], "--blocks", "1048576", "--shots",
                                        "1048576"], "blocks=1048576 x shots=1048576")
    add("serve-too-big", ["serve", "--distance", "99", "--rounds", "1000000", "--address",
                          "127.0.0.1:1"], "--distance 99 --rounds 1000000: ")
    add("calibrate-model-missing", ["calibrate", "{out}/none.safetensors", "--out",
                                    "{out}/c.safetensors"], "model='")
    add("calibrate-shipped-without-out", ["calibrate", "small"], "give --out FILE")
    add("learn-neither-source", ["learn-noise", "--out", "{out}/w.json"], "give either")
    add("learn-samples-alone", ["learn-noise", "--samples", "{dets}", "--out", "{out}/w.json"],
        "--dets and --circuit must be given together")
    add("learn-dets-and-samples", ["learn-noise", "--dets", "{dets}", "--samples", "{dets}",
                                   "--out", "{out}/w.json"], "not allowed with argument --dets")
    add("learn-simulate-no-distance", ["learn-noise", "--simulate", "uniform",
                                       "--out", "{out}/w.json"], "--simulate needs --distance")
    return cases + _file_cases()


def _file_cases() -> list[tuple[str, list[str], str]]:
    out: list[tuple[str, list[str], str]] = []
    outputs = {"run": (GOOD_RUN, "--out", ".csv"), "decode": (GOOD_DECODE[:-2], "--out", ".b8"),
               "learn": (GOOD_LEARN[:-2], "--out", ".json"),
               "train": (GOOD_TRAIN[:-2], "--out", ".safetensors"),
               "circuit": (GOOD_CIRCUIT[:-2], "--out", ".stim"),
               "circuit-dem": (GOOD_CIRCUIT, "--dem", ".dem"),
               "calibrate": (GOOD_CALIBRATE[:2] + GOOD_CALIBRATE[4:], "--out", ".safetensors"),
               "loadtest": (GOOD_LOADTEST, "--out", ".json")}
    for group, (base, flag, suffix) in outputs.items():
        for label, path, text in (
                ("dir", "{out}", "is a directory"),
                ("devfull", "/dev/full", "is not a regular file"),
                ("proc", f"/proc/qecpipe{suffix}", "not writable"),
                ("nofolder", f"{{out}}/no/such/x{suffix}", "does not exist")):
            out.append((f"{group}-out-{label}", [*base, flag, path], f"argument {flag}:"))
            del text
    for flag in ("--log", "--checkpoint"):
        suffix = ".csv" if flag == "--log" else ".safetensors"
        for path in ("{out}", "/dev/full", f"/proc/x{suffix}"):
            out.append((f"train{flag}-{path}", [*GOOD_TRAIN, flag, path], f"argument {flag}:"))
    out += [
        ("serve-pid-file-proc", [*GOOD_SERVE, "--pid-file", "/proc/x.pid"], "--pid-file="),
        ("serve-pid-file-dir", [*GOOD_SERVE, "--pid-file", "{out}"], "--pid-file="),
        ("serve-pid-file-not-ours", [*GOOD_SERVE, "--pid-file", "{garbage}"],
         "is not a pid file written by `qecpipe serve`"),
        ("serve-soft-hard-only-model", [*GOOD_SERVE, "--model", "{model_hard_only}"],
         "no soft-mode metadata"),
        ("train-snapshot-dir-is-file", [*GOOD_TRAIN, "--snapshots", "1", "--snapshot-dir",
                                        "{circuit}"], "--snapshot-dir="),
        ("train-snapshot-dir-proc", [*GOOD_TRAIN, "--snapshots", "1", "--snapshot-dir",
                                     "/proc/qecpipe_snaps"], "--snapshot-dir="),
        ("train-snapshots-without-dir", [*GOOD_TRAIN, "--snapshots", "1"],
         "--snapshots needs --snapshot-dir"),
        ("train-resume-missing", [*GOOD_TRAIN, "--resume", "{out}/none.safetensors"],
         "argument --resume:"),
        ("train-init-missing", [*GOOD_TRAIN, "--init", "{out}/none.safetensors"],
         "argument --init:"),
        ("train-init-other-preset", [*GOOD_TRAIN, "--init", "{model_tiny}"], "expected"),
        ("train-out-suffix", [*GOOD_TRAIN[:-2], "--out", "{out}/m.pt"], "must end in"),
        ("decode-circuit-missing", ["decode", "--circuit", "{out}/none.stim", "--dets",
                                    "{dets}", "--decoder", "pymatching", "--out",
                                    "{out}/p.b8"], "argument --circuit:"),
        ("decode-circuit-empty", [*GOOD_DECODE[:2], "{empty}", *GOOD_DECODE[3:]], "--circuit="),
        ("decode-circuit-garbage", [*GOOD_DECODE[:2], "{garbage}", *GOOD_DECODE[3:]],
         "--circuit="),
        ("decode-circuit-dir", [*GOOD_DECODE[:2], "{out}", *GOOD_DECODE[3:]],
         "argument --circuit:"),
        ("decode-dets-truncated", [*GOOD_DECODE[:4], "{truncated}", *GOOD_DECODE[5:]],
         "--dets"),
        ("decode-dets-empty", [*GOOD_DECODE[:4], "{empty_b8}", *GOOD_DECODE[5:]], "--dets"),
        ("decode-dets-other-circuit", [*GOOD_DECODE[:4], "{dets_d5}", *GOOD_DECODE[5:],
                                       "--obs", "{obs}"], "--obs"),
        ("decode-obs-count", [*GOOD_DECODE, "--obs", "{obs_short}"], "--obs"),
        ("decode-obs-and-append", [*GOOD_DECODE, "--obs", "{obs}", "--append-observables"],
         "--obs and --append-observables"),
        ("decode-model-with-pymatching", [*GOOD_DECODE, "--model", "small"], "--model="),
        ("decode-rounds-zero", [*GOOD_DECODE, "--rounds", "0"], "argument --rounds:"),
        # issue 20 finding 2: sizes from the circuit's text, before anything is built
        ("decode-circuit-repeat-1e12", [*GOOD_DECODE[:2], "{repeat_1e12}", *GOOD_DECODE[3:4],
                                        "{empty_b8}", *GOOD_DECODE[5:]], "--circuit="),
        ("decode-circuit-repeat-1e6", [*GOOD_DECODE[:2], "{repeat_1e6}", *GOOD_DECODE[3:]],
         "--circuit="),
        ("decode-circuit-idle-loop", [*GOOD_DECODE[:2], "{idle_loop}", *GOOD_DECODE[3:]],
         "operations once its REPEAT blocks are multiplied out"),
        # finding 4: a noiseless circuit's graph has no edges: no decoder can match a defect
        *[(f"decode-noiseless-{name}", [*GOOD_DECODE[:2], "{noiseless}", *GOOD_DECODE[3:6],
                                        name, *GOOD_DECODE[7:]], "cannot come from this circuit")
          for name in ("predecoder+soft-matching", "pymatching", "pymatching-correlated",
                       "predecoder+pymatching")],
        # finding 3: with observables, predictions worse than "no flip" mean a mismatch
        ("decode-samples-of-another-basis", [*GOOD_DECODE[:4], "{dets_z}", *GOOD_DECODE[5:],
                                             "--obs", "{obs_z}"],
         "significantly more than predicting no flip"),
        ("decode-colour-code-matching", [*GOOD_DECODE[:2], "{colour}", "--dets",
                                         "{colour_dets}", *GOOD_DECODE[5:], "--obs",
                                         "{colour_obs}"],
         "significantly more than predicting no flip"),
        ("decode-colour-code-predecoder", [*GOOD_DECODE[:2], "{colour}", "--dets",
                                           "{colour_dets}", "--decoder", "predecoder+pymatching",
                                           *GOOD_DECODE[7:]],
         "--decoder='predecoder+pymatching' needs a rotated surface-code memory circuit"),
        ("learn-circuit-repeat-1e12", ["learn-noise", "--samples", "{dets}", "--circuit",
                                       "{repeat_1e12}", "--out", "{out}/w.json"], "--circuit="),
        ("learn-circuit-idle-loop", ["learn-noise", "--samples", "{dets}", "--circuit",
                                     "{idle_loop}", "--out", "{out}/w.json"], "--circuit="),
        ("learn-circuit-garbage", ["learn-noise", "--samples", "{dets}", "--circuit",
                                   "{garbage}", "--out", "{out}/w.json"], "--circuit="),
        ("learn-samples-truncated", ["learn-noise", "--samples", "{truncated}", "--circuit",
                                     "{circuit}", "--out", "{out}/w.json"], "truncated.b8"),
        ("stream-input-missing", [*GOOD_STREAM, "--input", "{out}/none.npz"],
         "argument --input:"),
        ("stream-input-empty", [*GOOD_STREAM, "--input", "{empty}"], "--input="),
        ("stream-input-truncated", [*GOOD_STREAM, "--input", "{npz_truncated}"], "--input="),
        ("stream-input-npy", [*GOOD_STREAM, "--input", "{npy}"], "--input="),
        ("stream-input-other-task", [*GOOD_STREAM, "--input", "{npz_d5}"], "--input="),
        ("stream-predecoder-missing", [*GOOD_STREAM, "--predecoder", "{out}/none.safetensors"],
         "--predecoder"),
        ("stream-soft-without-cap", [*GOOD_STREAM, "--predecoder", "{model_hard_only}"],
         "no soft-mode metadata"),
    ]
    models = {"model_nan": "must hold finite floating-point numbers",
              "model_int": "must hold finite floating-point numbers",
              "model_no_threshold": "lacks the metadata key 'threshold'",
              "model_no_model": "lacks the metadata key 'model'",
              "model_nan_threshold": "threshold=nan must be a finite number",
              "model_huge_widths": "must hold 1 to",
              "model_shape_lie": "does not match its declared architecture",
              "model_garbage": "is not a safetensors file",
              "model_empty": "is not a safetensors file"}
    for name, text in models.items():
        out.append((f"run-{name}", [*GOOD_RUN[:-2], "--decoder", "predecoder+soft-matching",
                                    "--model", f"{{{name}}}"], text))
    # finding 3 / 8: probabilities outside (0, 1/2) and malformed mechanisms are refused
    corrupt = {"weights_null": "edge_prob[3]=null must be a probability in (0, 0.5)",
               "weights_nan": "edge_prob[0]=null must be a probability in (0, 0.5)",
               "weights_negative": "edge_prob[3]=-0.01 must be a probability in (0, 0.5)",
               "weights_half": "pair_prob[3]=0.5 must be a probability in (0, 0.5)",
               "weights_1_5": "mechanism_prob[3]=1.5 must be a probability in (0, 0.5)",
               "weights_mech_syntax": "mechanisms[2]='D0 Q7 ^' is not a list of DEM targets",
               "weights_mech_range": "mechanisms[2]='D0 D999' names a detector",
               "weights_mech_swapped": "mechanisms are not those of the task"}
    for name, text in corrupt.items():
        out.append((f"run-{name}", [*GOOD_RUN[:-2], "--decoder", "pymatching-correlated",
                                    "--weights", f"{{{name}}}"], text))
    for name, text in {"samples_ones": "detector 0 fires in 100.0% of 3000 shots",
                       "samples_random": "odd in at least half"}.items():
        out.append((f"learn-{name}", ["learn-noise", "--samples", f"{{{name}}}", "--circuit",
                                      "{circuit}", "--out", "{out}/w.json"],
                    "these are not detection events of this circuit"))
        del text
    out += [("learn-circuit-noiseless", ["learn-noise", "--samples", "{dets}", "--circuit",
                                         "{noiseless}", "--out", "{out}/w.json"],
             "--circuit='"),
            ("learn-circuit-not-decomposable", ["learn-noise", "--samples", "{dets}",
                                                "--circuit", "{colour5}", "--out",
                                                "{out}/w.json"], "no matching graph"),
            ("decode-circuit-not-decomposable", [*GOOD_DECODE[:2], "{colour5}", "--dets",
                                                 "{colour5_dets}", *GOOD_DECODE[5:]],
             "no matching graph")]
    # finding 8 / 9: a quick fuzz round over the file inputs found these
    out += [("run-weights-binary", [*GOOD_RUN, "--weights", "{dets}"], "is not JSON: byte"),
            ("decode-model-garbage", [*GOOD_DECODE[:6], "predecoder+pymatching", *GOOD_DECODE[7:],
                                      "--model", "{garbage}"], "--model: model="),
            ("learn-samples-of-another-size", ["learn-noise", "--samples", "{garbage}",
                                               "--circuit", "{circuit}", "--out",
                                               "{out}/w.json"], "--samples='"),
            ("train-resume-garbage", [*GOOD_TRAIN, "--resume", "{garbage}"],
             "resume='"),
            ("train-resume-weights-only", [*GOOD_TRAIN, "--resume", "{model_tiny}"],
             "is a weights file without optimizer state")]
    for name in ("weights_x", "weights_garbage", "weights_fields", "empty"):
        text = {"weights_x": "was learned for structure", "empty": "is not JSON",
                "weights_garbage": "is not JSON", "weights_fields": "malformed field"}[name]
        out.append((f"run-weights-{name}", [*GOOD_RUN, "--basis", "Z", "--weights",
                                            f"{{{name}}}"], text))
    out.append(("run-weights-missing", [*GOOD_RUN, "--weights", "{out}/none.json"],
                "--weights: weights='"))
    return out


CASES = _cases()


def _model(path: Path, **meta_edits) -> Path:
    """A small model file, then its metadata or tensors edited to break it."""
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    save_weights(path, PreDecoderNet(ModelConfig(widths=(4,))), threshold=1.0, soft_cap=8.0)
    if not meta_edits:
        return path
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["qecpipe"])
    tensors = load_file(str(path))
    edit = meta_edits.pop("tensors", None)
    if edit is not None:
        tensors = edit(tensors)
    for key, value in meta_edits.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    save_file(tensors, str(path), metadata={"qecpipe": json.dumps(meta)})
    return path


@pytest.fixture(scope="module")
def files(d3_samples) -> dict[str, str]:
    d, chunk = d3_samples(200)
    write_sample_file(d / "obs.b8", format="b8", obs_bit_packed=chunk.obs, num_observables=1)
    write_sample_file(d / "obs_short.b8", format="b8", obs_bit_packed=chunk.obs[:50],
                      num_observables=1)
    (d / "truncated.b8").write_bytes((d / "dets.b8").read_bytes()[:-1])
    (d / "empty_b8.b8").write_bytes(b"")
    big = Task(distance=5, noise=NoiseModel.uniform(0.01))
    c5 = next(sample_detectors(big.circuit(), shots=3000, seed=1, chunk_shots=3000))
    write_sample_file(d / "dets_d5.b8", format="b8", dets_bit_packed=c5.dets,
                      num_detectors=120)
    (d / "empty").write_bytes(b"")
    (d / "garbage").write_text("this is not a circuit, model or weights file {]\n")
    text = (d / "circuit.stim").read_text()
    assert "REPEAT 2 {" in text
    (d / "repeat_1e12.stim").write_text(text.replace("REPEAT 2 {", "REPEAT 1000000000000 {"))
    (d / "repeat_1e6.stim").write_text(text.replace("REPEAT 2 {", "REPEAT 1000000 {"))
    (d / "idle_loop.stim").write_text("R 0\nREPEAT 1000000000000 {\n X_ERROR(0.01) 0\n TICK\n}\n"
                                      "M 0\nDETECTOR rec[-1]\nOBSERVABLE_INCLUDE(0) rec[-1]\n")
    (d / "noiseless.stim").write_text("".join(
        line for line in text.splitlines(keepends=True)
        if "ERROR" not in line and "DEPOLARIZE" not in line))
    _other_circuit_files(d)
    np.full((3000, 3), 255, dtype=np.uint8).tofile(d / "samples_ones.b8")
    np.random.default_rng(1).integers(0, 256, (3000, 3), dtype=np.uint8).tofile(
        d / "samples_random.b8")
    np.save(d / "x.npy", np.zeros(3))
    np.savez(d / "d5.npz", dets=c5.dets, obs=c5.obs)
    np.savez(d / "full.npz", dets=chunk.dets, obs=chunk.obs)
    (d / "trunc.npz").write_bytes((d / "full.npz").read_bytes()[:40])
    paths = {k: str(d / v) for k, v in {
        "circuit": "circuit.stim", "dets": "dets.b8", "obs": "obs.b8",
        "obs_short": "obs_short.b8", "truncated": "truncated.b8", "empty_b8": "empty_b8.b8",
        "dets_d5": "dets_d5.b8", "empty": "empty", "garbage": "garbage", "npy": "x.npy",
        "npz_d5": "d5.npz", "npz_truncated": "trunc.npz", "repeat_1e12": "repeat_1e12.stim",
        "repeat_1e6": "repeat_1e6.stim", "idle_loop": "idle_loop.stim",
        "noiseless": "noiseless.stim", "dets_z": "dets_z.b8", "obs_z": "obs_z.b8",
        "colour": "colour.stim", "colour_dets": "colour_dets.b8",
        "colour_obs": "colour_obs.b8", "colour5": "colour5.stim",
        "colour5_dets": "colour5_dets.b8",
        "samples_ones": "samples_ones.b8", "samples_random": "samples_random.b8"}.items()}
    paths.update(_model_files(d))
    paths.update(_weights_files(d))
    return paths


def _other_circuit_files(d: Path) -> None:
    """Samples of the Z-basis twin of the fixture's X-basis circuit (same size), and a
    colour code, whose matching is worse than predicting no flip (20,000 shots, seeded)."""
    import stim

    z = Task(distance=3, basis="Z", noise=NoiseModel.uniform(0.01))
    cz = next(sample_detectors(z.circuit(), shots=2000, seed=1, chunk_shots=2000))
    write_sample_file(d / "dets_z.b8", format="b8", dets_bit_packed=cz.dets, num_detectors=24)
    write_sample_file(d / "obs_z.b8", format="b8", obs_bit_packed=cz.obs, num_observables=1)
    colour = stim.Circuit.generated("color_code:memory_xyz", distance=3, rounds=3,
                                    after_clifford_depolarization=0.01)
    (d / "colour.stim").write_text(str(colour))
    (d / "colour5.stim").write_text(str(stim.Circuit.generated(   # 3-detector errors
        "color_code:memory_xyz", distance=5, rounds=5, after_clifford_depolarization=0.003)))
    (d / "colour5_dets.b8").write_bytes(bytes(6 * 10))     # 10 shots of its 45 detectors
    dets, obs = colour.compile_detector_sampler(seed=1).sample(
        20_000, separate_observables=True, bit_packed=True)
    write_sample_file(d / "colour_dets.b8", format="b8", dets_bit_packed=dets,
                      num_detectors=colour.num_detectors)
    write_sample_file(d / "colour_obs.b8", format="b8", obs_bit_packed=obs, num_observables=1)


def _model_files(d: Path) -> dict[str, str]:
    def nan(t):
        return {k: torch.full_like(v, float("nan")) for k, v in t.items()}

    def ints(t):
        return {k: v.to(torch.int32) for k, v in t.items()}

    def drop(t):
        return {k: v for k, v in list(t.items())[1:]}

    (d / "garbage.safetensors").write_text("not a model")
    (d / "empty.safetensors").write_bytes(b"")
    made = {"model_garbage": d / "garbage.safetensors", "model_empty": d / "empty.safetensors",
            "model_tiny": _model(d / "tiny.safetensors"),
            "model_nan": _model(d / "nan.safetensors", tensors=nan),
            "model_int": _model(d / "int.safetensors", tensors=ints),
            "model_no_threshold": _model(d / "nothr.safetensors", threshold=None),
            "model_no_model": _model(d / "nomodel.safetensors", model=None),
            "model_nan_threshold": _model(d / "nanthr.safetensors", threshold=float("nan")),
            "model_huge_widths": _model(d / "huge.safetensors",
                                        model={"widths": [100000] * 80, "kernel": 3}),
            "model_shape_lie": _model(d / "lie.safetensors", tensors=drop),
            "model_hard_only": _model(d / "hard.safetensors", soft_cap=None)}
    return {k: str(v) for k, v in made.items()}


def _weights_files(d: Path) -> dict[str, str]:
    assert main(["learn-noise", "--simulate", "uniform", "--distance", "3", "--p", "0.01",
                 "--shots", "2000", "--basis", "X", "--out", str(d / "wx.json")]) == 0
    obj = json.loads((d / "wx.json").read_text())
    made = {"weights_x": str(d / "wx.json"), "weights_garbage": str(d / "garbage"),
            "weights_fields": str(d / "wfields.json")}
    edits = {"weights_null": ("edge_prob", 3, None), "weights_negative": ("edge_prob", 3, -0.01),
             "weights_half": ("pair_prob", 3, 0.5), "weights_1_5": ("mechanism_prob", 3, 1.5),
             "weights_mech_syntax": ("mechanisms", 2, "D0 Q7 ^"),
             "weights_mech_range": ("mechanisms", 2, "D0 D999"),
             "weights_mech_swapped": ("mechanisms", 2, obj["mechanisms"][3])}
    for name, (field, index, value) in edits.items():
        broken = json.loads(json.dumps(obj))
        broken[field][index] = value
        (d / f"{name}.json").write_text(json.dumps(broken))
        made[name] = str(d / f"{name}.json")
    text = json.dumps(obj)
    (d / "weights_nan.json").write_text(text.replace(str(obj["edge_prob"][0]), "NaN", 1))
    made["weights_nan"] = str(d / "weights_nan.json")
    obj["edges"] = "oops"
    (d / "wfields.json").write_text(json.dumps(obj))
    return made


@pytest.mark.parametrize("name,argv,text", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(name, argv, text, files, tmp_path,
                                                         capsys):
    fill = {**files, "out": str(tmp_path)}
    args = [a.format(**fill) for a in argv]
    before = set(tmp_path.rglob("*"))
    rc = main(args)
    captured = capsys.readouterr()
    # work that ran before the input showed itself bad (e.g. decoding shots no error of the
    # circuit produces) may print its progress lines first; the error is one line, the last
    *progress, error = captured.err.strip().splitlines()
    assert rc == 2, (args, captured.err)
    assert captured.out == "", captured.out
    assert all(PROGRESS_LINE.fullmatch(line) for line in progress), captured.err
    assert text in error, error
    assert "Traceback" not in captured.err
    assert set(tmp_path.rglob("*")) == before      # no output file created or left


def test_there_are_at_least_150_cases():
    assert len(CASES) >= 150
