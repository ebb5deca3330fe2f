"""A database password moves from the command line to the environment; only the redacted URL remains."""

from __future__ import annotations

import pytest

from chorus.cli_secrets import without_db_password
from storage.errors import ChorusError
from storage.settings import database_url, has_password, reveal_password

URL = "postgresql+psycopg://ann:p@ss:w0rd@db.example:5432/chorus"
REDACTED = "postgresql+psycopg://ann:***@db.example:5432/chorus"


def test_argv_keeps_only_the_redacted_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHORUS_DATABASE_URL", "")  # restored after the test
    argv = ["sample", "--dataset", "d.jsonl", "--db", URL, "-n", "2"]
    assert without_db_password(argv) == ["sample", "--dataset", "d.jsonl", "--db", REDACTED, "-n", "2"]
    assert without_db_password([f"--db={URL}"]) == [f"--db={REDACTED}"]
    assert reveal_password(REDACTED) == URL  # the engine gets the password back from the environment


def test_urls_without_a_password_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHORUS_DATABASE_URL", "")  # restored after the test
    for url in ("sqlite:///x.db", "postgresql+psycopg://ann@db/chorus", "postgresql://db/chorus"):
        assert not has_password(url)
        assert without_db_password(["--db", url]) == ["--db", url]
        assert database_url(url) == reveal_password(url) == url


def test_database_url_never_returns_a_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHORUS_DATABASE_URL", URL)
    assert database_url(None) == REDACTED
    assert reveal_password(database_url(None)) == URL


def test_a_redacted_url_without_its_password_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHORUS_DATABASE_URL", "postgresql+psycopg://bob:x@other/chorus")
    with pytest.raises(ChorusError, match=r"ann:\*\*\*@.*CHORUS_DATABASE_URL"):
        reveal_password(REDACTED)
