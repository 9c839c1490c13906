"""The license a dataset card declares: the recipe's `license:`, else derived from what the rows are made of.

A row holds a prompt (from a source) and a teacher response, so both licenses apply. The derived license
is the one they share when every part's license is known (table below, each checked at its source);
otherwise 'other', and the card lists each part's license so a reader can decide.

    from registry.licenses import dataset_license
    license, parts = dataset_license(recipe_dict)   # ('apache-2.0', {'teacher smollm2-135m-instruct': ...})
"""

from __future__ import annotations

from typing import Any

from core.public import public_path
from registry.dataset import Manifest

# Hub model/dataset id or offline alias -> license id (Hub spelling).
KNOWN = {
    "smollm2-135m-instruct": "apache-2.0",  # offline alias of HuggingFaceTB/SmolLM2-135M-Instruct
    "HuggingFaceTB/SmolLM2-135M-Instruct": "apache-2.0",
    "meta-llama/Llama-2-13b-chat-hf": "llama2",
    "openai/gsm8k": "mit",  # /work/shared/data/gsm8k/README.md: MIT
    "tatsu-lab/alpaca": "cc-by-nc-4.0",
}
GENERATOR_LICENSE = "apache-2.0"  # reasoning-gym's generators (Apache-2.0)
UNKNOWN = "other"


def _part(source: dict[str, Any]) -> tuple[str, str]:
    kind = source.get("kind")
    if kind == "generator":
        return f"prompts reasoning-gym/{source.get('generator')}", GENERATOR_LICENSE
    if kind == "hub":
        return f"prompts {source.get('dataset')}", KNOWN.get(str(source.get("dataset")), UNKNOWN)
    return (
        f"prompts {source.get('name') or public_path(source.get('path'))}",
        UNKNOWN,
    )  # a local file: nothing says


def dataset_license(recipe: dict[str, Any], teacher: str | None = None) -> tuple[str, dict[str, str]]:
    """(license for the card, {part: license}). `teacher` stands in when the recipe names none (a recipe
    composed from a pool)."""
    model = (recipe.get("teacher") or {}).get("model") or teacher
    parts = {f"teacher {public_path(model)}": KNOWN.get(str(model), UNKNOWN)} if model else {}
    parts.update(_part(s) for s in recipe.get("sources") or [])
    if recipe.get("license"):
        return str(recipe["license"]), parts
    found = set(parts.values())
    return (found.pop() if len(found) == 1 and parts else UNKNOWN), parts


def manifest_license(recipe: dict[str, Any], pool_manifest: Manifest | None = None) -> dict[str, Any]:
    """The manifest's `license` and `license_parts`; a recipe composed from a pool inherits the pool's."""
    if pool_manifest is not None:
        parts = dict(pool_manifest.license_parts or {})
        return {
            "license": recipe.get("license") or pool_manifest.license or UNKNOWN,
            "license_parts": parts,
        }
    license, parts = dataset_license(recipe)
    return {"license": license, "license_parts": parts}
