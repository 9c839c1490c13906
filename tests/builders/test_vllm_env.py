"""The engine environment (issue 18): which CPU binding the builder picks, that a user's own settings win,
that the environment is restored after an engine start, and that `builders run` is quiet unless --verbose.
None of these start an engine."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from builders.backends.vllm_env import QUIET_ENV, cpu_binding, engine_environment
from builders.cli import main
from builders.recipe import EngineSpec
from core.home import tempdraft_home

ALL = {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_OMP_THREADS_BIND": "0,1"}


@pytest.fixture
def saved_env() -> Iterator[None]:
    """The CLI sets variables in its own process; put the test process back as it was."""
    env, level = dict(os.environ), logging.getLogger("vllm").level
    yield
    os.environ.clear()
    os.environ.update(env)
    logging.getLogger("vllm").setLevel(level)


def test_all_cores_when_the_recipe_asks() -> None:
    assert cpu_binding([1, 0], {}, all_cores=True) == ALL  # the 2-core box: no core left for the scheduler
    assert cpu_binding([0], {}, all_cores=True)["VLLM_CPU_OMP_THREADS_BIND"] == "0"
    assert cpu_binding([4, 5, 6], {}, all_cores=True)["VLLM_CPU_OMP_THREADS_BIND"] == "4,5,6"  # affinity mask


def test_default_keeps_vllm_binding_whatever_the_box() -> None:
    assert cpu_binding([0, 1], {}) == {}
    assert cpu_binding(list(range(64)), {}) == {}


def test_user_settings_and_tensor_parallelism_are_left_alone() -> None:
    assert cpu_binding([0, 1], {"VLLM_CPU_OMP_THREADS_BIND": "auto"}, all_cores=True) == {}
    assert cpu_binding([0, 1], {"VLLM_CPU_NUM_OF_RESERVED_CPU": "1"}, all_cores=True) == {}
    assert cpu_binding([0, 1], {}, world_size=2, all_cores=True) == {}  # one CPU list per rank: vLLM's


def test_engine_environment_sets_then_restores(saved_env, monkeypatch) -> None:
    monkeypatch.setenv("VLLM_CPU_OMP_THREADS_BIND", "0")  # the user's own binding and grace period win
    monkeypatch.delenv("VLLM_CPU_NUM_OF_RESERVED_CPU", raising=False)
    monkeypatch.setenv("VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS", "7")
    monkeypatch.delenv("VLLM_CACHE_ROOT", raising=False)
    before = dict(os.environ)
    with engine_environment(EngineSpec(), cpu=True) as wanted:
        assert os.environ["VLLM_CPU_OMP_THREADS_BIND"] == "0"
        assert "VLLM_CPU_NUM_OF_RESERVED_CPU" not in os.environ
        assert os.environ["VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS"] == "7"
        assert os.environ["VLLM_CPU_KVCACHE_SPACE"] == "2"
        cache_root = str(tempdraft_home() / "vllm-cache")  # no user choice: under tempdraft's home
        assert os.environ["VLLM_CACHE_ROOT"] == wanted["VLLM_CACHE_ROOT"] == cache_root
    assert dict(os.environ) == before


@pytest.mark.parametrize("verbose", [False, True])
def test_run_is_quiet_unless_verbose(saved_env, monkeypatch, write_recipe, capsys, verbose) -> None:
    for name in QUIET_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TORCH_LOGS", "+dynamo")  # set by the user: kept even when quiet
    assert main(["run", str(write_recipe()), "--dry-run", *(["--verbose"] if verbose else [])]) == 0
    assert "[plan]" in capsys.readouterr().out
    assert os.environ["TORCH_LOGS"] == "+dynamo"
    if verbose:
        assert "VLLM_LOGGING_LEVEL" not in os.environ
    else:
        assert os.environ["VLLM_LOGGING_LEVEL"] == "ERROR"
        assert os.environ["TORCH_CPP_LOG_LEVEL"] == "ERROR"
        assert logging.getLogger("vllm").level == logging.ERROR
