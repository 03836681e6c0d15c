"""Repositories: what has been ingested, their files, and their dependency graphs with cycles."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from app.api.deps import MetadataDep, RepositoryDep
from app.api.errors import error_responses
from app.api.schemas import (
    EdgePublic,
    FilePublic,
    RepositoryFiles,
    RepositoryGraphPublic,
    RepositoryList,
    RepositoryPublic,
)
from app.graphview.cycles import dependency_cycles
from app.graphview.dot import render_dot
from app.stores.metadata import RepositorySummary

router = APIRouter(prefix="/repos", tags=["repositories"])


@router.get("", response_model=RepositoryList, responses=error_responses(503))
def read_repositories(metadata: MetadataDep) -> RepositoryList:
    """Every ingested repository with its last commit, last ingest and counts."""
    return RepositoryList(repositories=[_public(summary) for summary in metadata.list_repositories()])


@router.get("/files", response_model=RepositoryFiles, responses=error_responses(400, 404, 503))
def read_repository_files(metadata: MetadataDep, repo: RepositoryDep) -> RepositoryFiles:
    """The repository's source files with language, size and parse status."""
    files = metadata.list_files(repo.repo_url)
    return RepositoryFiles(
        repo_url=repo.repo_url,
        files=[
            FilePublic(path=f.path, language=f.language, size=f.size, parse_status=f.parse_status)
            for f in files
        ],
    )


@router.get(
    "/graph",
    response_model=RepositoryGraphPublic,
    responses=error_responses(400, 404, 503)
    | {200: {"content": {"text/vnd.graphviz": {}}, "description": "JSON, or DOT with format=dot"}},
)
def read_repository_graph(
    metadata: MetadataDep, repo: RepositoryDep, format: Literal["json", "dot"] = "json"
) -> RepositoryGraphPublic | PlainTextResponse:
    """The file dependency graph, with its import cycles (strongly connected components)."""
    graph = metadata.get_graph(repo.repo_url)
    files = [f.path for f in graph.files]
    if format == "dot":
        edges = [(e.src, e.dst, e.type_only) for e in graph.edges]
        return PlainTextResponse(render_dot(files, edges, name=repo.repo_url), media_type="text/vnd.graphviz")
    return RepositoryGraphPublic(
        repository=_public(graph.repository),
        files=files,
        edges=[EdgePublic(src=e.src, dst=e.dst, kind=e.kind, type_only=e.type_only) for e in graph.edges],
        cycles=dependency_cycles(files, ((e.src, e.dst) for e in graph.edges)),
    )


def _public(summary: RepositorySummary) -> RepositoryPublic:
    return RepositoryPublic(
        repo_url=summary.url,
        last_commit=summary.last_commit,
        last_ingested_at=summary.last_ingested_at,
        file_count=summary.file_count,
        edge_count=summary.edge_count,
    )
