import sys

from builders.cli import main

if __name__ == "__main__":  # guard: vLLM spawns worker processes that re-import __main__
    sys.exit(main())
