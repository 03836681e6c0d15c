"""Structural embeddings in Qdrant: one point per file, keyed by repository and path.

The collection `code_structure_embeddings` holds 64-d Node2Vec vectors compared by cosine. A point's id is
a uuid5 of (repository URL, file path): ingesting a repository again overwrites its points instead of adding
new ones, and two repositories never share an id.

`app.stores.vector_access` opens a store on a Qdrant server or on local mode in a folder on disk.

Errors: reads raise `VectorStoreUnavailable` at once when Qdrant does not answer (the API turns it into 503);
writes try each request `upload_attempts` times, 2^attempt seconds apart, then raise `UploadError`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from app.config import default
from app.errors import ConfigError, UnknownFile, UploadError, VectorStoreUnavailable, map_exceptions
from app.stores.qdrant import (
    SERVICE_ERRORS,
    commit_local_storage_without_fsync,
    is_local,
    is_transient,
    location,
    log_retry,
    reason,
)

logger = logging.getLogger(__name__)

COLLECTION_NAME = "code_structure_embeddings"
VECTOR_SIZE = 64
DISTANCE = models.Distance.COSINE
MAX_SIMILAR = 100
UPLOAD_ATTEMPTS = 3
DEFAULT_BATCH_SIZE: int = default("vector_batch_size")
DEFAULT_TIMEOUT_SECONDS: int = default("qdrant_timeout_seconds")

_SCROLL_PAGE = 1_000
# Local mode filters by scanning every point's payload for each page it returns, so reading a repository's
# point ids or vectors in pages of 1,000 cost O(points² / 1,000) (23 s at 51,000 points); its points are in
# memory anyway, so one page holds them all.
_LOCAL_SCROLL_PAGE = 10_000_000

T = TypeVar("T")


@dataclass(frozen=True)
class FileVector:
    """One file's embedding as the training stage hands it over; `path` is repo-relative POSIX."""

    path: str
    language: str
    vector: Sequence[float]


@dataclass(frozen=True)
class SimilarFile:
    repo_url: str
    path: str
    language: str
    score: float


@dataclass(frozen=True)
class RepositoryUpload:
    """What `replace_repository` wrote: points upserted and stale points deleted."""

    upserted: int
    deleted: int


