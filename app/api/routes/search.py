"""Search: the files most like a given file, ranked by `app.search` with the evidence of each hit."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from app.api.deps import RepositoryDep, ServicesDep
from app.api.errors import error_responses
from app.api.schemas import EvidencePublic, SimilarFilePublic, SimilarFiles
from app.errors import InvalidOption
from app.search.similar import similar_files

router = APIRouter(prefix="/search", tags=["search"])

CROSS_REPOSITORY_REFUSED = (
    "scope=all is refused: each repository's vectors come from a model trained on that repository alone, "
    "so their spaces are unrelated and a cosine across repositories measures nothing; search one "
    "repository (scope=repository)"
)


@router.get("/similar", response_model=SimilarFiles, responses=error_responses(400, 404, 503))
def read_similar_files(
    services: ServicesDep,
    repo: RepositoryDep,
    path: Annotated[str, Query(description="Repository-relative POSIX path of the file")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    scope: Annotated[
        Literal["repository", "all"], Query(description="only `repository`; `all` is refused with 400")
    ] = "repository",
) -> SimilarFiles:
    """The k files most like `path`: Node2Vec cosine, import neighbours, co-changes and folders blended."""
    if scope == "all":
        raise InvalidOption(CROSS_REPOSITORY_REFUSED)
    stored = services.similar.load(repo.repo_url)
    hits = similar_files(stored.index, [path], k)[path]
    return SimilarFiles(
        repo_url=repo.repo_url,
        path=path,
        scope=scope,
        results=[
            SimilarFilePublic(
                repo_url=repo.repo_url,
                path=hit.path,
                language=stored.languages.get(hit.path, ""),
                score=hit.score,
                evidence=EvidencePublic.model_validate(hit.evidence.as_dict()),
            )
            for hit in hits
        ],
    )
