"""Similar files: the ranking that the API, the CLI and the dashboard serve.

history.py   co-change pairs from a clone's commits (computed at ingest, stored with the graph)
ranking.py   the blend of vector cosine, import neighbours, co-changes and folders, with evidence
similar.py   the ranking over what the ingest stored: the metadata database and Qdrant
"""
