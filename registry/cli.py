"""`python -m registry`: list, show, diff, verify, push, pull, import and resolve dataset versions.

    python -m registry list [NAME]                      # every version in the local catalog
    python -m registry show toy@v2 [--verify]           # lineage, configs, statistics per temperature
    python -m registry diff toy@v1 toy@v2 [--json]      # recipe (unified YAML diff), lineage, stats
    python -m registry verify [toy@v2]                  # hash every shard against the manifest
    python -m registry push toy@v2 my-org/toy [--dry-run] [--private]
    python -m registry pull my-org/toy@v2               # download, verify, register
    python -m registry import /carried/toy/v2           # a version's folder from another machine: copy,
                                                        # verify, register (no Hub needed)
    python -m registry path toy@v2                      # print the local folder (for load_dataset)

`--root DIR` (or `$TEMPDRAFT_REGISTRY`) picks another store. User mistakes and shards that do not
match their manifest exit 2; Hub failures (an HTTP error, no route, a dropped connection) exit 1
with one line naming the step and the command to rerun. Neither prints a traceback.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from core.cli import command_parser, run_command
from core.errors import TempdraftError
from registry.catalog import Catalog
from registry.hub import HubError, pull, push_version, split_hub_id
from registry.integrity import IntegrityError, ensure_verified
from registry.report import diff_data, diff_text, list_text, show_text
from registry.resolve import resolve_dataset
from registry.transfer import import_folder
from registry.versions import get_version


def _parser() -> argparse.ArgumentParser:
    p = command_parser("python -m registry", __doc__)
    p.add_argument(
        "--root",
        type=Path,
        default=None,
        help="registry store (default: $TEMPDRAFT_REGISTRY or $TEMPDRAFT_HOME/registry)",
    )
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("list", help="list versions")
    s.add_argument("name", nargs="?", help="only this dataset")

    s = sub.add_parser("show", help="lineage and statistics of one version")
    s.add_argument("ref", help="name, name@vN or name@latest")
    s.add_argument(
        "--verify", action="store_true", help="hash every shard, even if unchanged since its last clean hash"
    )

    s = sub.add_parser("diff", help="compare two versions")
    s.add_argument("a", help="name@vN")
    s.add_argument("b", help="name@vM (or just vM: same name as a)")
    s.add_argument("--json", action="store_true", help="print the comparison as JSON (for scripts)")

    s = sub.add_parser("verify", help="hash shards against the manifest (all versions when no ref)")
    s.add_argument("ref", nargs="?")

    s = sub.add_parser("push", help="publish a version to the Hub as a dataset repo, tagged vN")
    s.add_argument("ref", help="name@vN")
    s.add_argument("repo_id", help="Hub dataset id, org/name")
    s.add_argument("--private", action="store_true", help="create the repo private")
    s.add_argument("--dry-run", action="store_true", help="show what would be uploaded; needs no token")
    s.add_argument("--endpoint", help="Hub URL (default: $HF_ENDPOINT or huggingface.co)")

    s = sub.add_parser("pull", help="download a Hub dataset version into the store and register it")
    s.add_argument("hub_id", help="org/name[@revision] (default revision: the highest vN tag)")
    s.add_argument("--endpoint", help="Hub URL (default: $HF_ENDPOINT or huggingface.co)")

    s = sub.add_parser("import", help="register a copy of a version's folder from another machine or store")
    s.add_argument("folder", type=Path, help="the folder `registry path NAME@vN` printed there")

    s = sub.add_parser("path", help="print the local folder of any dataset id (name@vN, org/name@vN, path)")
    s.add_argument("dataset_id")
    s.add_argument(
        "--verify", action="store_true", help="hash every shard, even if unchanged since its last clean hash"
    )
    return p


def run(args: argparse.Namespace) -> str:
    root = args.root
    if args.command == "list":
        return list_text(Catalog(root), args.name)
    if args.command == "show":
        version = get_version(args.ref, root)
        if args.verify:
            version = ensure_verified(version, root, force=True)
        return show_text(Catalog(root), version)
    if args.command == "diff":
        a = get_version(args.a, root)
        b_ref = f"{a.name}@{args.b}" if args.b.startswith("v") and "@" not in args.b else args.b
        b = get_version(b_ref, root)
        return json.dumps(diff_data(a, b), indent=2, default=str) if args.json else diff_text(a, b)
    if args.command == "verify":
        versions = [get_version(args.ref, root)] if args.ref else Catalog(root).versions()
        ok, failed = [], []
        for v in versions:  # every version is checked; each failure clears that version's stamp
            try:
                ok.append(f"{ensure_verified(v, root, force=True).ref}: ok")
            except TempdraftError as e:
                failed.append(str(e))
        if failed:
            raise IntegrityError("\n".join(failed + ok))
        return "\n".join(ok) or "nothing to verify"
    if args.command == "push":
        version = get_version(args.ref, root)
        result = push_version(
            version,
            args.repo_id,
            endpoint=args.endpoint,
            private=args.private,
            dry_run=args.dry_run,
            root=root,
        )
        return result.summary()
    if args.command == "pull":
        repo_id, revision = split_hub_id(args.hub_id)
        version = pull(repo_id, revision, endpoint=args.endpoint, root=root)
        return f"{args.hub_id} -> {version.ref} at {version.path}"
    if args.command == "import":
        version = import_folder(args.folder, root)
        return f"{args.folder} -> {version.ref} at {version.path}"
    if args.command == "path":
        return str(resolve_dataset(args.dataset_id, verify=args.verify, root=root))
    raise AssertionError(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return run_command(lambda: print(run(args)), codes={HubError: 1})
