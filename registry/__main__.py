"""`python -m registry ...` (see registry/cli.py)."""

import sys

from registry.cli import main

sys.exit(main())
