"""Training refuses a draft or a teacher that is not the dataset's: vocabulary, weights, chat template."""

from __future__ import annotations

import json
import shutil

import pytest

from distill.__main__ import main
from tests.tiny_models import build_tiny_llama, build_tokenizer


@pytest.fixture(scope="module")
def foreign_tokenizer_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("foreign")
    build_tokenizer(folder, vocab_size=900)
    return build_tiny_llama(folder, num_layers=1, tokenizer_dir=folder, train_steps=0)


def test_draft_with_another_vocabulary_is_refused(write_config, foreign_tokenizer_model, capsys):
    path = write_config(draft={"init": "pretrained", "model": str(foreign_tokenizer_model)})
    assert main(["train", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "  - draft.model:" in err and "vocabulary does not match the teacher's" in err


def test_pretrained_draft_sharing_the_tokenizer_trains(write_config, tiny_teacher, tmp_path):
    draft = build_tiny_llama(tmp_path / "own", num_layers=1, tokenizer_dir=tiny_teacher, train_steps=0)
    path = write_config(draft={"init": "pretrained", "model": str(draft)}, optim={"max_steps": 2})
    assert main(["train", "--config", str(path)]) == 0


def test_dataset_of_another_teacher_is_refused(write_config, tiny_teacher, tmp_path, capsys):
    other = build_tiny_llama(tmp_path / "other", num_layers=1, tokenizer_dir=tiny_teacher, train_steps=0)
    path = write_config(teacher={"model": str(other)})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "  - teacher.model:" in err and "revision" in err


def test_teacher_with_another_chat_template_is_refused(write_config, tiny_teacher, tmp_path, capsys):
    # Same weights (same revision), different chat template: the prompts the draft would see at serving
    # time are not the prompts in the dataset.
    copy = tmp_path / "teacher_copy"
    shutil.copytree(tiny_teacher, copy)
    for f in copy.glob("*"):
        if f.name == "chat_template.jinja":
            f.write_text(f.read_text().replace("<|im_start|>", "<|im_start|> "))
        if f.name == "tokenizer_config.json":
            cfg = json.loads(f.read_text())
            if "chat_template" in cfg:
                cfg["chat_template"] = cfg["chat_template"].replace("<|im_start|>", "<|im_start|> ")
                f.write_text(json.dumps(cfg))
    path = write_config(teacher={"model": str(copy)})
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert "tokenizer chat_template_sha256 differs" in err and "revision" not in err
