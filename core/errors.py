"""User-facing errors: library code raises these, only the CLIs turn them into exit code 2 (core/cli.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable


def _shown(path: str) -> str:
    """A field path as printed: quoted when a key holds spaces or control characters (YAML allows them)."""
    if not path:
        return "<root>"
    return path if path.isprintable() and not any(c.isspace() for c in path) else json.dumps(path)


class TempdraftError(ValueError):
    """A mistake in what the user asked for (recipe, dataset id, model id). No traceback is shown."""


class ConfigError(TempdraftError):
    """Every problem found in a config file (distill, evaluate, search config; a checkpoint's recorded
    config), each with the dotted path of the field it concerns. `origin` names the file or flag."""

    def __init__(self, problems: Iterable[tuple[str, str]], origin: str = "config"):
        # One line per problem (library messages, e.g. YAML's or polars', may span several).
        self.problems = sorted({(path, " ".join(message.split())) for path, message in problems})
        self.origin = origin
        lines = [f"{origin}: {len(self.problems)} problem(s)"]
        lines += [f"  - {_shown(path)}: {message}" for path, message in self.problems]
        super().__init__("\n".join(lines))


class RecipeError(ConfigError):
    """Every problem found in a builder recipe (builders/recipe.py), its mixture or its prompt sources."""

    def __init__(self, problems: Iterable[tuple[str, str]], origin: str = "recipe"):
        super().__init__(problems, origin)
