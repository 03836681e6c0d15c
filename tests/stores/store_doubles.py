"""Test doubles for the store tests: each wraps a real local-mode client and changes one thing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx
from qdrant_client import QdrantClient
from qdrant_client.http.exceptions import ResponseHandlingException


class SleepRecorder:
    """Stands in for time.sleep: remembers the waits instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class WatchedClient:
    """A real client that calls `before_delete` before each delete request."""

    def __init__(self, client: QdrantClient, before_delete: Callable[[], None]) -> None:
        self._client = client
        self._before_delete = before_delete

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        self._before_delete()
        return self._client.delete(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def connection_refused() -> ResponseHandlingException:
    return ResponseHandlingException(httpx.ConnectError("[Errno 111] Connection refused"))


class FailingUpserts:
    """A real client whose upserts fail with `errors`, one per call, before they reach it."""

    def __init__(self, client: QdrantClient, errors: Sequence[Exception]) -> None:
        self._client = client
        self._errors = list(errors)
        self.upsert_calls = 0

    def upsert(self, *args: Any, **kwargs: Any) -> Any:
        self.upsert_calls += 1
        if self._errors:
            raise self._errors.pop(0)
        return self._client.upsert(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
