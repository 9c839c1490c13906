"""Recipe search: the pool mixture, trained draft and k that maximize predicted speedup at a serving
temperature. Entry point: `python -m evaluate search SEARCH.yaml` (evaluate/search/cli.py)."""
