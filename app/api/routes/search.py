"""Search: the files whose structural embeddings lie nearest to a given file's."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.api.deps import RepositoryDep, VectorsDep
from app.api.errors import error_responses
from app.api.schemas import SimilarFilePublic, SimilarFiles

router = APIRouter(prefix="/search", tags=["search"])


@router.get("/similar", response_model=SimilarFiles, responses=error_responses(400, 404, 503))
def read_similar_files(
    vectors: VectorsDep,
    repo: RepositoryDep,
    path: Annotated[str, Query(description="Repository-relative POSIX path of the file")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    scope: Annotated[
        Literal["repository", "all"], Query(description="search this repository or all")
    ] = "repository",
) -> SimilarFiles:
    """The k structurally nearest files (cosine similarity of their Node2Vec embeddings), best first."""
    with vectors.session() as store:
        hits = store.similar_files(repo.repo_url, path, k, all_repositories=scope == "all")
    return SimilarFiles(
        repo_url=repo.repo_url,
        path=path,
        scope=scope,
        results=[
            SimilarFilePublic(repo_url=h.repo_url, path=h.path, language=h.language, score=h.score)
            for h in hits
        ],
    )
