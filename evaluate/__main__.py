"""`python -m evaluate run|validate|search|search-validate CONFIG [--set key=value ...]` (evaluate/cli.py).

    python -m evaluate validate evaluate.yaml    # exit 0, or every problem with its field path (exit 2)
    python -m evaluate run evaluate.yaml
"""

from evaluate.cli import main

if __name__ == "__main__":  # vLLM's spawned workers re-import this module; only the parent runs main
    raise SystemExit(main())
