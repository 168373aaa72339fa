"""A small HTTP proxy that sits in front of a real backend and injects faults.

Run as ``python tests/faultproxy.py UPSTREAM_URL PORT``. Control it with
``POST /__fault__`` and a JSON body:

* ``{"status": 500, "times": 2}``: answer the next two requests with HTTP 500
  (optionally ``"headers": {"Retry-After": "1"}``), then forward again;
* ``{"trickle": 65536}``: send response bodies at that many bytes per second;
* ``{}``: clear everything.

``GET /__fault__`` returns ``{"forwarded": N, "injected": M}``. Being a
separate process, it can be killed half way through a response, which is how
the tests interrupt a download.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


class State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.faults: list[dict[str, object]] = []
        self.trickle = 0
        self.forwarded = 0
        self.injected = 0


def make_handler(upstream: str, state: State) -> type[BaseHTTPRequestHandler]:
    target = urlsplit(upstream)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _control(self) -> None:
            body = self._body()
            with state.lock:
                if self.command == "POST":
                    spec = json.loads(body or b"{}")
                    if not spec:
                        state.faults.clear()
                        state.trickle = 0
                    if "status" in spec:
                        state.faults.extend([spec] * int(spec.get("times", 1)))
                    if "trickle" in spec:
                        state.trickle = int(spec["trickle"])
                out = json.dumps({"forwarded": state.forwarded, "injected": state.injected}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(out)))
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(out)

        def _handle(self) -> None:
            if self.path.startswith("/__fault__"):
                return self._control()
            body = self._body()
            with state.lock:
                fault = state.faults.pop(0) if state.faults else None
                trickle = state.trickle
                if fault:
                    state.injected += 1
                else:
                    state.forwarded += 1
            if fault:
                payload = b"<Error><Code>InjectedFault</Code><Message>injected by the test proxy</Message></Error>"
                self.send_response(int(fault["status"]))  # type: ignore[call-overload]
                for k, v in dict(fault.get("headers") or {}).items():  # type: ignore[call-overload]
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            conn = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            conn.request(self.command, self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data_len = resp.getheader("Content-Length")
            payload = None if data_len is not None or self.command == "HEAD" else resp.read()
            self.send_response(resp.status, resp.reason)
            for k, v in resp.getheaders():
                if k.lower() not in HOP and not (payload is not None and k.lower() == "content-length"):
                    self.send_header(k, v)
            if payload is not None:
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command == "HEAD":
                conn.close()
                return
            if payload is not None:
                self.wfile.write(payload)
            else:
                block = 16384
                while True:
                    chunk = resp.read(block)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    if trickle:
                        time.sleep(len(chunk) / trickle)
            conn.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler


def main() -> None:
    upstream, port = sys.argv[1], int(sys.argv[2])
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(upstream, State()))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
