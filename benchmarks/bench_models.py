"""What the sampler benchmarks share: the model arguments, the models (SmolLM2-135M's shape with random
weights - a step's time does not depend on them - or a real teacher; the draft is its first layers) and a
line naming the machine.

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

    if args.threads:
        torch.set_num_threads(args.threads)
    return load_models(args)


def smollm2_shape(device: str, dtype, layers: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=layers,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=2048,
        rope_theta=100000.0,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    return LlamaForCausalLM(config).to(device=device, dtype=dtype).eval()


def load_models(args):
    """(target, draft): --teacher or SmolLM2's shape (30 layers; --quick: 2), the draft its first 4 (1)."""
    import torch

    from distill.models import first_n_layers

    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    if args.teacher:
        from transformers import AutoModelForCausalLM

        target = AutoModelForCausalLM.from_pretrained(args.teacher, dtype=dtype).to(args.device).eval()
    else:
        target = smollm2_shape(args.device, dtype, 2 if args.quick else 30)
    return target, first_n_layers(target, 1 if args.quick else 4)


def machine_line(device: str) -> str:
    """GPU or CPU model, cores, the 1-minute load now, torch's version and threads."""
    import torch

    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []  # Linux; elsewhere the architecture
    names = [x.split(":", 1)[1].strip() for x in lines if "model name" in x]
    cpu = names[0] if names else platform.machine()
    line = f"{cpu} x{os.cpu_count()}, 1-min load {os.getloadavg()[0]:.1f}, torch {torch.__version__}"
    line += f" ({torch.get_num_threads()} threads), {device}"
    return f"{torch.cuda.get_device_name()}, {line}" if device == "cuda" else line
