"""`python -m registry VERB [REF ...]`: list, show, diff, verify, push, pull, path (see registry/cli.py).

    python -m registry show toy@v2
    python -m registry verify toy@v2      # exit 0, or every shard that does not match (exit 2)
"""

import sys

from registry.cli import main

sys.exit(main())
