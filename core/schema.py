"""The one base for every config schema (recipes, mixtures, distill and search configs), and the sections
more than one of them holds.

    from core.schema import Strict, TeacherSpec
    class Section(Strict):
        size: int = Field(description="...")

Unknown keys are errors, so a typo never passes silently; a validated config is frozen (hashable,
fingerprinted as it is); every number is finite (no `.inf`/`.nan` reaches arithmetic).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.hardware import resolve_dtype


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TeacherSpec(Strict):
    """The `teacher` section of a recipe (the model sampled) and of a distill config (the model the dataset
    was sampled from): one schema, so both name and load a teacher the same way (core/teacher.py)."""

    model: str = Field(
        description="Offline alias (e.g. 'smollm2-135m-instruct'), a Hub model id "
        "(e.g. 'meta-llama/Llama-2-13b-chat-hf') or a local model folder."
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit) for a Hub id.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto",
        description="Weights and compute dtype of the teacher when it runs. auto: bfloat16 on GPUs and on "
        "CPUs with AVX512-BF16/AMX, float32 on other CPUs (emulated bf16 runs 5-10x slower there).",
    )

    def resolved_dtype(self, device_type: str) -> str:
        return resolve_dtype(self.dtype, device_type)
