"""User-facing errors: library code raises these, only the CLIs turn them into exit code 2."""

from __future__ import annotations

from collections.abc import Iterable


class TempdraftError(ValueError):
    """A mistake in what the user asked for (recipe, dataset id, model id). No traceback is shown."""


class RecipeError(TempdraftError):
    """Every problem found in a recipe, each with the dotted path of the field it concerns."""

    def __init__(self, problems: Iterable[tuple[str, str]], origin: str = "recipe"):
        self.problems = sorted(set(problems))
        self.origin = origin
        lines = [f"{origin}: {len(self.problems)} problem(s)"]
        lines += [f"  - {path or '<root>'}: {message}" for path, message in self.problems]
        super().__init__("\n".join(lines))
