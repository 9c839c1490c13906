"""`python -m evaluate search|search-validate SEARCH.yaml [--set key=value ...]`.

    python -m evaluate search evaluate/configs/search_t1.yaml --set budget.candidates=16
    python -m evaluate search-validate evaluate/configs/search_t1.yaml   # exit 0, or every problem (exit 2)

Writes <output_dir>/search.json, search.md, candidates.png, recipe.yaml (the winning pool recipe), draft/
(the winning draft) and candidates/<key>/ (data, draft, log and result of each candidate and seed);
registers the winning mixture as `name@vN`. Progress (candidates, best so far, ETA) goes to stderr; the
last line says how the winner compares, paired, with the greedy candidate (single T = 0: greedy SeqKD
with a SeqKD config) and the best single temperature.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from core.cli import add_config_arguments, command_parser, run_command, schema_reference
from core.provenance import recorded_command


def _parser(prog: str) -> argparse.ArgumentParser:
    from evaluate.search.config import SearchConfig

    p = command_parser(prog, __doc__)
    p.epilog = "config fields (--set section.field=value):\n" + "\n".join(schema_reference(SearchConfig))
    add_config_arguments(p, "search config YAML")
    return p


def main(verb: str, argv: list[str]) -> int:
    args = _parser(f"python -m evaluate {verb}").parse_args(argv)
    return run_command(lambda: _run(verb, args, argv))


def _run(verb: str, args: argparse.Namespace, argv: list[str]) -> int:
    from evaluate.search.config import load_config

    cfg = load_config(args.config, args.overrides)
    if verb == "search-validate":
        print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
        return 0
    from evaluate.search import report
    from evaluate.search.runner import publish, search

    summary = search(cfg, recorded_command("python -m evaluate", [verb, *argv]))
    published = publish(cfg, summary)
    paths = report.write(summary, published, cfg.output_dir)
    print(open(paths["markdown"]).read(), end="")
    for kind, path in paths.items():
        print(f"[search] wrote {kind}: {path}", file=sys.stderr)
    print(f"[search] {report.winner_line(summary)}", file=sys.stderr)
    return 0
