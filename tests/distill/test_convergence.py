"""Training to convergence: early stopping keeps the best weights, the learning curve lands in the card
and a PNG, a draft still improving at its budget is flagged, and all of it survives --resume."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import matplotlib.image
import torch

from distill.config import load_config
from distill.convergence import Rule, still_improving
from tests.distill.test_train import _weights, run

# Warm-up far past the budget: lr_at(step) = 0.3 * (step + 1) / 400 does not depend on the budget, so
# a shorter run takes exactly the same first steps. The small first steps help, the larger ones then
# hurt: on the tiny dataset held-out loss is best at step 6 and early stopping (patience 3 evaluations
# of every 2 steps) ends the run at step 12.
RAMP = {"lr": 0.3, "warmup_steps": 400, "schedule": "constant", "max_steps": 40}
STOPPING = {"eval_split": "validation", "eval_every": 2, "early_stopping": {"metric": "loss", "patience": 3}}


def card_of(path: Path) -> dict:
    return json.loads((Path(load_config(path).run.output_dir) / "tempdraft-draft.json").read_text())


def test_early_stopping_stops_and_keeps_the_best_weights(write_config, tmp_path, capsys):
    stopped = write_config(
        "seqkd", name="a.yaml", optim=RAMP, run={**STOPPING, "output_dir": str(tmp_path / "a")}
    )
    assert run(stopped) == 0
    err = capsys.readouterr().err
    tr, ev = card_of(stopped)["training"], card_of(stopped)["eval"]

    # 1. It stopped well before the budget, `patience` evaluations after the best one.
    assert tr["stopped_early"] and tr["steps"] < tr["max_steps"] == 40
    best = min(ev["curve"], key=lambda e: e["loss"])
    assert tr["best_step"] == tr["weights_step"] == best["step"] > 0
    assert [e["step"] for e in ev["curve"]][-1] == tr["steps"] == best["step"] + 3 * 2
    assert ev["after"] == best and ev["before"]["step"] == 0
    assert tr["still_improving"] is False and "WARNING" not in err
    assert f"restored the weights of step {best['step']}" in err

    # 2. The saved weights are exactly those of a run that trained best_step steps and stopped there.
    short = write_config(
        "seqkd",
        name="b.yaml",
        optim={**RAMP, "max_steps": best["step"]},
        run={"output_dir": str(tmp_path / "b")},
    )
    assert run(short) == 0
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_resume_keeps_the_curve_and_the_best_weights(write_config, tmp_path):
    # Run A checkpoints at step 10: after its best evaluation (step 6), before it stops (step 12).
    paths = {
        d: write_config("seqkd", name=f"{d}.yaml", optim=RAMP,
                        run={**STOPPING, "output_dir": str(tmp_path / d), "checkpoint_every": 10})
        for d in "ab"
    }  # fmt: skip
    assert run(paths["a"]) == 0
    (tmp_path / "b" / "checkpoints").mkdir(parents=True)
    shutil.copy(tmp_path / "a/checkpoints/step_00000010.pt", tmp_path / "b/checkpoints/")
    assert run(paths["b"], "--resume") == 0

    card_a, card_b = card_of(paths["a"]), card_of(paths["b"])
    assert card_b["eval"]["curve"] == card_a["eval"]["curve"]  # steps 0-10 came from the checkpoint
    assert card_b["training"]["best_step"] == card_a["training"]["best_step"] < 10
    a, b = _weights(tmp_path / "a"), _weights(tmp_path / "b")  # the best weights came from it too
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_still_improving_at_the_budget_is_flagged(write_config, capsys):
    path = write_config("seqkd", optim={"max_steps": 6}, run=STOPPING)
    assert run(path) == 0
    err = capsys.readouterr().err
    card = card_of(path)
    tr, curve = card["training"], card["eval"]["curve"]
    out = Path(load_config(path).run.output_dir)

    # 1. The budget, not the stopping rule, ended the run: flagged in the card, README and console.
    assert not tr["stopped_early"] and tr["steps"] == 6 and tr["still_improving"] is True
    assert "WARNING: still improving" in err and "optim.max_steps" in err
    assert "**still improving**" in (out / "README.md").read_text()

    # 2. The curve: step 0, every 2 steps and the last; loss and alpha per generation temperature.
    assert [e["step"] for e in curve] == [0, 2, 4, 6]
    assert all(set(e["acceptance"]) == {"0.7"} and e["loss"] > 0 for e in curve)
    assert curve[-1]["acceptance"]["0.7"] > curve[0]["acceptance"]["0.7"]
    image = matplotlib.image.imread(out / "learning_curve.png")
    assert image.ndim == 3 and image.shape[1] > image.shape[0] > 200

    # 3. final_loss is the number the last progress line printed, and says which steps it averages.
    printed = re.findall(r"train loss (\d+\.\d+) \(mean of steps (\d+)-(\d+)\)", err)[-1]
    assert f"{tr['final_loss']:.4f}" == printed[0] and tr["final_loss_steps"] == [int(printed[1]), 6]


def test_saves_in_the_serving_dtype(write_config):
    from evaluate.sweep import load_model

    path = write_config("seqkd", optim={"max_steps": 2}, run={"save_dtype": "bfloat16"})
    assert run(path) == 0
    out = Path(load_config(path).run.output_dir)
    assert {t.dtype for t in _weights(out).values()} == {torch.bfloat16}
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert card_of(path)["training"]["save_dtype"] == "bfloat16"
    assert load_model(str(out), "cpu", "float32").dtype == torch.float32  # what evaluate does on AVX2 CPUs


def _curve(*losses: float) -> list[dict]:
    return [{"step": 2 * i, "loss": x, "acceptance": {"0.7": 1 - x / 10}} for i, x in enumerate(losses)]


def test_the_rules_on_hand_made_curves():
    rule = Rule("loss", patience=2, min_delta=0.05, temperature=None)
    # 3.0 -> 2.9 improves; 2.87 is within min_delta of 2.9, so the best stays at index 1.
    assert rule.best_index(_curve(3.0, 2.9, 2.87), [0.7]) == 1 and not rule.should_stop(
        _curve(3.0, 2.9, 2.87), [0.7]
    )
    assert rule.should_stop(_curve(3.0, 2.9, 2.87, 2.88), [0.7])
    alpha = Rule("alpha", patience=1, min_delta=0.0, temperature=0.7)
    assert alpha.best_index(_curve(3.0, 2.0, 2.5), [0.7]) == 1
    default = Rule.of(None)  # no early stopping: was the last held-out loss the best so far?
    assert still_improving(_curve(3.0, 2.9, 2.8), default, [0.7], stopped_early=False, tracked=True) is True
    assert still_improving(_curve(3.0, 2.8, 2.9), default, [0.7], stopped_early=False, tracked=True) is False
    assert still_improving(_curve(3.0, 2.8), default, [0.7], stopped_early=False, tracked=False) is None
