"""`python -m evaluate ...`: see evaluate/cli.py."""

from evaluate.cli import main

if __name__ == "__main__":  # vLLM's spawned workers re-import this module; only the parent runs main
    raise SystemExit(main())
