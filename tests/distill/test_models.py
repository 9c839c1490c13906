"""Draft initialisation from the teacher, and logits at response positions only."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from distill.config import FirstLayersDraft, SmallConfigDraft
from distill.data import Example, collate
from distill.models import build_draft, response_logits


def test_first_n_layers_copies_the_teachers_weights(tiny_teacher):
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher, dtype=torch.float32)
    draft = build_draft(FirstLayersDraft(init="first_n_layers", num_layers=2), teacher, seed=0)
    assert draft.config.num_hidden_layers == 2
    t, d = teacher.state_dict(), draft.state_dict()
    assert set(d) == {k for k in t if not k.startswith(("model.layers.2.", "model.layers.3."))}
    assert all(torch.equal(d[k], t[k]) for k in d)


def test_small_config_takes_the_teachers_token_geometry(tiny_teacher):
    teacher = AutoModelForCausalLM.from_pretrained(tiny_teacher, dtype=torch.float32)
    same = build_draft(SmallConfigDraft(init="small_config", num_layers=1), teacher, seed=0)
    assert torch.equal(same.get_input_embeddings().weight, teacher.get_input_embeddings().weight)
    narrow = build_draft(SmallConfigDraft(init="small_config", num_layers=1, hidden_size=64), teacher, seed=0)
    emb = narrow.get_input_embeddings().weight
    assert emb.shape == (teacher.config.vocab_size, 64)
    # The projection keeps the teacher's token similarities better than chance: nearest neighbours agree.
    t = torch.nn.functional.normalize(teacher.get_input_embeddings().weight, dim=-1)
    n = torch.nn.functional.normalize(emb, dim=-1)
    t_nn, n_nn = (t @ t.T).fill_diagonal_(-2).argmax(-1), (n @ n.T).fill_diagonal_(-2).argmax(-1)
    assert (t_nn == n_nn).float().mean() > 0.2


def test_response_logits_equal_the_full_forward(tiny_teacher):
    model = AutoModelForCausalLM.from_pretrained(tiny_teacher, dtype=torch.float32).eval()
    examples = [Example(list(range(5, 17)), 7, 0.7), Example(list(range(30, 39)), 4, 0.7)]
    batch = collate(examples, pad_id=0)
    got = response_logits(model, batch, vocab=model.config.vocab_size)
    full = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[
        batch["target_mask"]
    ]
    assert got.shape == (12 - 7 + 9 - 4, model.config.vocab_size)
    torch.testing.assert_close(got, full)
    # targets line up with the positions: position i predicts token i + 1
    assert batch["targets"][batch["target_mask"]].tolist() == list(range(12, 17)) + list(range(34, 39))
