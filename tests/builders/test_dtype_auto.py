"""teacher.dtype: auto resolves to the dtype this machine runs well, before fingerprinting."""

from __future__ import annotations

from builders.build import _with_resolved_dtype, fingerprint
from builders.recipe import Recipe
from core.hardware import cpu_has_native_bf16, resolve_dtype
from tests.builders.conftest import tiny_recipe


def test_auto_is_bf16_on_gpu_and_follows_the_cpu_flags():
    assert resolve_dtype("auto", "cuda") == "bfloat16"
    assert resolve_dtype("auto", "cpu") == ("bfloat16" if cpu_has_native_bf16() else "float32")
    assert resolve_dtype("float16", "cpu") == "float16"  # an explicit dtype is never overridden


def test_auto_recipe_builds_as_the_resolved_dtype(tiny_teacher, shared_data, tmp_path):
    def recipe(dtype: str, **engine) -> Recipe:
        data = tiny_recipe(tiny_teacher, shared_data, tmp_path / "out")
        data["teacher"]["dtype"] = dtype
        data["engine"].update(engine)
        return Recipe.model_validate(data)

    auto = _with_resolved_dtype(recipe("auto", device="cpu"))
    expected = "bfloat16" if cpu_has_native_bf16() else "float32"
    assert auto.teacher.dtype == expected
    # 'auto' and the dtype it stood for give the same rows, hence one fingerprint and one catalog version
    assert fingerprint(auto, "rev") == fingerprint(_with_resolved_dtype(recipe(expected, device="cpu")), "rev")
    assert _with_resolved_dtype(recipe("auto", device="cuda")).teacher.dtype == "bfloat16"
