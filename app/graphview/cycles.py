"""Import cycles: the strongly connected components of a dependency graph with more than one file
(or a file that imports itself)."""

from __future__ import annotations

from collections.abc import Iterable


def dependency_cycles(files: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """Each cycle's files sorted; cycles largest first, then by their first file."""
    # Imported at the first graph view: networkx would otherwise be ~11 MB of every API process's memory.
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    graph.add_edges_from(edges)
    cycles = [
        sorted(component)
        for component in nx.strongly_connected_components(graph)
        if len(component) > 1 or graph.has_edge(next(iter(component)), next(iter(component)))
    ]
    return sorted(cycles, key=lambda cycle: (-len(cycle), cycle[0]))
