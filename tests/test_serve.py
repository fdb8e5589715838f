"""The decoding service: wire contract, stages, `qecpipe serve` end to end, a replica kill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from pipelines import PredecoderPipeline, WindowedDecoder
from pipelines._serve.config import ServeConfig
from pipelines._serve.stages import ServiceMatcher, ServicePredecoder
from pipelines._serve.wire import DecodeRequest, DecodeResponse, WireError, encode_bits
from qec import NoiseModel, Task, pack_bits, sample_detectors, unpack_bits

NOISE = NoiseModel.uniform(0.01)


def _shots(task: Task, shots: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    chunk = next(sample_detectors(task.circuit(), shots=shots, seed=seed, chunk_shots=shots))
    return (unpack_bits(chunk.dets, task.circuit().num_detectors),
            unpack_bits(chunk.obs, task.circuit().num_observables))


# --- the wire contract -------------------------------------------------------------------

def _parse(payload, **kw):
    base = {"fingerprint": "f" * 16, "num_detectors": 24, "max_shots": 8}
    return DecodeRequest.from_json(payload, **{**base, **kw})


def test_a_request_round_trips_and_bits_keep_stims_layout():
    dets = np.random.default_rng(1).random((3, 24)) < 0.3
    req = DecodeRequest("f" * 16, "b7", dets)
    back = _parse(json.loads(json.dumps(req.to_json())))
    assert back.block_id == "b7" and np.array_equal(back.dets, dets)
    import base64

    raw = base64.b64decode(req.to_json()["dets"])
    assert raw == pack_bits(dets).tobytes()           # stim's bit_packed rows, in shot order
    resp = DecodeResponse("b7", dets[:, :1], {"matcher": 1.0})
    assert np.array_equal(DecodeResponse.from_json(resp.to_json()).predictions, dets[:, :1])


@pytest.mark.parametrize("payload, status, match", [
    ([], 400, "must be a JSON object"),
    ({"fingerprint": "f" * 16}, 400, "lacks block_id, shots, dets"),
    ({"fingerprint": "0" * 16, "block_id": 1, "shots": 1, "dets": ""}, 409,
     "is not this service's task ffff"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 0, "dets": ""}, 400,
     "shots=0 must be an integer >= 1"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 9, "dets": ""}, 413, "split the block"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 1, "dets": "@@"}, 400,
     "not valid base64"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 2, "dets": encode_bits(
        np.zeros((1, 24), bool))}, 400, "holds 3 bytes; 2 shots of 24 bits"),
    ({"fingerprint": "f" * 16, "block_id": [1], "shots": 1, "dets": ""}, 400,
     "block_id=.* must be a string or integer"),
    ({"fingerprint": "f" * 16, "block_id": 1, "shots": 1, "dets": encode_bits(
        np.zeros((1, 24), bool)), "return_residual": "yes"}, 400, "must be true or false"),
])
def test_malformed_requests_are_refused_with_a_status_and_one_line(payload, status, match):
    with pytest.raises(WireError, match=match) as info:
        _parse(payload)
    assert info.value.status == status and "\n" not in str(info.value)


# --- the stages equal the in-process decoders ----------------------------------------------

@pytest.mark.parametrize("mode", ["hard", "soft"])
def test_service_stages_equal_the_whole_volume_pipeline(mode):
    cfg = ServeConfig(distance=3, rounds=3, noise=NOISE, mode=mode)
    dets, _ = _shots(cfg.task(), 300, seed=3)
    pre, matcher = ServicePredecoder(cfg), ServiceMatcher(cfg)
    outs = pre.run([dets[:100], dets[100:]])       # two requests, one forward pass
    pred = np.concatenate([matcher.decode(o.residual, o.weights) ^ o.flip for o in outs])
    expected = PredecoderPipeline.from_task(cfg.task(), mode=mode).decode_batch(pack_bits(dets))
    assert np.array_equal(pred, unpack_bits(expected, 1))
    assert pred.any()                               # the shots do have logical flips


def test_windowed_service_stages_equal_the_windowed_decoder():
    from pipelines import BlockPredecoder
    from predecoder import load_model

    cfg = ServeConfig(distance=3, rounds=20, noise=NOISE, mode="soft", n_com=3, n_buf=3)
    dets, _ = _shots(cfg.task(), 64, seed=4)
    out = ServicePredecoder(cfg).run([dets])[0]
    pred = ServiceMatcher(cfg).decode(out.residual, out.weights) ^ out.flip
    loaded = load_model(None)
    blocks = BlockPredecoder(task=cfg.task(), net=loaded.net, policy=loaded.policy("soft"),
                             block_slices=3)
    offline = WindowedDecoder.for_task(cfg.task(), n_com=3, n_buf=3, predecoder=blocks)
    assert np.array_equal(pred, unpack_bits(offline.decode_batch(pack_bits(dets)), 1))


# --- qecpipe serve, end to end -------------------------------------------------------------

def _ray_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "ray::|raylet|gcs_server|ray/dashboard|ray/_private"],
                         capture_output=True, text=True)
    return {int(p) for p in out.stdout.split()}


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.mark.slow
def test_qecpipe_serve_answers_like_in_process_refuses_bad_requests_and_stops_clean(
        tmp_path, free_port):
    from pipelines import ServiceClient

    port, before = free_port, _ray_pids()
    qecpipe = Path(sys.executable).parent / "qecpipe"
    pid_file = tmp_path / "serve.pid"
    proc = subprocess.Popen([str(qecpipe), "serve", "--distance", "3", "--p", "0.01",
                             "--mode", "soft", "--port", str(port), "--pid-file",
                             str(pid_file)], stderr=subprocess.PIPE, text=True)
    try:
        client = ServiceClient(f"http://127.0.0.1:{port}", timeout_s=60)
        deadline = time.monotonic() + 180
        while not pid_file.exists():
            assert proc.poll() is None, proc.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "the service did not come up"
            time.sleep(0.5)
        health = client.health()
        task = client.task()
        assert health["ready"] and health["fingerprint"] == task.fingerprint
        assert health["model"]["name"] == "small.safetensors" and health["mode"] == "soft"
        dets, _ = _shots(task, 200, seed=5)
        expected = unpack_bits(PredecoderPipeline.from_task(task, mode="soft").decode_batch(
            pack_bits(dets)), 1)
        assert np.array_equal(client.decode(dets[:120], block_id="a"), expected[:120])
        answer = client.decode_response(dets[:50], block_id="r", return_residual=True)
        corr = PredecoderPipeline.from_task(task, mode="soft").predecode(pack_bits(dets[:50]))
        assert np.array_equal(answer.residual, corr.residual.numpy())   # what the matcher saw
        assert client.decode_response(dets[:50], block_id="s").residual is None
        body = DecodeRequest(task.fingerprint, "raw", dets[120:]).to_json()
        status, answer = _post(f"{client.url}/decode", json.dumps(body).encode())
        assert status == 200 and answer["block_id"] == "raw"
        assert np.array_equal(DecodeResponse.from_json(answer).predictions, expected[120:])
        status, answer = _post(f"{client.url}/decode", b"{not json")
        assert status == 400 and "not JSON" in answer["error"]
        wrong = Task(distance=3, rounds=3, noise=NoiseModel.uniform(0.02)).fingerprint
        status, answer = _post(f"{client.url}/decode", json.dumps(
            {**body, "fingerprint": wrong}).encode())
        assert status == 409 and "is not this service's task" in answer["error"]
        assert client.health()["ready"]               # the replicas went on serving
        stop = subprocess.run([str(qecpipe), "serve", "--stop", "--port", str(port),
                               "--pid-file", str(pid_file)], capture_output=True, text=True,
                              timeout=180)
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(timeout=60) == 0
        assert not pid_file.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 30
    while _ray_pids() - before and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _ray_pids() - before, "Ray processes left behind by qecpipe serve"


def test_serve_stop_without_a_running_service_says_so(tmp_path, capsys):
    from pipelines import main

    rc = main(["serve", "--stop", "--port", "1", "--pid-file", str(tmp_path / "none.pid")])
    assert rc == 2 and "no running service recorded there" in capsys.readouterr().err


# --- a replica killed under load -----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.ray
def test_a_replica_killed_during_a_load_test_answers_every_block_once(ray_local, free_port):
    """The matcher replica is killed while requests are in flight: Serve replaces it, the
    ingress sends the lost requests again, and every block gets exactly one answer, each the
    in-process decoder's."""
    import threading

    from ray import serve

    from pipelines._serve.app import APP_NAME, build_app
    from pipelines._serve.loadtest import LoadConfig, run_loadtest

    cfg = ServeConfig(distance=5, rounds=5, noise=NoiseModel.uniform(0.006), mode="soft",
                      port=free_port)
    serve.start(http_options={"host": cfg.host, "port": cfg.port})
    try:
        serve.run(build_app(cfg), name=APP_NAME, route_prefix="/")
        load = LoadConfig(url=cfg.url, blocks=40, shots=256, clients=2, concurrency=2, seed=9)
        box: dict = {}
        runner = threading.Thread(target=lambda: box.setdefault("r", run_loadtest(load)))
        runner.start()
        victim = None
        deadline = time.monotonic() + 120
        while victim is None and time.monotonic() < deadline:
            time.sleep(3.0)     # let requests reach the matcher
            victim = next((a["name"] for a in ray_local.util.list_named_actors(
                all_namespaces=True) if "#Matcher#" in a["name"]), None)
        ray_local.kill(ray_local.get_actor(victim, namespace="serve"), no_restart=True)
        runner.join(timeout=600)
        result = box["r"]
        # block 7 sent again by the same client: answered from the ledger, not decoded again
        from pipelines import ServiceClient

        again = ServiceClient(cfg.url, client_id=result.client_id)
        chunk = list(sample_detectors(cfg.task().circuit(), shots=40 * 256, seed=9,
                                      chunk_shots=256))[7]
        resent = again.decode_response(unpack_bits(chunk.dets, cfg.task().circuit()
                                                   .num_detectors), block_id="7")
        ledger_after = again.ledger()
        again.close()
    finally:
        serve.shutdown()
    acc = result.accounting()
    assert acc == {**acc, "answered": 40, "answered_twice": 0, "missing": 0, "failed": 0}
    assert acc["retried_in_service"] >= 1           # the kill did hit requests in flight
    # the service's own count: each block decoded once, none twice, none never, none pending
    assert acc["service"] == {**acc["service"], "answered": 40, "duplicates": 0, "missing": 0,
                              "in_flight": 0, "evicted": 0}
    # a block no replica took within 30 s (Serve replaces one slowly on a loaded machine) was
    # refused with a 503 and sent again by the client: never more refusals than re-sends
    assert acc["service"]["refused"] <= acc["resent_by_client"]
    task = cfg.task()
    pipeline = PredecoderPipeline.from_task(task, mode="soft")
    chunks = list(sample_detectors(task.circuit(), shots=40 * 256, seed=9, chunk_shots=256))
    expected = [unpack_bits(pipeline.decode_batch(c.dets), 1) for c in chunks]
    for record in result.records:
        assert np.array_equal(record.predictions, expected[record.block])
    assert np.array_equal(resent.predictions, expected[7]) and resent.replayed
    assert ledger_after == {**ledger_after, "answered": 40,
                            "answered_again": acc["service"]["answered_again"] + 1}


