"""Progress for long jobs: rows done / total, tokens/s and ETA on one tqdm line (stderr)."""

from __future__ import annotations

import time

from tqdm import tqdm


class Progress:
    def __init__(self, total_rows: int, done_rows: int = 0, desc: str = "sampling"):
        self.bar = tqdm(total=total_rows, initial=done_rows, desc=desc, unit="row", dynamic_ncols=True,
                        mininterval=1.0, smoothing=0.0)
        self.start = time.perf_counter()
        self.tokens = 0

    def __call__(self, rows: int, tokens: int) -> None:
        self.tokens += tokens
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{self.tokens / elapsed:,.0f} tok/s, {self.tokens:,} tokens", refresh=False)
        self.bar.update(rows)

    def tokens_per_second(self) -> float:
        return self.tokens / max(time.perf_counter() - self.start, 1e-9)

    def close(self) -> None:
        self.bar.close()
