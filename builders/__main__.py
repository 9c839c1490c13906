"""`python -m builders validate|run RECIPE.yaml [--set key=value ...]` (see builders/cli.py).

    python -m builders validate recipes/mix_high_temp.yaml     # exit 0, or every problem (exit 2)
    python -m builders run recipes/mix_high_temp.yaml [--dry-run]
"""

import sys

from builders.cli import main

if __name__ == "__main__":  # guard: vLLM spawns worker processes that re-import __main__
    sys.exit(main())