@pytest.mark.slow
@pytest.mark.ray
@pytest.mark.parametrize("victim", ["#Ingress#", "SERVE_PROXY_ACTOR"])
def test_killing_the_ingress_or_the_proxy_under_load_loses_no_block(ray_local, free_port,
                                                                    victim):
    """The ingress replica (its ledger dies with it) or the HTTP proxy is killed while blocks
    are in flight: the proxy's plain-text error or the refused connection is a lost answer
    that the client sends again, so every block still gets one answer, the in-process
    pipeline's (issue 20: one plain 500 for the ingress, 55 of 80 failed for the proxy)."""
    import threading

    from ray import serve

    from pipelines import ServiceClient
    from pipelines._serve.app import APP_NAME, build_app
    from pipelines._serve.loadtest import LoadConfig, run_loadtest

    cfg = ServeConfig(distance=3, rounds=3, noise=NOISE, mode="pymatching", port=free_port)
    serve.start(http_options={"host": cfg.host, "port": cfg.port})
    try:
        serve.run(build_app(cfg), name=APP_NAME, route_prefix="/")
        load = LoadConfig(url=cfg.url, blocks=80, shots=64, rate=8.0, clients=2,
                          concurrency=2, seed=4)
        box: dict = {}
        runner = threading.Thread(target=lambda: box.setdefault("r", run_loadtest(load)))
        runner.start()
        watcher = ServiceClient(cfg.url)
        deadline = time.monotonic() + 300
        while watcher.request("GET", "/ledger")[1]["totals"]["answered"] < 5:   # under way
            assert time.monotonic() < deadline and runner.is_alive(), "no block answered"
            time.sleep(0.1)
        watcher.close()
        name = next(a["name"] for a in ray_local.util.list_named_actors(all_namespaces=True)
                    if victim in a["name"])
        ray_local.kill(ray_local.get_actor(name, namespace="serve"), no_restart=False)
        runner.join(timeout=600)
        result = box["r"]
    finally:
        serve.shutdown()
    acc = result.accounting()
    assert acc == {**acc, "answered": 80, "answered_twice": 0, "missing": 0, "failed": 0}
    from qec import MatchingDecoder

    decoder = MatchingDecoder.from_dem(cfg.task().dem())
    expected = [unpack_bits(decoder.decode_batch(c.dets), 1)
                for c in sample_detectors(cfg.task().circuit(), shots=80 * 64, seed=4,
                                          chunk_shots=64)]
    for record in result.records:
        assert np.array_equal(record.predictions, expected[record.block])


