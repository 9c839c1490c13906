"""`python -m evaluate search|search-validate SEARCH.yaml [--set key=value ...]`.

    python -m evaluate search evaluate/configs/search_t1.yaml --set budget.candidates=16
    python -m evaluate search-validate evaluate/configs/search_t1.yaml   # exit 0, or every problem (exit 2)

Writes <output_dir>/search.json, search.md, candidates.png, recipe.yaml (the winning pool recipe), draft/
(the winning draft) and candidates/<key>/ (each candidate's data, draft, log and result); registers the
winning mixture as `name@vN`. Progress (candidates, best so far, ETA) goes to stderr.
"""

from __future__ import annotations

import argparse
import sys

import yaml

from core.errors import TempdraftError
from core.provenance import recorded_command


def _parser(prog: str) -> argparse.ArgumentParser:
    from evaluate.search.config import SearchConfig

    fields = "\n".join(f"  {n}: {f.description}" for n, f in SearchConfig.model_fields.items())
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="config fields:\n" + fields,
    )
    p.add_argument("config", help="search config YAML")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, value in YAML: --set budget.candidates=24 (repeatable)",
    )
    return p


def main(verb: str, argv: list[str]) -> int:
    args = _parser(f"python -m evaluate {verb}").parse_args(argv)
    from evaluate.search.config import load_config

    try:
        cfg = load_config(args.config, args.overrides)
        if verb == "search-validate":
            print(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), end="")
            return 0
        from evaluate.search import report
        from evaluate.search.runner import publish, search

        summary = search(cfg, recorded_command("python -m evaluate", [verb, *argv]))
        published = publish(cfg, summary)
    except TempdraftError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    paths = report.write(summary, published, cfg.output_dir)
    print(open(paths["markdown"]).read(), end="")
    for kind, path in paths.items():
        print(f"[search] wrote {kind}: {path}", file=sys.stderr)
    return 0
