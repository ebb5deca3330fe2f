"""A tiny OpenAI-compatible upstream for error paths that the replay stand-in cannot produce.

Named as a stand-in: it exists to be slow, to reject, or to be down on demand. The request's `model`
says how to behave: "slow" answers after `slow_s`; "reject" answers HTTP 400 quoting the Authorization
header it received (as careless servers do, so the test can check chorus redacts it); "down" answers 503.
"""

from __future__ import annotations

import time

from tests.fixtures.stub_http import StubRequest, StubServer


class UpstreamStandIn(StubServer):
    def __init__(self, slow_s: float = 1.5) -> None:
        super().__init__()
        self.slow_s = slow_s
        self.calls = 0

    def on_get(self, request: StubRequest) -> None:
        request.send_json(200, {"object": "list", "data": []})

    def on_post(self, request: StubRequest) -> None:
        model = request.json_body().get("model")
        self.calls += 1
        if model == "down":
            request.send_json(503, {"error": {"message": "overloaded"}})
            return
        if model == "reject":
            auth = request.headers.get("Authorization", "")
            request.send_json(400, {"error": {"message": f"invalid credentials {auth}"}})
            return
        if model == "slow":
            time.sleep(self.slow_s)
        text = "The answer is \\boxed{7}."
        request.send_json(
            200,
            {
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 7},
            },
        )
