"""What a published record may hold: ids, revisions and content hashes, never a path of the machine.

Manifests, dataset cards, draft cards and evaluation results are pushed to the Hub as they are, so each
passes through here before it is written:

    from core.public import public_manifest, public_command, public_path
    manifest = public_manifest(manifest)   # no teacher `path`; no absolute path in recipe, command, tokenizer

An absolute path is recorded by its last component (`/home/u/models/teacher` -> `teacher`); a local
teacher is identified by that folder name and the sha256 of its weights (its `revision`). Relative paths
(`recipes/x.yaml`, `../data/train.jsonl`) are kept: they name no user's file system.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from core.provenance import mask_secrets

_WINDOWS_ABS = re.compile(r"^[A-Za-z]:[\\/]")
# An absolute path inside free text: `/` or `~/` not preceded by a word character, `.`, `:` or `/`
# (so `a/b`, `./x`, `T=0.7/1.0` and `https://host/x` are left alone), then `/segment` repeated.
_ABS_IN_TEXT = re.compile(r"(?<![\w.:/~-])~?(?:/[^\s/'\"=,;:|`()\[\]{}<>]+)+/?")


def is_local_path(text: str) -> bool:
    """True for an absolute or home-relative path (`/x`, `~/x`, `C:\\x`)."""
    return text.startswith(("/", "~")) or bool(_WINDOWS_ABS.match(text))


def public_path(text: str | None) -> str | None:
    """An absolute path -> its last component; anything else unchanged."""
    if text is None or not is_local_path(text):
        return text
    if _WINDOWS_ABS.match(text):
        return PureWindowsPath(text).name
    return PurePosixPath(text.rstrip("/")).name or text


def public_text(text: str) -> str:
    """Free text (e.g. '/x/ds (split validation)'), each absolute path shortened to its last component."""
    return _ABS_IN_TEXT.sub(lambda m: m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


def public_values(value: Any) -> Any:
    """`public_text` over every string of a JSON-like value (configs and results, not user-written prose)."""
    if isinstance(value, dict):
        return {k: public_values(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [public_values(v) for v in value]
    return public_text(value) if isinstance(value, str) else value


def public_command(command: str) -> str:
    """The command, each absolute path argument (also `--set key=/path`) shortened to its last component."""
    try:
        tokens = shlex.split(command)
    except ValueError:  # unbalanced quotes: not something we wrote; keep it readable rather than fail
        return command
    out = []
    for token in tokens:
        key, eq, value = token.partition("=")
        out.append(f"{key}={public_path(value)}" if eq and is_local_path(value) else public_path(token))
    return shlex.join(out)


def public_teacher(teacher: dict[str, Any]) -> dict[str, Any]:
    """A teacher record without its local `path`; a local folder is named by its folder name."""
    out = {k: v for k, v in teacher.items() if k != "path"}
    if out.get("source") == "local" and isinstance(out.get("name"), str):
        out["name"] = PurePosixPath(out["name"].rstrip("/")).name or out["name"]
    return out


def public_recipe(recipe: dict[str, Any]) -> dict[str, Any]:
    """The resolved recipe, its path fields (teacher.model, sources.*.path, output.dir, pool) made public."""
    out = copy.deepcopy(recipe)
    teacher = out.get("teacher") or {}
    if isinstance(teacher.get("model"), str):
        teacher["model"] = public_path(teacher["model"])
    for src in out.get("sources") or []:
        if isinstance(src, dict) and isinstance(src.get("path"), str):
            src["path"] = public_path(src["path"])
    if isinstance(out.get("output"), dict) and isinstance(out["output"].get("dir"), str):
        out["output"]["dir"] = public_path(out["output"]["dir"])
    if isinstance(out.get("pool"), str):
        out["pool"] = public_path(out["pool"])
    return out


def public_manifest(manifest: dict[str, Any]) -> dict[str, Any]:
    """A dataset manifest as it may be published. Idempotent, so old manifests can pass through it again."""
    out = dict(manifest)
    if isinstance(out.get("teacher"), dict):
        out["teacher"] = public_teacher(out["teacher"])
    if isinstance(out.get("tokenizer"), dict):
        out["tokenizer"] = {
            **out["tokenizer"],
            "name_or_path": public_path(out["tokenizer"].get("name_or_path")),
        }
    if isinstance(out.get("command"), str):
        out["command"] = public_command(out["command"])
    if isinstance(out.get("recipe"), dict):
        out["recipe"] = public_recipe(out["recipe"])
    if isinstance(out.get("pool"), dict):
        out["pool"] = {**out["pool"], "id": public_path(out["pool"].get("id"))}
    return _masked(out)


def _masked(value: Any) -> Any:
    """Every string of a JSON-like value with Hub tokens masked: a token can sit in any recipe field
    (`--set description=hf_...`), not only in the command."""
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return mask_secrets(value) if isinstance(value, str) else value
