"""Names shared across packages, each in one place: the dataset-name rule (the recipe schema's `name` and
the registry, `registry/store.py`, both check names with `dataset_name_problem`) and the draft card's file
name (written by distill/card.py, read by evaluate/). No heavy imports, so any side can import it."""

from __future__ import annotations

import re

DRAFT_CARD_FILE = "tempdraft-draft.json"  # beside a draft's weights: its lineage, read by `evaluate`

DATASET_NAME_MAX = 96
DATASET_NAME_RE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9._-]{{0,{DATASET_NAME_MAX - 1}}}$")
DATASET_NAME_RULE = (
    f"letters, digits, '.', '_' or '-' (no '/' or '@'), starting with a letter or digit, "
    f"at most {DATASET_NAME_MAX} characters"
)


def dataset_name_problem(name: object) -> str | None:
    """None when `name` is a valid dataset name, else what is wrong with it."""
    if isinstance(name, str) and DATASET_NAME_RE.match(name):
        return None
    shown = (
        repr(name)
        if not isinstance(name, str) or len(name) <= 40
        else f"{name[:40]!r}... ({len(name)} chars)"
    )
    return f"{shown} is not a valid dataset name: use {DATASET_NAME_RULE}"
