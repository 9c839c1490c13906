"""What the sampler benchmarks share: the model arguments, the models (SmolLM2-135M's shape or a real teacher,
the draft its first layers: `bench_sampler_overhead.load_models`) and a line naming the machine.

    from benchmarks.bench_models import add_model_args, load, machine_line
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu")
    p.add_argument("--teacher", default=None, help="a model folder instead of random SmolLM2-shaped weights")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--quick", action="store_true", help="a 2-layer target, 1-layer draft: seconds (smoke)")
    p.add_argument("--out", type=Path, default=None)


def load(args: argparse.Namespace):
    """(target, draft) after setting torch's threads (--threads)."""
    import torch

    from benchmarks.bench_sampler_overhead import load_models

    if args.threads:
        torch.set_num_threads(args.threads)
    return load_models(args)


def machine_line(device: str) -> str:
    """GPU or CPU model, cores, the 1-minute load now, torch's version and threads."""
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    names = [x.split(":", 1)[1].strip() for x in cpuinfo.read_text().splitlines() if "model name" in x]
    cpu = names[0] if cpuinfo.exists() and names else platform.machine()
    line = f"{cpu} x{os.cpu_count()}, 1-min load {os.getloadavg()[0]:.1f}, torch {torch.__version__}"
    line += f" ({torch.get_num_threads()} threads), {device}"
    return f"{torch.cuda.get_device_name()}, {line}" if device == "cuda" else line
