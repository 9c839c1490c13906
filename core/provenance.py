"""What every output records about how it was made: the exact command and the library versions.

    from core.provenance import recorded_command, versions
    recorded_command("python -m distill", ["train", "cfg.yaml", "--set", "hub.token=hf_abc..."])
    # -> "python -m distill train cfg.yaml --set hub.token=hf_***"
    versions(["torch", "vllm"])  # {"torch": "2.13.0"}: a package that is not installed is left out

Manifests, draft cards and evaluation results are published as they are, so a command is always recorded
through `recorded_command`, which masks anything that looks like a Hub token.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from importlib import metadata

_HF_TOKEN = re.compile(r"hf_[A-Za-z0-9]{8,}")


def mask_secrets(text: str) -> str:
    """`text` with every Hub token (`hf_...`) replaced by `hf_***`."""
    return _HF_TOKEN.sub("hf_***", text)


def recorded_command(prog: str, argv: Iterable[str]) -> str:
    """`prog` (`python -m distill`, `python benchmarks/x.py`) and its arguments, shell-quoted so the line
    reruns as it is, with Hub tokens masked."""
    return mask_secrets(" ".join([prog, *(shlex.quote(a) for a in argv)]))


def package_version(name: str) -> str | None:
    """The installed distribution's version, None when it is not installed (e.g. a source checkout)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions(packages: Iterable[str]) -> dict[str, str]:
    """{package: version} for each installed package of `packages`."""
    return {p: v for p in packages if (v := package_version(p)) is not None}
