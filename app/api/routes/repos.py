"""Repositories: what has been ingested, their files, and their dependency graphs with cycles."""

from __future__ import annotations

import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from app.api.deps import AdminDep, ControlDep, MetadataDep, RepositoryDep, VectorsDep
from app.api.errors import error_responses
from app.api.schemas import (
    EdgePublic,
    FilePublic,
    GraphEdgePublic,
    GraphNodePublic,
    RepositoryDeleted,
    RepositoryFiles,
    RepositoryGraphPublic,
    RepositoryList,
    RepositoryPublic,
)
from app.errors import RepositoryBusy, UnknownRepository
from app.graphview.dot import render_view_dot
from app.graphview.view import GraphView, ViewOptions, build_view
from app.stores.metadata import RepositoryGraph, RepositorySummary

log = logging.getLogger(__name__)

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


@router.delete(
    "",
    response_model=RepositoryDeleted,
    dependencies=[AdminDep],
    responses=error_responses(400, 401, 404, 409, 503),
)
def delete_repository(
    metadata: MetadataDep, vectors: VectorsDep, control: ControlDep, repo: RepositoryDep
) -> RepositoryDeleted:
    """Remove a repository's vectors, files, edges and row (its job history stays). 409 while one of its
    jobs waits or runs, since that job would write it all again."""
    busy = control.busy_with(repo.repo_url)
    if busy is not None:
        raise RepositoryBusy(f"job {busy} of {repo.repo_url} is waiting or running; cancel it or wait for it")
    with vectors.session() as store:
        deleted_vectors = store.delete_repository(repo.repo_url)
    try:
        summary = metadata.delete_repository(repo.repo_url)
    except UnknownRepository:
        if not deleted_vectors:
            raise
        summary = RepositorySummary(repo.repo_url, None, None, 0, 0)
    log.info(
        "Repository %s deleted: %d files, %d vectors", repo.repo_url, summary.file_count, deleted_vectors
    )
    return RepositoryDeleted(
        repo_url=repo.repo_url, files=summary.file_count, edges=summary.edge_count, vectors=deleted_vectors
    )


@router.get(
    "/graph",
    response_model=RepositoryGraphPublic,
    responses=error_responses(400, 404, 503)
    | {200: {"content": {"text/vnd.graphviz": {}}, "description": "JSON, or DOT with format=dot"}},
)
def read_repository_graph(
    metadata: MetadataDep,
    repo: RepositoryDep,
    format: Literal["json", "dot"] = "json",
    focus: Annotated[
        list[str] | None, Query(description="a file path (or a regular expression) to centre on; repeatable")
    ] = None,
    depth: Annotated[int, Query(ge=0, le=10, description="imports away from the focus to show")] = 1,
    collapse: Annotated[
        int | None, Query(ge=1, le=20, description="draw files deeper than this many folders as folders")
    ] = None,
    include: Annotated[
        list[str] | None, Query(description="regular expression: keep only matching paths")
    ] = None,
    exclude: Annotated[list[str] | None, Query(description="regular expression: drop matching paths")] = None,
) -> RepositoryGraphPublic | PlainTextResponse:
    """The file dependency graph with its import cycles; or a part of it: filtered, centred on a file
    (`focus`, `depth`) and with folders collapsed, as dependency-cruiser's options do."""
    graph = metadata.get_graph(repo.repo_url)
    options = ViewOptions(tuple(focus or ()), depth, collapse, tuple(include or ()), tuple(exclude or ()))
    view = build_view([f.path for f in graph.files], _edges(graph), options)
    if format == "dot":
        return PlainTextResponse(render_view_dot(view, name=repo.repo_url), media_type="text/vnd.graphviz")
    return _graph_public(graph, view)


def _edges(graph: RepositoryGraph) -> list[tuple[str, str, bool]]:
    return [(e.src, e.dst, e.type_only) for e in graph.edges]


def _graph_public(graph: RepositoryGraph, view: GraphView) -> RepositoryGraphPublic:
    shown = set(view.files)
    return RepositoryGraphPublic(
        repository=_public(graph.repository),
        files=view.files,
        edges=[
            EdgePublic(src=e.src, dst=e.dst, kind=e.kind, type_only=e.type_only)
            for e in graph.edges
            if e.src in shown and e.dst in shown
        ],
        cycles=view.cycles,
        nodes=[GraphNodePublic(**node.__dict__) for node in view.nodes],
        node_edges=[GraphEdgePublic(**edge.__dict__) for edge in view.edges],
        focus=view.focus,
        files_total=view.files_total,
    )


def _public(summary: RepositorySummary) -> RepositoryPublic:
    return RepositoryPublic(
        repo_url=summary.url,
        last_commit=summary.last_commit,
        last_ingested_at=summary.last_ingested_at,
        file_count=summary.file_count,
        edge_count=summary.edge_count,
    )