def test_loadtest_against_nothing_is_refused_in_one_line(capsys, free_port):
    from pipelines import main

    rc = main(["loadtest", "--url", f"http://127.0.0.1:{free_port}", "--blocks", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1
    assert err.startswith(f"qecpipe: error: --url='http://127.0.0.1:{free_port}': ")
    assert "does not answer" in err and "--wait-s waits longer" in err
    assert os.environ.get("RAY_ADDRESS") is None


def test_serving_on_every_interface_is_said_before_anything_starts(free_port, caplog):
    """--host 0.0.0.0 is allowed (a cluster's clients are elsewhere) but never silent: Serve's
    HTTP has no authentication. The --address that is not this process's Ray (or, without
    one, a dead address) ends the run right after the warning."""
    import logging

    from pipelines import main

    with caplog.at_level(logging.WARNING, logger="pipelines._command.serve"):
        rc = main(["serve", "--distance", "3", "--host", "0.0.0.0", "--port", str(free_port),
                   "--address", "127.0.0.1:1"])
    assert rc == 2
    assert [r.getMessage() for r in caplog.records] == [
        f"--host 0.0.0.0: the HTTP ingress has no authentication and listens on every "
        f"interface; firewall port {free_port} to the machines that may send blocks"]



# --- the ledger: each block decoded once, a re-sent block answered from memory ---------------

def _run(coro):
    import asyncio

    return asyncio.run(coro)


def _counting_decoder(log: list, status: int = 200):
    async def decode():
        import asyncio

        log.append("decoded")
        await asyncio.sleep(0.01)      # in flight for a while: re-sends arrive meanwhile
        return status, {"block_id": "b", "predictions": "AA==", "shots": 1}

    return decode


def test_a_resent_block_is_answered_from_the_ledger_and_decoded_once():
    import asyncio

    from pipelines._serve.ledger import Ledger

    ledger, decoded = Ledger(), []

    async def scenario():
        decode = _counting_decoder(decoded)
        # two copies at once (the second while the first is decoding), then a third later
        first, second = await asyncio.gather(ledger.answer("c", "b", "d1", decode),
                                             ledger.answer("c", "b", "d1", decode))
        third = await ledger.answer("c", "b", "d1", decode)
        return first, second, third

    first, second, third = _run(scenario())
    assert decoded == ["decoded"]                               # decoded once
    assert first[1].get("replayed") is None and second[1]["replayed"] and third[1]["replayed"]
    assert first[1]["predictions"] == second[1]["predictions"] == third[1]["predictions"]
    assert ledger.counts("c") == {"answered": 1, "answered_again": 2, "in_flight": 0,
                                  "refused": 0, "evicted": 0}
    assert ledger.counts("someone else")["answered"] == 0


def test_the_same_block_id_with_other_events_or_from_another_client_is_a_new_block():
    from pipelines._serve.ledger import Ledger

    ledger, decoded = Ledger(), []
    decode = _counting_decoder(decoded)
    _run(ledger.answer("c", "0", "events of run 1", decode))
    _run(ledger.answer("c", "0", "events of run 2", decode))    # ids restart at 0 each run
    _run(ledger.answer("other", "0", "events of run 2", decode))
    assert len(decoded) == 3 and ledger.counts()["answered"] == 3
    assert ledger.counts()["answered_again"] == 0


def test_a_refused_block_is_not_remembered_and_is_decoded_when_sent_again():
    from pipelines._serve.ledger import Ledger

    ledger, decoded = Ledger(), []
    assert _run(ledger.answer("c", "b", "d", _counting_decoder(decoded, 503)))[0] == 503
    assert _run(ledger.answer("c", "b", "d", _counting_decoder(decoded)))[0] == 200
    assert len(decoded) == 2
    assert ledger.counts("c") == {"answered": 1, "answered_again": 0, "in_flight": 0,
                                  "refused": 1, "evicted": 0}


def test_the_ledger_memory_is_bounded_by_blocks_bytes_and_clients():
    from pipelines._serve.ledger import Ledger

    ledger, decoded = Ledger(max_blocks=3, max_bytes=10_000, max_clients=2), []
    decode = _counting_decoder(decoded)
    for k in range(5):
        _run(ledger.answer("c", str(k), "d", decode))
    assert len(ledger.entries) == 3 and ledger.counts("c")["evicted"] == 2
    _run(ledger.answer("c", "0", "d", decode))        # dropped: decoded again, and counted
    assert len(decoded) == 6 and ledger.counts("c")["answered"] == 6
    small = Ledger(max_blocks=100, max_bytes=200)     # each kept answer is ~50 bytes
    for k in range(5):
        _run(small.answer("c", str(k), "d", decode))
    assert small.kept_bytes <= 200 and len(small.entries) < 5
    assert small.counts()["evicted"] == 5 - len(small.entries)
    for client in ("x", "y", "z"):
        _run(ledger.answer(client, "0", "d", decode))
    assert len(ledger.clients) == 2 and "x" not in ledger.clients    # least recently seen
    assert ledger.counts()["answered"] == 9                           # totals keep all


# --- the ingress without Ray: body limits, the ledger over HTTP -----------------------------

class _StubMatcher:
    """The matcher deployment's handle, in this process: ``decode.remote`` is awaitable."""

    def __init__(self, config: ServeConfig) -> None:
        self.stage, self.calls = ServiceMatcher(config), 0
        outer = self

        class Method:
            async def remote(self, dets, with_residual=False):
                outer.calls += 1
                return outer.stage.decode(dets), {"matcher": 1.0}, None

        self.decode = Method()


def _ingress():
    from pipelines._serve.app import IngressReplica

    cfg = ServeConfig(distance=3, rounds=3, noise=NOISE, mode="pymatching")
    matcher = _StubMatcher(cfg)
    return IngressReplica(cfg, None, matcher), matcher, cfg


def _http(replica, method: str, path: str, chunks=(b"",), query: bytes = b"",
          headers: list | None = None):
    """Call the ingress's HTTP entry with a body sent in ``chunks`` (chunked when there are
    several); returns (status, JSON body, chunks the ingress read)."""
    from starlette.requests import Request

    sent = []

    async def receive():
        k = len(sent)
        sent.append(k)
        if k >= len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[k], "more_body": k + 1 < len(chunks)}

    scope = {"type": "http", "method": method, "path": path, "query_string": query,
             "headers": headers or [], "scheme": "http", "server": ("127.0.0.1", 8000)}
    response = _run(replica(Request(scope, receive)))
    return response.status_code, json.loads(response.body), len(sent)


def test_a_chunked_body_over_the_limit_is_refused_while_it_is_read(monkeypatch):
    from pipelines._serve import app

    monkeypatch.setattr(app, "MAX_BODY_BYTES", 1000)        # the real limit is 64 MiB
    replica, matcher, _ = _ingress()
    chunks = [b"x" * 300] * 20                              # 6,000 bytes, no content-length
    status, body, read = _http(replica, "POST", "/decode", chunks)
    assert status == 413 and "refused while reading" in body["error"]
    assert read == 4 and matcher.calls == 0                 # stopped after 1,200 bytes


def test_deeply_nested_json_is_a_400_not_a_500():
    replica, _, _ = _ingress()
    status, body, _ = _http(replica, "POST", "/decode", [b"[" * 100_000 + b"]" * 100_000])
    assert status == 400 and "nests JSON too deeply" in body["error"]


def test_the_ingress_answers_a_resent_block_from_its_ledger_and_reports_it():
    replica, matcher, cfg = _ingress()
    dets, _ = _shots(cfg.task(), 20, seed=8)
    request = DecodeRequest(cfg.fingerprint, "b1", dets, client="me").to_json()
    body = json.dumps(request).encode()
    status, first, _ = _http(replica, "POST", "/decode", [body])
    status2, again, _ = _http(replica, "POST", "/decode", [body])
    assert status == status2 == 200 and matcher.calls == 1      # decoded once
    assert not first["replayed"] and again["replayed"]
    assert again["predictions"] == first["predictions"]
    status, ledger, _ = _http(replica, "GET", "/ledger", query=b"client=me")
    assert status == 200 and ledger == {"client": "me", "answered": 1, "answered_again": 1,
                                        "in_flight": 0, "refused": 0, "evicted": 0}
    status, report, _ = _http(replica, "GET", "/ledger")
    assert report["totals"]["answered"] == 1 and report["limits"]["max_blocks"] == 65_536


# --- the pid file: only a service's own, never another process ------------------------------

def test_serve_stop_refuses_a_pid_file_that_a_service_did_not_write(tmp_path, capsys):
    from pipelines import main

    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        pid_file = tmp_path / "x.pid"
        pid_file.write_text(f"{sleeper.pid}\n")          # echo $! > x.pid
        rc = main(["serve", "--stop", "--pid-file", str(pid_file)])
        err = capsys.readouterr().err
        assert rc == 2 and err.count("\n") == 1
        assert "is not a pid file written by `qecpipe serve`" in err
        assert sleeper.poll() is None                     # not signalled
        assert pid_file.read_text() == f"{sleeper.pid}\n"
    finally:
        sleeper.kill()
        sleeper.wait()


def test_serve_stop_refuses_a_record_whose_pid_now_belongs_to_another_process(tmp_path, capsys):
    from pipelines import main
    from pipelines._serve.pidfile import ServiceRecord, write_record

    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        pid_file = tmp_path / "s.pid"      # the service exited; its pid was given to `sleep`
        write_record(pid_file, ServiceRecord(pid=sleeper.pid, port=8000, started="1"))
        rc = main(["serve", "--stop", "--pid-file", str(pid_file)])
        assert rc == 2 and "no running service recorded there" in capsys.readouterr().err
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_serve_leaves_an_existing_file_that_is_not_its_pid_file_alone(tmp_path, capsys):
    from pipelines import main

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    rc = main(["serve", "--distance", "3", "--pid-file", str(notes), "--address",
               "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and f"--pid-file={str(notes)!r}" in err
    assert notes.read_text() == "my notes\n"


# --- loadtest checks what comes back ---------------------------------------------------------

def test_loadtest_fails_when_the_service_answers_another_block_id(free_port, capsys):
    """A fake service that answers every block as block "999999" (right predictions
    otherwise): the load test must not count those as answers."""
    import http.server
    import threading

    from pipelines import main
    from pipelines._serve.app import health_info

    cfg = ServeConfig(distance=3, rounds=3, noise=NOISE, mode="pymatching")
    health = {"ready": True, **health_info(cfg)}

    class Fake(http.server.BaseHTTPRequestHandler):
        def _send(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):   # noqa: N802 -- http.server's name
            self._send(health if self.path == "/health" else {"client": "x", "answered": 4,
                                                               "answered_again": 0,
                                                               "in_flight": 0, "refused": 0,
                                                               "evicted": 0})

        def do_POST(self):  # noqa: N802
            req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            pred = np.zeros((req["shots"], 1), bool)
            self._send(DecodeResponse("999999", pred, {}).to_json())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port), Fake)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        rc = main(["loadtest", "--url", f"http://127.0.0.1:{free_port}", "--blocks", "4",
                   "--shots", "8", "--clients", "1", "--concurrency", "1", "--json"])
    finally:
        server.shutdown()
        server.server_close()
    captured = capsys.readouterr()
    assert rc == 1 and "4 blocks unanswered" in captured.err
    out = json.loads(captured.out)
    assert out["accounting"]["answered"] == 0 and out["accounting"]["failed"] == 4
