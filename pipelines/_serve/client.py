"""A Python client of the decoding service, over plain HTTP (the standard library only).

Examples (against a running ``qecpipe serve``)::

    from pipelines import ServiceClient
    client = ServiceClient("http://127.0.0.1:8000")
    task = client.task()                      # the service's qec.Task, from GET /health
    predictions = client.decode(dets)         # (S, D) bool -> (S, O) bool

A block whose answer is lost (the connection breaks, the HTTP proxy or the ingress restarts
and answers with something outside the wire contract, or no replica took it: 503) is sent
again, with the same ``block_id`` and client id, for up to ``retry_s`` seconds: the service's
ledger answers a block it already decoded from memory, so a re-send is never decoded twice.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import socket
import time
from urllib.parse import quote, urlsplit

import numpy as np

from pipelines._serve.wire import DecodeRequest, DecodeResponse, WireError
from qec import InputError, NoiseModel, RunFailure, Task

RETRY_S = 60.0     # how long a block whose answer was lost is sent again


class ServiceError(RunFailure):
    """The service answered with an error (``status``: the HTTP status), not at all, or with
    an answer that is not for the block sent (``status`` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_url(url: str) -> tuple[str, int]:
    """(host, port) of ``http://HOST:PORT`` (port 80 if omitted); InputError otherwise.

    Examples:
        >>> parse_url("http://127.0.0.1:8000"), parse_url("http://[::1]:9")
        (('127.0.0.1', 8000), ('::1', 9))
        >>> parse_url("http://127.0.0.1:99999")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        qec.errors.InputError: url='http://127.0.0.1:99999' must look like http://HOST:PORT ...
    """
    rule = "must look like http://HOST:PORT with PORT in [1, 65535]"
    if not isinstance(url, str):
        raise InputError(f"url={url!r} {rule}")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:        # a port out of range or not a number, an open [
        raise InputError(f"url={url!r} {rule} ({exc})") from None
    if parts.scheme != "http" or not parts.hostname or port == 0 or parts.path not in ("",
                                                                                       "/"):
        raise InputError(f"url={url!r} {rule}")
    return parts.hostname, port or 80


class ServiceClient:
    """One keep-alive HTTP connection to a decoding service.

    Args:
        url: ``http://HOST:PORT`` of the service.
        timeout_s: seconds to wait for an answer.
        retry_s: how long a block whose answer was lost is sent again (module docstring).
        client_id: who this client is in the service's ledger (default: a new random id).
    """

    def __init__(self, url: str, *, timeout_s: float = 60.0, retry_s: float = RETRY_S,
                 client_id: str | None = None) -> None:
        self.url = url
        self.host, self.port = parse_url(url)
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self.client_id = client_id or (f"{socket.gethostname()[:40]}-{os.getpid()}-"
                                       f"{secrets.token_hex(4)}")
        self.resends = 0            # blocks sent again since this client was made
        self._conn: http.client.HTTPConnection | None = None
        self._health: dict | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """(status, JSON body); one reconnect if the kept-alive connection was closed. A
        body that is not JSON (a proxy's own error page) comes back as ``{"error": text,
        "not_json": True}``."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data is not None else {}
        for attempt in (0, 1):
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                resp = conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise ServiceError(0, f"{self.url} closed the connection twice") from None
            except (OSError, http.client.HTTPException) as exc:  # refused, timed out, garbled
                self.close()
                raise ServiceError(0, f"{self.url} does not answer ({exc}); is `qecpipe "
                                      "serve` running there?") from None
        try:
            payload = json.loads(raw)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            payload = {"error": raw[:200].decode(errors="replace").strip(), "not_json": True}
        return resp.status, payload

    def health(self) -> dict:
        status, body = self.request("GET", "/health")
        if status != 200:
            raise ServiceError(status, f"GET /health: {body.get('error', status)}")
        self._health = body
        return body

    def task(self) -> Task:
        """The service's task (from ``GET /health``)."""
        health = self._health or self.health()
        t = health["task"]
        task = Task(distance=t["distance"], rounds=t["rounds"], basis=t["basis"],
                    noise=NoiseModel(**health["noise_model"]))
        if task.fingerprint != health["fingerprint"]:
            raise InputError(f"the task rebuilt from /health has fingerprint "
                             f"{task.fingerprint}, the service says {self._health['fingerprint']}")
        return task

    def decode_response(self, dets: np.ndarray, *, block_id: str = "0",
                        return_residual: bool = False) -> DecodeResponse:
        """Send one block: (S, D) bool events -> the full :class:`DecodeResponse`; a lost
        answer is sent for again (module docstring); an answer for another block (its
        ``block_id`` or shot count not the ones sent) is a :class:`ServiceError`."""
        health = self._health or self.health()
        req = DecodeRequest(health["fingerprint"], str(block_id), np.asarray(dets, bool),
                            return_residual, self.client_id)
        status, body = self._send_until_answered(req.to_json(), block_id)
        if status != 200:
            raise ServiceError(status, f"block {block_id}: HTTP {status}: "
                                       f"{body.get('error', '')}")
        if str(body.get("block_id")) != str(block_id) or body.get("shots") != len(req.dets):
            raise ServiceError(0, f"block {block_id}: the service answered block_id="
                                       f"{str(body.get('block_id'))[:40]!r} with shots="
                                       f"{body.get('shots')!r}, not block {block_id} of "
                                       f"{len(req.dets)} shots")
        return DecodeResponse.from_json(body, num_detectors=health["num_detectors"])

    def _send_until_answered(self, payload: dict, block_id: str) -> tuple[int, dict]:
        deadline, wait, resent = time.monotonic() + self.retry_s, 0.25, 0
        while True:
            try:
                status, body = self.request("POST", "/decode", payload)
                lost = status == 503 or (status >= 500 and body.get("not_json", False))
                failure = ServiceError(status, f"block {block_id}: HTTP {status}: "
                                               f"{body.get('error', '')}")
            except ServiceError as exc:     # no connection: the proxy is down or restarting
                status, body, lost, failure = exc.status, {}, True, exc
            if not lost:
                return status, body
            if time.monotonic() + wait > deadline:
                raise ServiceError(failure.status, f"{failure} (sent again {resent} times "
                                                   f"within {self.retry_s:g} s)")
            time.sleep(wait)
            wait = min(2 * wait, 2.0)
            resent += 1
            self.resends += 1

    def decode(self, dets: np.ndarray, *, block_id: str = "0") -> np.ndarray:
        """(S, D) bool events -> (S, O) bool predicted observable flips."""
        return self.decode_response(dets, block_id=block_id).predictions

    def ledger(self) -> dict:
        """This client's counts in the service's ledger (``GET /ledger?client=...``)."""
        status, body = self.request("GET", f"/ledger?client={quote(self.client_id)}")
        if status != 200:
            raise ServiceError(status, f"GET /ledger: {body.get('error', status)}")
        return body

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port,
                                                    timeout=self.timeout_s)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


__all__ = ["ServiceClient", "ServiceError", "WireError"]
