"""A tiny OpenAI-compatible upstream for error paths that the replay stand-in cannot produce.

Named as a stand-in: it exists to be slow, to reject, or to be down on demand. The request's `model`
says how to behave: "slow" answers after `slow_s`; "reject" answers HTTP 400 quoting the Authorization
header it received (as careless servers do, so the test can check chorus redacts it); "down" answers 503.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class UpstreamStandIn:
    def __init__(self, slow_s: float = 1.5) -> None:
        self.slow_s = slow_s
        self.calls = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> UpstreamStandIn:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:
                return

            def _send(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": []})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                outer.calls += 1
                model = body.get("model")
                if model == "down":
                    self._send(503, {"error": {"message": "overloaded"}})
                    return
                if model == "reject":
                    auth = self.headers.get("Authorization", "")
                    self._send(400, {"error": {"message": f"invalid credentials {auth}"}})
                    return
                if model == "slow":
                    time.sleep(outer.slow_s)
                text = "The answer is \\boxed{7}."
                self._send(
                    200,
                    {
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 7},
                    },
                )

        return Handler
