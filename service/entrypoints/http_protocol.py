"""HTTP/1.1 as uvicorn speaks it, but a request that is not valid HTTP gets problem+json too."""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class ProblemH11Protocol(H11Protocol):
    """uvicorn answers bytes that are not HTTP (a NUL in a header, a broken request line)
    with a plain-text 400 before any application runs; this answers them like every other
    error: problem+json with a code."""

    def send_400_response(self, msg: str) -> None:
        body = json.dumps({
            "type": "about:blank", "title": "Malformed request", "status": 400,
            "code": "MALFORMED_REQUEST", "detail": f"not a valid HTTP request: {msg}",
        }).encode()
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
