"""distill: train a speculative-decoding draft from a tempdraft dataset id.

    python -m distill validate distill/configs/online_fkl.yaml
    python -m distill train distill/configs/online_fkl.yaml --set dataset.config=t0_7 [--resume]

Writes a `save_pretrained` folder (draft in the teacher's dtype + the teacher's tokenizer) with a card,
`tempdraft-draft.json` (+ README.md): dataset id/version/fingerprint, the rows' generation
temperatures (`kd_temperature` when there is exactly one), mode, divergence, loss temperature,
steps, losses, the held-out learning curve (also `learning_curve.png`), whether early stopping ended
the run or the draft was still improving at its step budget, command and versions. Checkpoints
under `checkpoints/` make `--resume` exact.

Training to convergence (`distill.convergence`): with `run.eval_split` and `run.eval_every` the
held-out loss and teacher-forced alpha per temperature are scored along training; `run.early_stopping`
stops when the watched metric stalls for `patience` evaluations and keeps the best weights.

Modes (`distill.step`): `seqkd` (cross-entropy on teacher samples), `online` (divergence to a live
teacher at a loss temperature), `topk` (divergence to the stored top-k log-probs + a rest bucket).
Divergences (`distill.losses`): FKL, RKL, TVD, JSD(beta) against the mixture m = beta p + (1 - beta) q;
online mode evaluates them blockwise with a closed-form gradient (`distill.fused`), because its
N x 49k elementwise passes, not the matmuls, bound a small draft's step on a GPU.

Why a short loop of our own rather than TRL's GKDTrainer or transformers' Trainer:
- GKDTrainer (TRL, not installed) computes a generalised JSD between full teacher and student
  logits on the fly, with optional on-policy student generations. It has no TVD, no offline top-k
  targets with a tail bucket, no per-row stored temperature, and would add TRL and its pinned
  dependency range for what is ~40 lines of loss code here (`distill.losses`).
- Trainer would give accumulation, bf16 and checkpoints, but all three modes need a custom
  `compute_loss`, custom collation of ragged top-k columns, and the teacher forward inside the loss;
  exact resume would then depend on Trainer's sampler/RNG bookkeeping rather than on our
  deterministic batch order. The loop in `distill.train` is ~60 lines of numbered steps, read top
  to bottom.
What we do take from transformers: models, tokenizers, `save_pretrained`, generation configs.
Scaling past one GPU is torchrun's job (distill/distributed.py, docs/design-notes.md), not this loop's.
"""
