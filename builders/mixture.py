"""Compose a temperature-aware mixture from a sampled pool, without resampling the teacher.

Steps: filter rows -> de-duplicate -> size each component (exact `rows`, or a share of the mixture's
size by normalised weight, largest remainder; the size is `total_rows`, or `fraction` x the pool's
rows counted before filters, so known before sampling) -> draw each component from the temperatures
it selects, evenly per prompt source when asked, in a seeded order. Rows keep the pool's prompt-level split, so
no prompt is in both train and validation. Same pool + same recipe -> identical rows.
"""

from __future__ import annotations

import hashlib

import polars as pl

from builders.mixture_spec import Filters, MixtureSpec
from core.errors import RecipeError


def _largest_remainder(total: int, weights: list[float]) -> list[int]:
    shares = [total * w / sum(weights) for w in weights]
    counts = [int(s) for s in shares]
    for i in sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], i))[: total - sum(counts)]:
        counts[i] += 1
    return counts


def component_sizes(spec: MixtureSpec, pool_rows: int) -> tuple[list[int], list[tuple[str, str]]]:
    fixed = sum(c.rows or 0 for c in spec.components)
    weighted = [(i, c.weight) for i, c in enumerate(spec.components) if c.weight is not None]
    sizes = [c.rows or 0 for c in spec.components]
    problems: list[tuple[str, str]] = []
    total, field = spec.size(pool_rows)
    said = f"{total}" if spec.fraction is None else f"{spec.fraction} x {pool_rows} pool rows = {total}"
    if weighted:
        assert total is not None  # the schema requires a size with weights
        left = total - fixed
        if left <= 0:
            problems.append((field, f"{said} leaves no rows for the weighted components after {fixed} fixed "
                                    "rows"))
        else:
            for (i, _), n in zip(weighted, _largest_remainder(left, [w for _, w in weighted]), strict=True):
                sizes[i] = n
    elif total is not None and total != fixed:
        problems.append((field, f"{said} differs from the components' rows, which sum to {fixed}"))
    return sizes, problems


def filter_pool(rows: pl.DataFrame, spec: MixtureSpec) -> pl.DataFrame:
    f = spec.filters
    keep = pl.col("num_tokens") >= f.min_tokens
    if f.max_tokens is not None:
        keep &= pl.col("num_tokens") <= f.max_tokens
    if f.finish_reason is not None:
        keep &= pl.col("finish_reason").is_in(f.finish_reason)
    rows = rows.filter(keep).sort("request_id")
    if spec.dedup:  # identical responses to one prompt (common at low T) would overweight that prompt
        rows = rows.unique(subset=["prompt_id", "response"], keep="first", maintain_order=True)
    return rows


def _seeded_order(frame: pl.DataFrame, seed: int, salt: str) -> pl.DataFrame:
    keys = [hashlib.sha256(f"{seed}|{salt}|{rid}".encode()).hexdigest() for rid in frame["request_id"]]
    return frame.with_columns(pl.Series("_order", keys)).sort("_order").drop("_order")


def _draw(candidates: pl.DataFrame, n: int, seed: int, salt: str, balance: bool) -> pl.DataFrame:
    ordered = _seeded_order(candidates, seed, salt)
    if balance:  # round-robin over sources, each in seeded order: as even as the sources' sizes allow
        rank = pl.int_range(pl.len()).over("source")
        ordered = ordered.with_columns(rank.alias("_rank")).sort("_rank", "source", maintain_order=True).drop("_rank")
    if n <= ordered.height:
        return ordered.head(n)
    # Only reached with replacement (sizes were checked): cycle through the seeded order.
    return pl.concat([ordered] * -(-n // max(ordered.height, 1))).head(n)


def compose_mixture(rows: pl.DataFrame, spec: MixtureSpec, seed: int) -> pl.DataFrame:
    """Return the mixture rows (with a `mixture_component` column); raise RecipeError listing every
    component the pool cannot satisfy."""
    sizes, problems = component_sizes(spec, rows.height)
    pool = filter_pool(rows, spec)
    temperatures = sorted(set(rows["temperature"].to_list()))
    used: set[str] = set()
    parts = []
    for j, (comp, n) in enumerate(zip(spec.components, sizes, strict=True)):
        field = f"mixture.components.{j}"
        selected = [t for t in temperatures if comp.selects(t)]
        if not selected:
            problems.append((f"{field}.temperatures", f"selects no temperature of the pool {temperatures}"))
            continue
        # Components that overlap in temperature never share a row.
        candidates = pool.filter(pl.col("temperature").is_in(selected) & ~pl.col("request_id").is_in(list(used)))
        if n > candidates.height and not spec.replacement:
            problems.append((f"{field}.{'rows' if comp.rows else 'weight'}",
                             f"asks for {n} rows but the pool holds {candidates.height} at temperatures {selected} "
                             f"after filters and de-duplication (set mixture.replacement: true to repeat rows)"))
            continue
        drawn = _draw(candidates, n, seed, f"mixture{j}", spec.balance_sources)
        used.update(drawn["request_id"].to_list())
        parts.append(drawn.with_columns(pl.lit(j, dtype=pl.Int32).alias("mixture_component")))
    if problems:
        raise RecipeError(problems, origin="mixture")
    return pl.concat(parts) if parts else rows.head(0).with_columns(pl.lit(0, dtype=pl.Int32).alias("mixture_component"))


def check_mixture_fits(requests: list, spec: MixtureSpec, seed: int) -> None:
    """Before sampling: would the planned pool hold the mixture even if every row passed the filters?
    Runs the real composition on placeholder rows (one per request), so the rule is the same one."""
    placeholder = pl.DataFrame({
        "request_id": [r.request_id for r in requests], "prompt_id": [r.prompt.prompt_id for r in requests],
        "source": [r.prompt.source for r in requests], "response": [r.request_id for r in requests],
        "temperature": [r.temperature for r in requests], "num_tokens": [1] * len(requests),
        "finish_reason": ["stop"] * len(requests),
    })
    compose_mixture(placeholder, spec.model_copy(update={"filters": Filters(min_tokens=0), "dedup": False}), seed)
