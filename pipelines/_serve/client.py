"""A Python client of the decoding service, over plain HTTP (the standard library only).

Examples (against a running ``qecpipe serve``)::

    from pipelines import ServiceClient
    client = ServiceClient("http://127.0.0.1:8000")
    task = client.task()                      # the service's qec.Task, from GET /health
    predictions = client.decode(dets)         # (S, D) bool -> (S, O) bool
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import numpy as np

from pipelines._serve.wire import DecodeRequest, DecodeResponse, WireError
from qec import InputError, NoiseModel, RunFailure, Task


class ServiceError(RunFailure):
    """The service answered with an error (``status``: the HTTP status) or not at all."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ServiceClient:
    """One keep-alive HTTP connection to a decoding service.

    Args:
        url: ``http://HOST:PORT`` of the service.
        timeout_s: seconds to wait for an answer.
    """

    def __init__(self, url: str, *, timeout_s: float = 60.0) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise InputError(f"url={url!r} must look like http://HOST:PORT")
        self.url, self.host, self.port = url, parts.hostname, parts.port or 80
        self.timeout_s = timeout_s
        self._conn: http.client.HTTPConnection | None = None
        self._health: dict | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """(status, JSON body); one reconnect if the kept-alive connection was closed."""
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
            except OSError as exc:   # refused, unreachable, timed out
                self.close()
                raise ServiceError(0, f"{self.url} does not answer ({exc}); is `qecpipe "
                                      "serve` running there?") from None
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = {"error": raw[:200].decode(errors="replace")}
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
        """Send one block: (S, D) bool events -> the full :class:`DecodeResponse`."""
        health = self._health or self.health()
        req = DecodeRequest(health["fingerprint"], str(block_id), np.asarray(dets, bool),
                            return_residual)
        status, body = self.request("POST", "/decode", req.to_json())
        if status != 200:
            raise ServiceError(status, f"block {block_id}: HTTP {status}: "
                                       f"{body.get('error', '')}")
        return DecodeResponse.from_json(body, num_detectors=health["num_detectors"])

    def decode(self, dets: np.ndarray, *, block_id: str = "0") -> np.ndarray:
        """(S, D) bool events -> (S, O) bool predicted observable flips."""
        return self.decode_response(dets, block_id=block_id).predictions

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
