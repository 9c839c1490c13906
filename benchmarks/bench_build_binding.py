"""The main job end to end under two vLLM-CPU thread bindings, side by side (issue 18).

Run from the project root (each build takes minutes; the arms alternate, so load drifts hit both):

    .venv/bin/python benchmarks/bench_build_binding.py --repeats 2 --out runs/bench_build_binding.json

Arms: `vllm-default` sets VLLM_CPU_NUM_OF_RESERVED_CPU=1 and VLLM_CPU_OMP_THREADS_BIND=auto (vLLM's own
choice: one core kept for its scheduler), `all-cores` the builder's own all-cores binding (what
`engine.cpu_threads: auto` picks on boxes of at most 4 cores); the builder leaves user-set values alone, so
each arm gets exactly its binding whatever the recipe says. Each run is `python -m builders run
recipes/mix_high_temp.yaml` in a fresh TEMPDRAFT_HOME whose teachers/ links to the already converted
teacher (download and conversion are not timed). Per run: wall seconds, sampling seconds and tokens/s
from the manifest, load average before/after; then how many rows (by prompt, temperature, sample) have
identical response tokens across arms. Prints one JSON object and writes it to --out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_backends import machine  # noqa: E402

from builders.backends.vllm_env import cpu_binding  # noqa: E402
from core.hardware import allowed_cpus  # noqa: E402
from registry.dataset import ALL_CONFIG, config_files  # noqa: E402

RECIPE = "recipes/mix_high_temp.yaml"
ARMS = {
    "vllm-default": {"VLLM_CPU_NUM_OF_RESERVED_CPU": "1", "VLLM_CPU_OMP_THREADS_BIND": "auto"},
    "all-cores": cpu_binding(allowed_cpus(), {}, all_cores=True),
}
KEY = ["prompt_id", "temperature", "sample_index"]


def build(arm: str, teachers: Path, work: Path, overrides: list[str]) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"{arm}-", dir=work))
    (home / "teachers").symlink_to(teachers)
    env = {k: v for k, v in os.environ.items() if k not in ARMS["vllm-default"]}
    env.update(ARMS[arm], TEMPDRAFT_HOME=str(home))
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "builders", "run", RECIPE, *overrides],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{arm} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    folder = next((home / "registry" / "datasets").glob("*/v1"))
    backend = json.loads((folder / "manifest.json").read_text())["backend"]
    files = [f for split in ("train", "validation") for f in config_files(folder, ALL_CONFIG, split)]
    rows = pl.concat([pl.read_parquet(f) for f in files])
    return {
        "arm": arm,
        "wall_s": round(wall, 1),
        "sampling_s": backend["sampling_seconds_this_run"],
        "tokens_per_s": backend["tokens_per_second_this_run"],
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "rows": rows.select(*KEY, "response_token_ids"),
        "stderr_lines": len(proc.stderr.splitlines()),
        "leak_warning": "leaked shared_memory" in proc.stderr,
    }


def identical(a: pl.DataFrame, b: pl.DataFrame) -> int:
    """Rows (matched by prompt, temperature, sample) whose response tokens are the same in both runs."""
    joined = a.join(b, on=KEY, suffix="_b")
    pairs = zip(joined["response_token_ids"].to_list(), joined["response_token_ids_b"].to_list(), strict=True)
    return sum(x == y for x, y in pairs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=2, help="runs per arm (order alternates)")
    p.add_argument("--teachers", type=Path, default=Path.home() / ".cache" / "tempdraft" / "teachers")
    p.add_argument("--out", type=Path, default=None)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="passed to builders run, e.g. sources.0.size=4 for a quick row check",
    )
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_build_binding-"))
    before = machine()
    runs = []
    try:
        for i in range(args.repeats):
            order = list(ARMS) if i % 2 == 0 else list(reversed(ARMS))
            for arm in order:
                run = build(arm, args.teachers, work, [f"--set={o}" for o in args.overrides])
                print(json.dumps({k: v for k, v in run.items() if k != "rows"}), file=sys.stderr, flush=True)
                runs.append(run)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    first = {arm: next(r["rows"] for r in runs if r["arm"] == arm) for arm in ARMS}
    same = identical(first["vllm-default"], first["all-cores"])
    repeat_same = {}  # run-to-run agreement within an arm: what "identical" can mean on this machine
    for arm in ARMS:
        arm_runs = [r["rows"] for r in runs if r["arm"] == arm]
        if len(arm_runs) > 1:
            repeat_same[arm] = identical(arm_runs[0], arm_runs[1])
    summary = {
        "machine_before": before,
        "machine_after": machine(),
        "runs": [{k: v for k, v in r.items() if k != "rows"} for r in runs],
        "rows": first["all-cores"].height,
        "rows_identical_across_arms": same,
        "rows_identical_within_arm": repeat_same,
    }
    for arm in ARMS:
        summary[f"{arm}_wall_s"] = [r["wall_s"] for r in runs if r["arm"] == arm]
    print(json.dumps(summary))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
