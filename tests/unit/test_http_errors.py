"""Which upstream failures are retried: only connection errors, timeouts, 408/429/5xx. A server that
answers the wrong thing (not JSON, a list, the wrong number of choices) fails at once, with the reason;
a key echoed in an error body never reaches a message."""

from __future__ import annotations

import asyncio
import json

import pytest

from storage.errors import BadRequestError, TransientError
from tasks.backends.base import GenerationRequest, Prompt, SamplingParams
from tasks.backends.openai_compat import OpenAIBackend
from tasks.backends.sglang import SGLangBackend
from tests.fixtures.canned_server import ECHO_AUTH, CannedServer

CHOICE = {"message": {"content": "5"}, "finish_reason": "stop"}
OK_TWO = json.dumps({"choices": [{**CHOICE, "index": 0}, {**CHOICE, "index": 1}], "usage": {"completion_tokens": 2}})


def two_samples() -> GenerationRequest:
    return GenerationRequest("p", Prompt(messages=(("user", "2+3?"),)), SamplingParams(max_tokens=4), (0, 1), (7, 8))


def generate(backend_kind: str, url: str, *, key_env: str | None = None) -> list:
    async def run() -> list:
        if backend_kind == "openai":
            backend = OpenAIBackend("m", endpoints=[url], model="m", api_key_env=key_env, timeout_s=5)
        elif backend_kind == "sglang-chat":
            backend = SGLangBackend("m", endpoints=[url], model="m", chat=True, timeout_s=5)
        else:
            backend = SGLangBackend("m", endpoints=[url], model="m", chat=False, timeout_s=5)
        try:
            return await backend.generate(two_samples())
        finally:
            await backend.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("kind", ["openai", "sglang-chat", "sglang-native"])
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("<html>502 bad gateway page served as 200</html>", "not JSON"),
        ("", "not JSON"),
        ("[1, 2]", "got 2|list|malformed"),
        ('{"choices": [' + json.dumps(CHOICE) + "]}", "asked for 2"),
        ('{"choices": "none"}', "malformed|asked for 2"),
        ('{"unexpected": true}', "malformed|asked for 2"),
        ("[]", "got 0|list|malformed"),
    ],
)
def test_a_wrong_200_fails_at_once_with_the_reason(kind: str, body: str, reason: str) -> None:
    with CannedServer([(200, body)]) as server:
        with pytest.raises(BadRequestError, match=reason) as info:
            generate(kind, server.url)
        assert server.requests == 1, "a non-transient answer was retried"
    assert not isinstance(info.value, TransientError)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_then_succeed(status: int) -> None:
    with CannedServer([(status, '{"error": "busy"}'), (200, OK_TWO)]) as server:
        out = generate("openai", server.url)
        assert server.requests == 2
    assert [c.text for c in out] == ["5", "5"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    with CannedServer([(status, '{"error": "no"}')]) as server:
        with pytest.raises(BadRequestError, match=f"HTTP {status}"):
            generate("openai", server.url)
        assert server.requests == 1


def test_persistent_503_gives_up_as_transient() -> None:
    with CannedServer([(503, "overloaded")]) as server:
        with pytest.raises(TransientError, match="HTTP 503"):
            generate("openai", server.url)
        assert server.requests == 4  # with_retries' attempts


@pytest.mark.parametrize("status", [200, 401, 503])
def test_an_echoed_api_key_is_redacted_from_the_message(status: int, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-test-0123456789abcdef"
    monkeypatch.setenv("CHORUS_TEST_KEY", key)
    body = f'{{"error": "invalid header: {ECHO_AUTH}"}}'
    if status == 200:
        body = f"<p>proxy says: {ECHO_AUTH}</p>"  # not JSON: the snippet in the message is redacted too
    with CannedServer([(status, body)]) as server, pytest.raises((BadRequestError, TransientError)) as info:
        generate("openai", server.url, key_env="CHORUS_TEST_KEY")
    message = str(info.value)
    assert "***" in message, message  # the server did echo it, and the echo was replaced
    assert key not in message and key[:12] not in message, message
