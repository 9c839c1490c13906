"""Training on the tiny teacher's own samples: every mode lowers its loss and raises held-out acceptance;
resume is exact; gradient accumulation takes the same step as one large batch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from distill.__main__ import main
from distill.card import hub_metadata
from distill.config import load_config
from distill.data import make_examples, read_columns
from distill.models import build_draft


def held_out_rows(dataset: Path, config: str = "t0_7") -> list:
    files = sorted((dataset / "data" / config).glob("validation-*.parquet"))
    examples, _ = make_examples(
        read_columns(files, ["prompt_token_ids", "response_token_ids", "temperature"]), 224
    )
    return examples


@torch.no_grad()
def acceptance(teacher, draft, examples, temperature: float) -> float:
    """sum_x min(p_T, q_T) over response positions, from plain full forwards (not distill's fast path)."""
    total, count = 0.0, 0
    for e in examples:
        ids = torch.tensor([e.input_ids])
        start, end = e.prompt_len - 1, len(e.input_ids) - 1
        p = (teacher(ids).logits[0, start:end] / temperature).softmax(-1)
        q = (draft(ids).logits[0, start:end] / temperature).softmax(-1)
        total += float(torch.minimum(p, q).sum(-1).sum())
        count += end - start
    return total / count


def run(config: Path, *extra: str) -> int:
    return main(["train", str(config), *extra])


@pytest.mark.parametrize(
    ("mode", "loss"),
    [
        ("seqkd", {}),
        ("online", {"divergence": "jsd", "beta": 0.5, "temperature": 0.7}),
        ("topk", {"divergence": "tvd"}),
    ],
)
def test_mode_lowers_loss_and_raises_acceptance(mode, loss, write_config, tiny_teacher, tiny_dataset):
    path = write_config(mode, loss={"mode": mode, **loss}, run={"eval_split": "validation"})
    assert run(path) == 0
    out = Path(load_config(path).run.output_dir)
    card = json.loads((out / "tempdraft-draft.json").read_text())

    # 1. The objective went down, on the training batches and on held-out rows.
    assert card["training"]["final_loss"] < card["training"]["first_loss"]
    assert card["eval"]["after"]["loss"] < card["eval"]["before"]["loss"]

    # 2. The saved draft accepts more at the generation temperature than the untrained one did.
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher, dtype=torch.float32).eval()
    untrained = build_draft(load_config(path).draft, teacher, seed=0).eval()
    trained = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    rows = held_out_rows(tiny_dataset)
    before, after = acceptance(teacher, untrained, rows, 0.7), acceptance(teacher, trained, rows, 0.7)
    assert after > before + 0.1, (before, after)
    # the card's number comes from distill's fast path (response positions only), this one from full forwards
    assert card["eval"]["after"]["acceptance"]["0.7"] == pytest.approx(after, abs=3e-3)

    # 3. The card says what the evaluate module reads.
    manifest = json.loads((tiny_dataset / "manifest.json").read_text())
    assert card["kd_temperature"] == 0.7 and card["name"] == out.name
    assert card["dataset"]["fingerprint"] == manifest["fingerprint"]
    assert card["dataset"]["generation_temperatures"] == [0.7]
    assert card["mode"] == mode and card["divergence"] == loss.get("divergence")
    assert card["loss_temperature"] == (None if mode == "seqkd" else 0.7)
    assert card["command"].startswith("python -m distill train ")
    assert "| KD temperature | 0.7 |" in (out / "README.md").read_text()


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "model.safetensors")


def test_resume_continues_exactly(write_config, tmp_path):
    # Run A: 6 steps in one go, checkpointing at step 3.
    path_a = write_config(
        "online",
        name="a.yaml",
        loss={"mode": "online", "divergence": "fkl"},
        optim={"max_steps": 6},
        run={"output_dir": str(tmp_path / "a"), "checkpoint_every": 3},
    )
    assert run(path_a) == 0
    # Run B: starts from A's step-3 checkpoint, as if A had been killed right after writing it.
    path_b = write_config(
        "online",
        name="b.yaml",
        loss={"mode": "online", "divergence": "fkl"},
        optim={"max_steps": 6},
        run={"output_dir": str(tmp_path / "b"), "checkpoint_every": 3},
    )
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    shutil.copy(tmp_path / "a/checkpoints/step_00000003.pt", tmp_path / "b/checkpoints/")
    assert run(path_b) == 2  # checkpoints present: refuses to start over without --resume
    assert run(path_b, "--resume") == 0

    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    card_a, card_b = (json.loads((tmp_path / d / "tempdraft-draft.json").read_text()) for d in "ab")
    assert card_a["training"]["loss_curve"] == card_b["training"]["loss_curve"]


def test_resume_refuses_a_changed_config(write_config, tmp_path, capsys):
    path = write_config("seqkd", optim={"max_steps": 4}, run={"checkpoint_every": 2})
    assert run(path) == 0
    out = Path(load_config(path).run.output_dir)
    (out / "tempdraft-draft.json").unlink()  # pretend the run died after its checkpoint
    assert run(path, "--resume", "--set", "optim.lr=0.1") == 2
    assert "optim.lr" in capsys.readouterr().err


def test_grad_accumulation_takes_the_same_step(write_config, tmp_path):
    one = write_config(
        "seqkd",
        name="one.yaml",
        optim={"max_steps": 2, "batch_size": 8, "grad_accum": 1},
        run={"output_dir": str(tmp_path / "one")},
    )
    two = write_config(
        "seqkd",
        name="two.yaml",
        optim={"max_steps": 2, "batch_size": 4, "grad_accum": 2},
        run={"output_dir": str(tmp_path / "two")},
    )
    assert run(one) == 0 and run(two) == 0
    a, b = _weights(tmp_path / "one"), _weights(tmp_path / "two")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)  # only summation order differs


def test_small_config_draft_trains_and_saves(write_config, tiny_teacher, tiny_dataset):
    path = write_config(
        "topk",
        loss={"mode": "topk", "divergence": "rkl"},
        optim={"max_steps": 3},
        draft={"init": "small_config", "num_layers": 1, "hidden_size": 64, "num_attention_heads": 1},
    )
    assert run(path) == 0
    out = Path(load_config(path).run.output_dir)
    draft = AutoModelForCausalLM.from_pretrained(out)
    assert draft.config.hidden_size == 64 and draft.config.num_hidden_layers == 1
    readme = (out / "README.md").read_text()
    front = yaml.safe_load(readme.split("---")[1])
    assert front["library_name"] == "transformers"
    assert front["license"] == "other"  # a local tiny teacher: no known license, no Hub id for base_model
    # the card is pushed with the draft: dataset, teacher and output folders appear by name only
    card = (out / "tempdraft-draft.json").read_text()
    for local in (out, tiny_teacher, tiny_dataset, path.parent):
        assert str(local) not in card and str(local) not in readme
    assert json.loads(card)["teacher"]["name"] == tiny_teacher.name


def test_draft_card_names_hub_ids():
    alias = {
        "name": "smollm2-135m-instruct",
        "hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "source": "offline-alias",
    }
    meta = hub_metadata("my-org/mix_high_temp@v2", None, alias, {"init": "first_n_layers", "num_layers": 4})
    assert meta == {
        "license": "apache-2.0",
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "datasets": ["my-org/mix_high_temp"],
    }
    pretrained = hub_metadata(
        "mix_high_temp@v1", None, alias, {"init": "pretrained", "model": "JackFram/llama-68m"}
    )
    assert pretrained == {
        "license": "other",
        "base_model": "JackFram/llama-68m",
    }  # not on the Hub: no datasets
