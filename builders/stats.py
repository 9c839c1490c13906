"""Dataset statistics with polars: per temperature and split, printed at the end of a run and
stored in the manifest and card."""

from __future__ import annotations

import polars as pl


def _distinct2(token_lists: list[list[int]]) -> float:
    bigrams = [(a, b) for toks in token_lists for a, b in zip(toks, toks[1:], strict=False)]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


def dataset_stats(rows: pl.DataFrame, by: tuple[str, ...] = ("temperature", "split")) -> pl.DataFrame:
    """Rows, tokens, length mean/p50/p95, stop share, distinct-2 and (with top-k) mean top-k entropy."""
    aggs = [
        pl.len().alias("rows"),
        pl.col("num_tokens").sum().alias("tokens"),
        pl.col("num_tokens").mean().round(1).alias("len_mean"),
        pl.col("num_tokens").quantile(0.5, "nearest").alias("len_p50"),
        pl.col("num_tokens").quantile(0.95, "nearest").alias("len_p95"),
        (pl.col("finish_reason") == "stop").mean().round(3).alias("stop_frac"),
        pl.col("response_token_ids").map_batches(
            lambda s: pl.Series([round(_distinct2(s.to_list()), 3)]), returns_scalar=True, return_dtype=pl.Float64
        ).alias("distinct2"),
    ]
    if "topk_logprobs" in rows.columns:
        # Entropy over the stored top-k only (a lower bound of the full entropy), averaged per token.
        ent = (
            rows.select("temperature", "split", pl.col("topk_logprobs").alias("lp"))
            .explode("lp")
            .drop_nulls("lp")
            .with_columns(
                pl.col("lp").list.eval(-(pl.element().exp() * pl.element()).filter(pl.element().is_finite())).list.sum().alias("h")
            )
            .group_by(list(by))
            .agg(pl.col("h").mean().round(3).alias("topk_entropy"))
        )
    table = rows.group_by(list(by)).agg(aggs).sort(list(by))
    if "topk_logprobs" in rows.columns:
        table = table.join(ent, on=list(by), how="left")
    return table


def format_table(table: pl.DataFrame) -> str:
    with pl.Config(tbl_rows=200, tbl_cols=20, tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
                   tbl_formatting="ASCII_MARKDOWN", tbl_width_chars=200, fmt_str_lengths=40):
        return str(table)
