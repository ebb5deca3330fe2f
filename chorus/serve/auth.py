"""Bearer-key check: when `--api-key-env VAR` is given, every /v1 request needs `Authorization: Bearer
<$VAR>`. The key is read once from the environment, compared in constant time, never logged."""

from __future__ import annotations

import hmac

from chorus.serve.errors import ApiError


class BearerAuth:
    def __init__(self, key: str | None) -> None:
        self._key = key.encode() if key else None

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def check(self, header: str | None) -> None:
        if self._key is None:
            return
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "missing API key: send Authorization: Bearer <key>",
                type_="invalid_request_error",
                code="invalid_api_key",
            )
        if not hmac.compare_digest(token.strip().encode(), self._key):
            raise ApiError(401, "incorrect API key", type_="invalid_request_error", code="invalid_api_key")
