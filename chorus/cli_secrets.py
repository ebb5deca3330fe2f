"""Secrets given on the command line never become flow parameters (Prefect stores those in plain text).

`--db postgresql+psycopg://user:PASSWORD@host/db` is rewritten to the redacted URL before the command
runs; the full URL travels in this process's environment ($CHORUS_DATABASE_URL) and the engine puts
the password back (`storage.settings.reveal_password`).
"""

from __future__ import annotations

from storage.settings import hide_password


def without_db_password(argv: list[str]) -> list[str]:
    """`argv` with the password of every `--db URL` / `--db=URL` moved to the environment."""
    out: list[str] = []
    after_db = False
    for arg in argv:
        if after_db:
            out.append(hide_password(arg))
            after_db = False
        elif arg.startswith("--db="):
            out.append("--db=" + hide_password(arg.removeprefix("--db=")))
        else:
            out.append(arg)
            after_db = arg == "--db"
    return out