def point_id(repo_url: str, path: str) -> str:
    """The id of a file's point: the same file of the same repository always maps to the same id."""
    return str(uuid.uuid5(uuid.uuid5(uuid.NAMESPACE_URL, repo_url), path))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class VectorStore:
    """Writes and searches file embeddings in the `code_structure_embeddings` collection.

    The collection is created (or checked) on first use, or at start-up through `ensure_collection()`.

    Args:
        client: a QdrantClient for a server or for local mode; `close()` closes it.
        batch_size: points per upsert request.
        upload_attempts: tries per write request before `UploadError`.
        sleep: waits between tries (tests pass a recorder instead of time.sleep).
        clock: the time written into each point's `ingested_at`.
    """

    def __init__(
        self,
        client: QdrantClient,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        upload_attempts: int = UPLOAD_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if batch_size < 1 or upload_attempts < 1:
            raise ValueError("batch_size and upload_attempts must be at least 1")
        self._client = client
        self._batch_size = batch_size
        self._attempts = upload_attempts
        self._sleep = sleep
        self._clock = clock
        self._local = is_local(client)
        self._where = location(client)
        # Local mode keeps the collection in plain Python and numpy structures: one call at a time.
        self._serial: AbstractContextManager[object] = threading.RLock() if self._local else nullcontext()
        self._scroll_page = _LOCAL_SCROLL_PAGE if self._local else _SCROLL_PAGE
        self._ready = False
        self._ready_lock = threading.Lock()

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client; in local mode this releases the storage folder for other processes."""
        with self._serial:
            self._client.close()

    def ensure_collection(self) -> None:
        """Create the collection when missing; refuse one built for another vector size or distance.

        Raises `VectorStoreUnavailable` when Qdrant does not answer, `ConfigError` on a mismatch.
        """
        with self._unavailable_on_error("preparing the collection"):
            self._prepare()

    def upsert_files(self, repo_url: str, commit: str, files: Sequence[FileVector]) -> int:
        """Write one point per file (overwriting that file's previous point); returns the number written."""
        points = self._points(repo_url, commit, files)
        self._upload_step("preparing the collection", self._prepare_once)
        for start in range(0, len(points), self._batch_size):
            batch = points[start : start + self._batch_size]
            self._upload_step(
                f"upserting {len(batch)} points of {repo_url}",
                self._locked(self._client.upsert, COLLECTION_NAME, points=batch, wait=True),
            )
        return len(points)

    def replace_repository(self, repo_url: str, commit: str, files: Sequence[FileVector]) -> RepositoryUpload:
        """Store a repository's new vectors, then delete the points of files it no longer has.

        Every new point is written before any old one is deleted, so a search sees the old or the new
        version of each file and never a repository without vectors.
        """
        upserted = self.upsert_files(repo_url, commit, files)
        keep = {point_id(repo_url, file.path) for file in files}
        stale = [pid for pid in self._repository_point_ids(repo_url) if pid not in keep]
        for start in range(0, len(stale), self._batch_size):
            batch = stale[start : start + self._batch_size]
            selector = models.PointIdsList(points=list(batch))
            self._upload_step(
                f"deleting {len(batch)} stale points of {repo_url}",
                self._locked(self._client.delete, COLLECTION_NAME, points_selector=selector, wait=True),
            )
        return RepositoryUpload(upserted=upserted, deleted=len(stale))

    def delete_repository(self, repo_url: str) -> int:
        """Delete every point of the repository; returns how many there were."""
        self._ensure_ready()
        count = self.count_files(repo_url)
        selector = models.FilterSelector(filter=models.Filter(must=[_repo_condition(repo_url)]))
        with self._unavailable_on_error(f"deleting the points of {repo_url}"), self._serial:
            self._client.delete(COLLECTION_NAME, points_selector=selector, wait=True)
        return count

    def similar_files(
        self, repo_url: str, path: str, k: int = 10, *, all_repositories: bool = False
    ) -> list[SimilarFile]:
        """The k files nearest to `path` by cosine, best first, never the file itself.

        Only files of the same repository unless `all_repositories`; `UnknownFile` when the file has
        no vector.
        """
        if not 1 <= k <= MAX_SIMILAR:
            raise ValueError(f"k must be between 1 and {MAX_SIMILAR}, got {k}")
        self._ensure_ready()
        own_id = point_id(repo_url, path)
        query_filter = models.Filter(
            must=[] if all_repositories else [_repo_condition(repo_url)],
            must_not=[models.HasIdCondition(has_id=[own_id])],
        )
        with self._unavailable_on_error("searching similar files"), self._serial:
            found = self._client.retrieve(COLLECTION_NAME, [own_id], with_vectors=True, with_payload=False)
            if not found:
                raise UnknownFile(f"No vector stored for {path!r} of {repo_url}")
            response = self._client.query_points(
                COLLECTION_NAME, query=found[0].vector, query_filter=query_filter, limit=k, with_payload=True
            )
        return [_similar_file(point) for point in response.points]

    def repository_vectors(self, repo_url: str) -> dict[str, list[float]]:
        """Every stored vector of one repository, by file path (what the similar-file ranking reads)."""
        self._ensure_ready()
        found: dict[str, list[float]] = {}
        offset: models.ExtendedPointId | None = None
        with self._unavailable_on_error("reading the vectors of a repository"), self._serial:
            while True:
                records, offset = self._client.scroll(
                    COLLECTION_NAME, scroll_filter=models.Filter(must=[_repo_condition(repo_url)]),
                    limit=self._scroll_page, offset=offset, with_payload=["file_path"], with_vectors=True,
                )  # fmt: skip
                found.update({str((r.payload or {}).get("file_path")): list(r.vector) for r in records})  # type: ignore[arg-type]
                if offset is None:
                    return found

    def ping(self) -> None:
        """One round trip to Qdrant (or the local folder); raises VectorStoreUnavailable."""
        with self._unavailable_on_error("answering"), self._serial:
            self._client.collection_exists(COLLECTION_NAME)

    def count_files(self, repo_url: str) -> int:
        """Number of points stored for one repository."""
        self._ensure_ready()
        with self._unavailable_on_error("counting points"), self._serial:
            result = self._client.count(
                COLLECTION_NAME, count_filter=models.Filter(must=[_repo_condition(repo_url)]), exact=True
            )
        return result.count

    def counts_by_repository(self, max_repositories: int = 10_000) -> dict[str, int]:
        """Number of points per repository URL, for every repository in the collection."""
        self._ensure_ready()
        with self._unavailable_on_error("counting points per repository"), self._serial:
            facets = self._client.facet(COLLECTION_NAME, key="repo_url", limit=max_repositories, exact=True)
        return {str(hit.value): hit.count for hit in facets.hits}

    def _ensure_ready(self) -> None:
        with self._unavailable_on_error("preparing the collection"):
            self._prepare_once()

    def _prepare_once(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if not self._ready:
                self._prepare()

    def _prepare(self) -> None:
        with self._serial:
            if not self._client.collection_exists(COLLECTION_NAME):
                self._create_collection()
            info = self._client.get_collection(COLLECTION_NAME)
            _check_vector_params(info.config.params.vectors)
            if self._local:
                commit_local_storage_without_fsync(self._client)
            # Local mode has no payload indexes (it scans); a server needs one for filters and facets.
            elif "repo_url" not in info.payload_schema:
                self._client.create_payload_index(
                    COLLECTION_NAME, "repo_url", models.PayloadSchemaType.KEYWORD, wait=True
                )
        self._ready = True

    def _create_collection(self) -> None:
        try:
            self._client.create_collection(
                COLLECTION_NAME, vectors_config=models.VectorParams(size=VECTOR_SIZE, distance=DISTANCE)
            )
        except UnexpectedResponse as exc:
            # 409: another process created it between our check and our request; it is checked next.
            if exc.status_code != 409:
                raise

    def _points(self, repo_url: str, commit: str, files: Sequence[FileVector]) -> list[models.PointStruct]:
        ingested_at = self._clock().isoformat()
        paths = [file.path for file in files]
        if len(set(paths)) != len(paths):
            raise ValueError(f"Duplicate file paths in the vectors of {repo_url}")
        return [
            models.PointStruct(
                id=point_id(repo_url, file.path),
                vector=_checked_vector(file),
                payload={
                    "file_path": file.path,
                    "repo_url": repo_url,
                    "language": file.language,
                    "commit": commit,
                    "embedding_type": "structural",
                    "model": "node2vec",
                    "ingested_at": ingested_at,
                },
            )
            for file in files
        ]

    def _repository_point_ids(self, repo_url: str) -> list[str]:
        scroll_filter = models.Filter(must=[_repo_condition(repo_url)])
        ids: list[str] = []
        offset: models.ExtendedPointId | None = None
        while True:
            request = self._locked(
                self._client.scroll,
                COLLECTION_NAME,
                scroll_filter=scroll_filter,
                limit=self._scroll_page,
                offset=offset,
                with_payload=False,
                with_vectors=False,
            )
            records, offset = self._upload_step(f"listing the points of {repo_url}", request)
            ids.extend(str(uuid.UUID(str(record.id))) for record in records)
            if offset is None:
                return ids

    def _upload_step(self, action: str, request: Callable[[], T]) -> T:
        """Run one write-side request, retrying transient failures; `UploadError` when they persist."""
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=2),  # 2, 4, 8 … seconds: 2^attempt
            retry=retry_if_exception(is_transient),
            sleep=self._sleep,
            before_sleep=partial(log_retry, action),
            reraise=True,
        )
        try:
            return retrying(request)
        except SERVICE_ERRORS as exc:
            transient = is_transient(exc)
            tries = f"after {self._attempts} attempts" if transient else "(not retried)"
            raise UploadError(
                f"Qdrant {self._where} failed {action} {tries}: {reason(exc)}", transient=transient
            ) from exc

    def _locked(self, method: Callable[..., T], /, *args: Any, **kwargs: Any) -> Callable[[], T]:
        """A request that calls `method` while holding the local-mode lock."""

        def request() -> T:
            with self._serial:
                return method(*args, **kwargs)

        return request

    def _unavailable_on_error(self, action: str) -> AbstractContextManager[None]:
        where = self._where
        return map_exceptions(
            {
                SERVICE_ERRORS: lambda exc: VectorStoreUnavailable(
                    f"Qdrant {where} failed {action}: {reason(exc)}"
                )
            }
        )


def _check_vector_params(vectors: object) -> None:
    if isinstance(vectors, models.VectorParams):
        if vectors.size == VECTOR_SIZE and vectors.distance == DISTANCE:
            return
        found = f"{vectors.size}-d {vectors.distance.value}"
    else:
        found = "named"
    raise ConfigError(
        f"Qdrant collection {COLLECTION_NAME!r} holds {found} vectors; this code stores "
        f"{VECTOR_SIZE}-d {DISTANCE.value} vectors. Delete the collection or point QDRANT_URL elsewhere."
    )


def _checked_vector(file: FileVector) -> list[float]:
    vector = [float(value) for value in file.vector]
    if len(vector) != VECTOR_SIZE:
        raise ValueError(f"The vector of {file.path!r} has {len(vector)} dimensions, not {VECTOR_SIZE}")
    if not all(math.isfinite(value) for value in vector):
        raise ValueError(f"The vector of {file.path!r} holds NaN or infinite values")
    return vector


def _repo_condition(repo_url: str) -> models.FieldCondition:
    return models.FieldCondition(key="repo_url", match=models.MatchValue(value=repo_url))


def _similar_file(point: models.ScoredPoint) -> SimilarFile:
    payload = point.payload or {}
    return SimilarFile(
        repo_url=str(payload.get("repo_url", "")),
        path=str(payload.get("file_path", "")),
        language=str(payload.get("language", "")),
        score=float(point.score),
    )
