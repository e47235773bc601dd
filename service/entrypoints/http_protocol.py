"""HTTP/1.1 as uvicorn speaks it, but a request that is not valid HTTP gets problem+json too.

uvicorn answers bytes that are not HTTP (a NUL in a header, a broken request line) with a
plain-text 400 before any application runs; these protocols answer them like every other
error: problem+json with a code. The service serves with `ProblemHttpToolsProtocol`
(httptools, a C parser); `ProblemH11Protocol` is the same for uvicorn's pure-Python h11.
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def _problem(msg: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({
        "type": "about:blank", "title": "Malformed request", "status": 400,
        "code": "MALFORMED_REQUEST", "detail": f"not a valid HTTP request: {msg}",
    }).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    return headers, body


class ProblemH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        headers, body = _problem(msg)
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()


class ProblemHttpToolsProtocol(HttpToolsProtocol):
    def send_400_response(self, msg: str) -> None:
        headers, body = _problem(msg)
        head = [b"HTTP/1.1 400 Bad Request\r\n"]
        head += [name + b": " + value + b"\r\n" for name, value in headers]
        self.transport.write(b"".join([*head, b"\r\n", body]))
        self.transport.close()
