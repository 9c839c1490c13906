"""teacher.dtype and engine.cpu_threads: auto resolve to what this machine runs, before fingerprinting."""

from __future__ import annotations

from builders.build import _with_resolved_machine, fingerprint
from builders.recipe import Recipe
from core.hardware import allowed_cpus, cpu_has_native_bf16, resolve_cpu_threads, resolve_dtype
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

    auto = _with_resolved_machine(recipe("auto", device="cpu"))
    expected = "bfloat16" if cpu_has_native_bf16() else "float32"
    assert auto.teacher.dtype == expected
    # 'auto' and the dtype it stood for give the same rows, hence one fingerprint and one catalog version
    assert fingerprint(auto, "rev") == fingerprint(
        _with_resolved_machine(recipe(expected, device="cpu")), "rev"
    )
    assert _with_resolved_machine(recipe("auto", device="cuda")).teacher.dtype == "bfloat16"


def test_cpu_threads_auto_binds_every_core_only_on_small_cpu_boxes():
    assert resolve_cpu_threads("auto", 2) == "all"
    assert resolve_cpu_threads("auto", 4) == "all"
    assert resolve_cpu_threads("auto", 16) == "default"  # cores to spare: vLLM's own binding
    assert resolve_cpu_threads("auto", 2, no_vllm_cpu=True) == "default"  # GPU or transformers backend
    assert resolve_cpu_threads("default", 2) == "default"  # an explicit choice is never overridden
    assert resolve_cpu_threads("all", 64) == "all"


def test_cpu_threads_auto_is_recorded_as_what_ran_and_never_fingerprinted(
    tiny_teacher, shared_data, tmp_path
):
    def recipe(backend: str, threads: str) -> Recipe:
        data = tiny_recipe(tiny_teacher, shared_data, tmp_path / "out")
        data["engine"].update(device="cpu", backend=backend, cpu_threads=threads)
        return _with_resolved_machine(Recipe.model_validate(data))

    on_vllm_cpu = recipe("vllm", "auto")
    assert on_vllm_cpu.engine.cpu_threads == resolve_cpu_threads("auto", len(allowed_cpus()))
    assert recipe("transformers", "auto").engine.cpu_threads == "default"  # nothing for it to bind
    # rows do not depend on the binding (benchmarks/README.md), so neither does the fingerprint: a version
    # built before 'auto' existed (cpu_threads: default) is found again whatever this machine resolves
    prints = {fingerprint(recipe("vllm", t), "rev") for t in ("auto", "default", "all")}
    assert len(prints) == 1
