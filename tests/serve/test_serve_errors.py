"""Every error path of `chorus serve`: bad requests (400), unknown models (404), auth (401), the
in-flight bound (429 + Retry-After), upstream failures (502/503, key redacted), and bad CLI input."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import httpx
import openai
import pytest

from tasks.backends.local_server import free_port
from tests.serve.conftest import Served, launch, replay_config, serve_command, serve_env, stop
from tests.serve.upstream import UpstreamStandIn

USER = [{"role": "user", "content": "7"}]


def _error(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body["error"]) >= {"message", "type", "code"}
    return body["error"]


@pytest.mark.parametrize(
    ("model", "kwargs", "needle"),
    [
        ("bo-inf/math", {"n": 2}, "n=2"),
        ("bo-inf/math", {"logprobs": True}, "logprobs"),
        ("math", {"presence_penalty": 0.5}, "presence_penalty"),
        ("math", {"temperature": 9}, "temperature"),
        ("math", {"max_tokens": 0}, "max_tokens"),
        ("bo-inf/math", {"extra_body": {"chorus": {"threshold": -1}}}, "chorus.threshold"),
        ("bo-inf/math", {"extra_body": {"chorus": {"votes": 3}}}, "chorus.votes"),
        ("vote-4/math", {"extra_body": {"chorus": {"rule": "bayes"}}}, "fixed majority"),
        ("vote-0/math", {}, "count"),
        ("fusion-5/math+judge=math", {}, "unknown option"),
    ],
)
def test_bad_requests_are_400_naming_the_parameter(replay_server: Served, model, kwargs, needle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(openai.BadRequestError) as info:
        replay_server.client().chat.completions.create(model=model, messages=USER, **kwargs)
    assert needle in _error(info.value)["message"]


def test_unknown_models_and_routes_are_404(replay_server: Served) -> None:
    client = replay_server.client()
    for model in ("nosuch", "bo-inf/nosuch", "ensemble/nosuch", "magic-3/math", "fusion-3/math+fusor=nosuch"):
        with pytest.raises(openai.NotFoundError) as info:
            client.chat.completions.create(model=model, messages=USER)
        assert _error(info.value)["code"] == "model_not_found"
    r = httpx.get(replay_server.url + "/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["type"] == "invalid_request_error"


def test_malformed_bodies_are_400(replay_server: Served) -> None:
    url = replay_server.url + "/chat/completions"
    assert httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}).status_code == 400
    r = httpx.post(url, json={"model": "math", "messages": []})
    assert r.status_code == 400 and "messages" in r.json()["error"]["message"]
    r = httpx.post(url, json={"model": "math", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]})
    assert r.status_code == 400


def test_auth(tmp_path: Path) -> None:
    served = launch(
        tmp_path / "home",
        "--config",
        str(replay_config(tmp_path)),
        "--api-key-env",
        "SERVE_KEY",
        env={"SERVE_KEY": "s3cret-key"},
    )
    try:
        with pytest.raises(openai.AuthenticationError):
            served.client("wrong").chat.completions.create(model="math", messages=USER)
        r = httpx.post(served.url + "/chat/completions", json={"model": "math", "messages": USER})
        assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            served.client("wrong").models.list()
        ok = served.client("s3cret-key").chat.completions.create(model="math", messages=USER)
        assert ok.choices[0].message.content
        assert httpx.get(served.url.removesuffix("/v1") + "/health").status_code == 200
    finally:
        stop(served.proc)
    log = served.proc.stderr.read().decode() if served.proc.stderr else ""
    assert "s3cret-key" not in log


def _upstream_config(folder: Path, upstream: str) -> Path:
    extra = "".join(
        f'\n[models.{name}]\nbackend = "openai"\nendpoints = ["{upstream}"]\nmodel = "{name}"\n'
        f'api_key_env = "UPSTREAM_KEY"\nsupports_n = false\n'
        for name in ("slow", "reject", "down")
    )
    return replay_config(folder, extra)


def test_in_flight_bound_and_upstream_failures(tmp_path: Path) -> None:
    with UpstreamStandIn(slow_s=2.0) as upstream:
        served = launch(
            tmp_path / "home",
            "--config",
            str(_upstream_config(tmp_path, upstream.url)),
            "--max-in-flight",
            "1",
            env={"UPSTREAM_KEY": "sk-upstream-XYZ"},
        )
        try:
            url = served.url + "/chat/completions"
            first: list[httpx.Response] = []
            slow = threading.Thread(
                target=lambda: first.append(httpx.post(url, json={"model": "slow", "messages": USER}, timeout=30))
            )
            slow.start()
            while upstream.calls == 0:  # the slow request now holds the only slot
                threading.Event().wait(0.05)
            refused = httpx.post(url, json={"model": "math", "messages": USER})
            slow.join()
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert refused.json()["error"]["type"] == "rate_limit_error"
            assert first[0].status_code == 200  # the request in flight was answered

            rejected = httpx.post(url, json={"model": "reject", "messages": USER})
            assert rejected.status_code == 502
            message = rejected.json()["error"]["message"]
            assert "invalid credentials" in message and "sk-upstream-XYZ" not in message and "***" in message

            down = httpx.post(url, json={"model": "down", "messages": USER}, timeout=60)
            assert down.status_code == 503 and "HTTP 503" in down.json()["error"]["message"]
            assert down.headers["retry-after"]
            assert upstream.calls >= 1 + 1 + 4  # slow, reject (no retry), down retried 4 times
        finally:
            stop(served.proc)


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        (["--api-key-env", "CHORUS_TEST_UNSET_KEY"], {}, "--api-key-env CHORUS_TEST_UNSET_KEY"),
        (["--model", "nosuch"], {}, "--model nosuch"),
        (["--max-in-flight", "0"], {}, "--max-in-flight"),
        (["--db", "nosuchdialect://x"], {}, "nosuchdialect"),
    ],
)
def test_bad_cli_input_is_one_line_and_creates_nothing(tmp_path: Path, args, env, needle) -> None:  # type: ignore[no-untyped-def]
    config = replay_config(tmp_path)
    home = tmp_path / "home"
    proc = subprocess.run(
        serve_command(free_port(), "--config", str(config), *args),
        env=serve_env(home, **env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert not home.exists()


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run(
            serve_command(port, "--config", str(replay_config(tmp_path))),
            env=serve_env(tmp_path / "home"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode != 0 and len(proc.stderr.strip().splitlines()) == 1 and f"{port}" in proc.stderr
