"""Issue 8, the study: do the paper's temperature findings (arXiv 2410.10141) reproduce with tempdraft's own
pipeline? builders (one pool over generation temperatures) -> registry / pool composition (single-temperature
datasets and mixtures, no resampling) -> distill (SeqKD and online token-level KD, same initial draft) ->
evaluate (analytic α from teacher-forced passes, the speculative sampler for empirical speedups).

    # CPU rehearsal (tiny sizes; uses the offline teacher alias of this machine):
    OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python benchmarks/study.py --quick --out runs/study-quick
    .venv/bin/python benchmarks/study.py --quick --domain instructions --grid-seeds 2 --emp-cache static \\
        --out runs/study-quick-instr
    # GPU machine after ../shared/tools/gpu-stage (stage 3 installs the wheels into ~/site):
    export PYTHONPATH=~/site TEMPDRAFT_HOME=~/td PYTHONUNBUFFERED=1
    python benchmarks/study.py --prepare-teacher ~/models/SmolLM2-135M-Instruct.Q4_1.gguf \\
        --data ~/data --device cuda --out $OUT --budget-s 520 \\
        [--domain instructions] [--grid-seeds 3] [--emp-cache static --emp-compile] [--size emp_prompts=16]

Domains (--domain): math (default) = GSM8K train prompts -> GSM8K test (in domain), Vicuna first turns (out of
domain). instructions = Dolly-15k prompts (instruction + context, at most `DOLLY_MAX_CHARS` characters,
category-balanced) -> MT-bench + Vicuna first turns (in domain, held out: no prompt shared with the training
file), GSM8K test (out of domain). Both feed the builder's `kind: file` source with a prompt column and a
limit; the instruction files are derived once into --work (name carries their sha256) so that `limit` takes a
balanced prefix (the Dolly file is sorted by category). Every registry name of the instructions domain starts
with `study_instr_`, its drafts live in --work/<quick|full>-instructions, and results.json records the domain.

Plan (sizes in `SIZES`; every number lands in results.json with the seeds and the device):
  1. pool: the domain's train prompts x generation temperatures {0, .2, .4, .6, .8, 1} (builder, transformers
     backend - no vLLM on the GPU machine), registered in the catalog; eval sets: in-domain held-out prompts
     sampled by the teacher at every decoding temperature (held-out teacher samples for the analytic α), and
     the out-of-domain prompts;
  2. SeqKD drafts, one per KD (= generation) temperature and grid seed (--grid-seeds), trained on a
     single-temperature dataset composed from the pool; analytic α (seed mean) on the KD-T x decode-T grid,
     predicted speedup with the cost ratio c measured once by `evaluate.analytic.probe_step_costs`;
  3. online token-level KD (forward KL, loss temperature = KD temperature; 0.1 stands in for 0), same data;
     the grid is trained seed by seed (all of seed 0 first), so a budget cut leaves whole grids;
  4. mixtures (mix_high_temp's weights, uniform, a guess) vs the best single-temperature SeqKD draft at
     decode T 0.8 / 1.0 (picked on the grid's seed mean), `len(seeds)` training seeds each (grid drafts of
     the same name are reused), paired bootstrap of the difference;
  5. out-of-range decoding temperatures 1.2 / 1.5 / 2.0 and the out-of-domain set (analytic);
  6. empirical speedup with `evaluate.specdec.SpeculativeDecoder` (--emp-cache, --emp-compile) on a priority
     list of (draft, T) cells until the time budget runs out (what did not fit is listed under `not_run`):
     mixture arms at 1.0 / 0.8, then for SeqKD and online the ends of the diagonal with their corners
     (KD 0 / KD 1 @ 0, KD 1 / KD 0 @ 1), the rest of the diagonal, and KD 1 @ 1.5 / 2.0; seed-0 drafts.
Every arm: the same first-N-layers initial draft, the same number of training rows and optimizer steps.
α is computed with `evaluate.probs.overlap` on batched teacher-forced passes (teacher logits cached per
temperature and reused by every draft); one cell is cross-checked against `evaluate.analytic.analytic_alpha`.
Bootstrap: 95% percentile intervals over eval prompts (1000 resamples); for seeds, prompts are resampled and
the seed-mean is taken inside each resample.
Findings 2 and 3 are also tested as paired differences over prompts (results.json `paired`): the diagonal
draft against every other KD temperature of its column, and online against SeqKD (on the diagonal and
best-of-column). The empirical phase builds one speculative decoder and swaps each draft's weights into it
(`swap_draft`), so with --emp-compile the graphs are compiled once for all drafts. --skip-empirical stops
after the analytic part; a second run with the same --work reuses pool, eval sets and drafts (builder
fingerprints, draft folders).
Writes into --out: results.json, per_prompt_alpha.json (every draft's per-prompt α), heatmap.png, curves.png,
mixtures.png, empirical.png (and the log, if the caller tees it); --replot redraws the PNGs from results.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

GRID = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
OUT_OF_RANGE = [1.2, 1.5, 2.0]
OOD_TEMPS = [0.0, 0.6, 1.0]
MIXTURES: dict[str, list[dict[str, Any]]] = {
    # recipes/mix_high_temp.yaml's weights, on this pool's grid ({0.7..0.9} holds 0.8 here)
    "mix_high_temp": [
        {"temperatures": [1.0], "weight": 0.40},
        {"temperatures": {"min": 0.7, "max": 0.9}, "weight": 0.35},
        {"temperatures": {"min": 0.0, "max": 0.5}, "weight": 0.25},
    ],
    "uniform": [{"temperatures": [t], "weight": 1} for t in GRID],
    # guess: mostly the serving temperatures, plus greedy rows for the mode
    "guess_high_greedy": [
        {"temperatures": [1.0], "weight": 0.5},
        {"temperatures": [0.8], "weight": 0.3},
        {"temperatures": [0.0], "weight": 0.2},
    ],
}
SIZES = {
    "full": dict(pool_prompts=512, max_new_tokens=128, mix_rows=460, train_rows=380, steps=60, batch=16,
                 lr=1e-3, eval_prompts=64, ood_prompts=64, layers=4, seeds=[0, 1, 2], emp_prompts=8,
                 emp_tokens=64, gen_batch=256, k=4, boots=1000),
    "quick": dict(pool_prompts=12, max_new_tokens=12, mix_rows=10, train_rows=8, steps=2, batch=4,
                  lr=1e-3, eval_prompts=4, ood_prompts=3, layers=2, seeds=[0, 1], emp_prompts=2,
                  emp_tokens=8, gen_batch=64, k=4, boots=200),
}
T0 = time.time()
DOLLY_MAX_CHARS = 1200  # instruction + context; prompt + 128 response tokens stay under distill's max_length
DOMAIN_LABEL = {"math": "GSM8K test", "instructions": "MT-bench + Vicuna first turns (held out)"}


def log(msg: str) -> None:
    print(f"[study {time.time() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def key(t: float) -> str:
    return f"{t:g}"


# ----------------------------------------------------------------------------- teacher / builders
def prepare_teacher(gguf: Path) -> None:
    """Convert the staged GGUF into $TEMPDRAFT_HOME/teachers/<alias> so the offline alias resolves."""
    from core.home import tempdraft_home
    from core.teacher import OFFLINE_TEACHERS, _convert_gguf

    alias = "smollm2-135m-instruct"
    spec = OFFLINE_TEACHERS[alias]
    dest = tempdraft_home() / "teachers" / alias
    if (dest / "tempdraft-teacher.json").is_file():
        return
    _convert_gguf(gguf, dest)
    (dest / "tempdraft-teacher.json").write_text(json.dumps(
        {"alias": alias, "package": spec.package, "gguf_sha256": spec.sha256,
         "hub_equivalent": spec.hub_equivalent}, indent=2))
    log(f"teacher converted into {dest}")


def build(recipe: dict[str, Any], work: Path) -> tuple[Path, str | None]:
    """Write the recipe as YAML (kept for re-runs) and run it through the builder's own entry point."""
    import yaml

    from builders.build import run_build
    from builders.config import load_recipe

    path = work / "recipes" / f"{recipe['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    result = run_build(load_recipe(path), path.parent, ["run", str(path)])
    assert result.path is not None
    return Path(result.path), result.version


def sampling_recipe(name: str, source: dict[str, Any], temps: list[float], sz: dict, device: str,
                    validation_fraction: float, dtype: str = "bfloat16") -> dict[str, Any]:
    return {
        "name": name, "seed": 1234,
        "teacher": {"model": "smollm2-135m-instruct", "dtype": dtype},
        "sources": [source],
        "sampling": {"temperatures": temps, "samples_per_prompt": 1, "max_new_tokens": sz["max_new_tokens"],
                     "top_p": 1.0},
        "engine": {"backend": "transformers", "device": device, "batch_size": sz["gen_batch"]},
        "output": {"shard_size": 4096, "validation_fraction": validation_fraction},
    }


# ----------------------------------------------------------------------------- domains
def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _round_robin(rows: list[dict[str, Any]], group) -> list[dict[str, Any]]:
    """Interleave groups (sorted by name, each in file order) so that every prefix is balanced across them."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(group(r), []).append(r)
    queues = [groups[g] for g in sorted(groups)]
    out: list[dict[str, Any]] = []
    for i in range(max(map(len, queues), default=0)):
        out += [q[i] for q in queues if i < len(q)]
    return out


def _write_once(folder: Path, stem: str, rows: list[dict[str, Any]]) -> Path:
    """JSONL named by its content hash: a changed selection never reuses a build of the old one."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path = folder / f"{stem}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.jsonl"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.rename(path)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def instruction_files(data: Path, folder: Path) -> dict[str, Any]:
    """Derive the instruction domain's train and in-domain eval files from ../shared/data.

    train: Dolly-15k, prompt = instruction + "\\n\\n" + context (when non-empty), at most DOLLY_MAX_CHARS
    characters, de-duplicated, minus every prompt (or bare instruction) that equals an eval prompt or a GSM8K
    test question after whitespace/case normalisation; categories interleaved (the file is sorted by
    category).
    eval: MT-bench first turns + Vicuna questions, de-duplicated (2 are in both), minus any that appear in the
    whole Dolly file; (source, category) groups interleaved so that the first N prompts cover both sets.
    """
    dolly_src = data / "databricks_dolly_15k" / "databricks-dolly-15k.reassembled.jsonl"
    mt_src = data / "mt_bench" / "question.jsonl"
    vic_src = data / "vicuna_bench" / "question.jsonl"
    gsm_test = data / "gsm8k" / "test.jsonl"
    dolly = _read_jsonl(dolly_src)
    dolly_texts: set[str] = set()
    for r in dolly:
        dolly_texts.add(_norm(r["instruction"]))
        dolly_texts.add(_norm(f"{r['instruction'].strip()}\n\n{r['context'].strip()}"))
    evals, seen, dup, in_train = [], set(), 0, 0
    for src, path in (("mt_bench", mt_src), ("vicuna_bench", vic_src)):
        for r in _read_jsonl(path):
            text = r["turns"][0].strip()
            if _norm(text) in seen:
                dup += 1
                continue
            if _norm(text) in dolly_texts:
                in_train += 1
                continue
            seen.add(_norm(text))
            evals.append({"prompt": text, "source": src, "category": r.get("category"),
                          "question_id": r.get("question_id")})
    evals = _round_robin(evals, lambda r: f"{r['source']}/{r['category']}")
    held_out = seen | {_norm(r["question"]) for r in _read_jsonl(gsm_test)}
    train, tseen, too_long, leaked, tdup = [], set(), 0, 0, 0
    for i, r in enumerate(dolly):
        instr, ctx = r["instruction"].strip(), r["context"].strip()
        text = f"{instr}\n\n{ctx}" if ctx else instr
        if len(text) > DOLLY_MAX_CHARS:
            too_long += 1
            continue
        if _norm(text) in held_out or _norm(instr) in held_out:
            leaked += 1
            continue
        if _norm(text) in tseen:
            tdup += 1
            continue
        tseen.add(_norm(text))
        train.append({"prompt": text, "category": r["category"], "dolly_line": i + 1})
    train = _round_robin(train, lambda r: r["category"])
    overlap = len({_norm(r["prompt"]) for r in train} & held_out)
    assert overlap == 0, f"{overlap} training prompts are eval prompts"
    return {
        "train": _write_once(folder, "dolly_train", train),
        "eval": _write_once(folder, "mtbench_vicuna_eval", evals),
        "ood": gsm_test,
        "provenance": {
            "train_source": {"path": str(dolly_src), "sha256": _sha256(dolly_src), "records": len(dolly)},
            "train_rule": f"instruction + context, <= {DOLLY_MAX_CHARS} chars, de-duplicated, held-out "
                          "prompts removed, categories interleaved (round robin, file order within each)",
            "train_rows": len(train),
            "train_dropped": {"too_long": too_long, "equal_to_eval_or_gsm8k_test": leaked, "duplicate": tdup},
            "eval_sources": {str(p): _sha256(p) for p in (mt_src, vic_src)},
            "eval_rows": len(evals), "eval_dropped": {"duplicate_across_sets": dup, "in_dolly": in_train},
            "eval_rule": "MT-bench turn 1 + Vicuna; (source, category) groups interleaved",
            "ood_source": {"path": str(gsm_test), "sha256": _sha256(gsm_test)},
            "train_eval_overlap": overlap,
        },
    }


def domain_setup(domain: str, data: Path, work: Path, sz: dict) -> dict[str, Any]:
    """Registry names and `kind: file` sources of the domain (math: exactly the first run's)."""
    if domain == "math":
        gsm = data / "gsm8k"
        return {
            "prefix": "study_",
            "eval_name": "study_eval_gsm8k_test", "ood_name": "study_eval_vicuna",
            "train": {"kind": "file", "path": str(gsm / "train.jsonl"), "prompt_column": "question",
                      "limit": sz["pool_prompts"]},
            "eval": {"kind": "file", "path": str(gsm / "test.jsonl"), "prompt_column": "question",
                     "limit": sz["eval_prompts"]},
            "ood": {"kind": "file", "path": str(data / "vicuna_bench" / "question.jsonl"),
                    "prompt_column": "turns", "limit": sz["ood_prompts"]},
            "description": {"train": "GSM8K train", "eval": "GSM8K test", "ood": "Vicuna-bench first turns"},
        }
    files = instruction_files(data, work / "data")
    return {
        "prefix": "study_instr_",
        "eval_name": "study_instr_eval_mtbench_vicuna", "ood_name": "study_instr_ood_gsm8k_test",
        "train": {"kind": "file", "path": str(files["train"]), "prompt_column": "prompt",
                  "limit": sz["pool_prompts"]},
        "eval": {"kind": "file", "path": str(files["eval"]), "prompt_column": "prompt",
                 "limit": sz["eval_prompts"]},
        "ood": {"kind": "file", "path": str(files["ood"]), "prompt_column": "question",
                "limit": sz["ood_prompts"]},
        "description": {"train": "Dolly-15k (instruction + context)",
                        "eval": "MT-bench first turns + Vicuna-bench (held out)", "ood": "GSM8K test"},
        "provenance": files["provenance"],
    }


# ----------------------------------------------------------------------------- distill
def train_draft(name: str, dataset: Path, mode: str, kd_t: float | None, seed: int, sz: dict, work: Path,
                device: str) -> dict[str, Any]:
    """`python -m distill train` in-process; returns the draft folder and its card's training record."""
    from core.names import DRAFT_CARD_FILE
    from distill.__main__ import main as distill_main

    out = work / "drafts" / name
    if not (out / DRAFT_CARD_FILE).is_file():
        config = "distill/configs/seqkd.yaml" if mode == "seqkd" else "distill/configs/online_fkl.yaml"
        sets = [
            f"dataset.id={dataset}", "dataset.config=mixture", "dataset.split=train",
            f"dataset.max_rows={sz['train_rows']}", f"draft.num_layers={sz['layers']}",
            f"optim.batch_size={sz['batch']}", "optim.grad_accum=1", "optim.epochs=null",
            f"optim.max_steps={sz['steps']}", f"optim.lr={sz['lr']}",
            f"optim.warmup_steps={max(1, sz['steps'] // 10)}", "optim.max_length=512",
            f"run.output_dir={out}", f"run.seed={seed}", "run.checkpoint_every=null", "run.eval_split=null",
            "run.eval_every=null", "run.early_stopping=null",  # the study fixes its step budget
            f"run.log_every={max(1, sz['steps'] // 3)}", f"run.device={device}",
        ]
        if mode == "online":
            sets.append(f"loss.temperature={max(kd_t or 0.0, 0.1)}")
        argv = ["train", str(REPO / config)] + [x for s in sets for x in ("--set", s)]
        rc = distill_main(argv)
        if rc != 0:
            raise RuntimeError(f"distill failed for {name} (rc {rc})")
    card = json.loads((out / DRAFT_CARD_FILE).read_text())
    tr = (card.get("result") or card).get("training") or card.get("training") or {}
    return {"path": str(out), "mode": mode, "kd_temperature": kd_t, "seed": seed,
            "training": {k: tr.get(k) for k in ("steps", "examples", "tokens", "seconds", "first_loss",
                                                  "final_loss", "precision")}}


# ----------------------------------------------------------------------------- evaluate
class TeacherCache:
    """Teacher-forced target logits at the response positions of held-out teacher samples, per temperature."""

    def __init__(self, target, samples: dict[float, list[tuple[list[int], list[int]]]], device, batch: int = 16):
        self.samples, self.device, self.batch = samples, device, batch
        self.logits = {t: self._forward(target, s) for t, s in samples.items()}

    @torch.inference_mode()
    def _forward(self, model, samples) -> list[torch.Tensor]:
        out: list[torch.Tensor] = []
        for i in range(0, len(samples), self.batch):
            chunk = samples[i : i + self.batch]
            seqs = [list(p) + list(r) for p, r in chunk]
            width = max(map(len, seqs))
            ids = torch.zeros(len(seqs), width, dtype=torch.long)
            mask = torch.zeros(len(seqs), width, dtype=torch.long)
            for j, s in enumerate(seqs):
                ids[j, : len(s)] = torch.as_tensor(s)
                mask[j, : len(s)] = 1
            logits = model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
            for j, (p, r) in enumerate(chunk):
                out.append(logits[j, len(p) - 1 : len(p) - 1 + len(r)].clone())
            del logits
        return out

    def betas(self, draft, t: float) -> list[float]:
        """Per-sample mean β (one sample per prompt) of `draft` at decoding temperature t."""
        from evaluate.probs import overlap

        q = self._forward(draft, self.samples[t])
        return [float(overlap(p, qq, t).double().mean()) if len(p) else float("nan")
                for p, qq in zip(self.logits[t], q, strict=True)]


def boot_ci(per_prompt: list[list[float]], stat, n: int, rng: random.Random) -> list[float]:
    """95% percentile interval of stat(resampled columns); per_prompt = one list of values per arm/seed,
    each over the same prompts (resampled jointly, i.e. paired)."""
    m = len(per_prompt[0])
    vals = []
    for _ in range(n):
        idx = [rng.randrange(m) for _ in range(m)]
        vals.append(stat([[col[i] for i in idx] for col in per_prompt]))
    vals = sorted(v for v in vals if not math.isnan(v))
    if not vals:
        return [float("nan"), float("nan")]
    return [vals[int(0.025 * (len(vals) - 1))], vals[int(0.975 * (len(vals) - 1))]]


def mean(xs) -> float:
    xs = [x for x in xs if not math.isnan(x)]
    return sum(xs) / len(xs) if xs else float("nan")


def seed_mean_alpha(cols: list[list[float]]) -> float:
    return mean([mean(c) for c in cols])


def paired_gain(a_cols: list[list[float]], b_cols: list[list[float]], k: int, c: float, boots: int,
                rng: random.Random) -> dict[str, Any]:
    """Arm A against arm B on the same prompts (one list of per-prompt α per seed): the difference of the
    seed-mean α and the relative gain in predicted speedup, with 95% paired bootstrap intervals (prompts
    resampled jointly for both arms, seed means taken inside each resample). The gain's sign does not depend
    on c; its size does, a little."""
    import numpy as np

    from evaluate.costmodel import predicted_speedup

    a, b = np.asarray(a_cols, dtype=float), np.asarray(b_cols, dtype=float)
    idx = np.random.default_rng(rng.randrange(2**32)).integers(0, a.shape[1], size=(boots, a.shape[1]))
    with np.errstate(all="ignore"):
        a_boot = np.nanmean(np.nanmean(a[:, idx], axis=2), axis=0)  # [boots]
        b_boot = np.nanmean(np.nanmean(b[:, idx], axis=2), axis=0)
    speed = np.vectorize(lambda x: predicted_speedup(float(x), k, c))
    gain_boot = speed(a_boot) / speed(b_boot) - 1
    a_mean, b_mean = seed_mean_alpha(a_cols), seed_mean_alpha(b_cols)

    def ci(xs) -> list[float]:
        return [float(np.nanpercentile(xs, 2.5)), float(np.nanpercentile(xs, 97.5))]

    return {"speedup_gain": predicted_speedup(a_mean, k, c) / predicted_speedup(b_mean, k, c) - 1,
            "speedup_gain_ci": ci(gain_boot), "alpha_diff": a_mean - b_mean,
            "alpha_diff_ci": ci(a_boot - b_boot)}


# ----------------------------------------------------------------------------- plots
def plots(res: dict[str, Any], out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    grid = res.get("grid", {})
    panels = [m for m in ("seqkd", "online") if m in grid]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
        for ax, mode in zip(axes[0], panels, strict=True):
            kd_ts = sorted(grid[mode], key=float)
            dec_ts = [key(t) for t in GRID + OUT_OF_RANGE if key(t) in grid[mode][kd_ts[0]]]
            mat = [[grid[mode][k][d]["alpha"] for d in dec_ts] for k in kd_ts]
            im = ax.imshow(mat, cmap="viridis", aspect="auto", origin="lower")
            for i, row in enumerate(mat):
                for j, v in enumerate(row):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white")
            for j in range(len(dec_ts)):
                best = max(range(len(kd_ts)), key=lambda r: mat[r][j])
                ax.add_patch(plt.Rectangle((j - 0.5, best - 0.5), 1, 1, fill=False, ec="red", lw=1.5))
            ax.set_xticks(range(len(dec_ts)), dec_ts)
            ax.set_yticks(range(len(kd_ts)), kd_ts)
            ax.set_xlabel("decoding temperature")
            ax.set_ylabel("KD temperature" + (" (gen T = loss T)" if mode == "online" else " (generation T)"))
            n_seeds = max(grid[mode][k][d].get("n_seeds", 1) for k in kd_ts for d in dec_ts)
            seeds_note = f", mean of {n_seeds} seeds" if n_seeds > 1 else ""
            ax.set_title(f"{mode}: analytic α{seeds_note} (red box: best KD-T per column)",
                         fontsize=10 if n_seeds > 1 else None)
            fig.colorbar(im, ax=ax)
        fig.tight_layout()
        fig.savefig(out / "heatmap.png", dpi=90)
        plt.close(fig)
    curves = res.get("curves", {})
    if curves:
        fig, axes = plt.subplots(1, 2, figsize=(13, 5))
        for name, c in curves.items():
            ts = sorted(c, key=float)
            xs = [float(t) for t in ts]
            for ax, field in zip(axes, ("alpha", "predicted_speedup"), strict=True):
                ys = [c[t][field] for t in ts]
                lo = [c[t][field + "_ci"][0] for t in ts]
                hi = [c[t][field + "_ci"][1] for t in ts]
                ax.plot(xs, ys, marker="o", ms=3, label=name)
                ax.fill_between(xs, lo, hi, alpha=0.15)
        c_probe = res.get("cost_probe", {}).get("c", float("nan"))
        for ax, lab in zip(axes, ("analytic α", f"predicted speedup (k = {res.get('sizes', {}).get('k')}, "
                                                f"c = {c_probe:.3f} from the probe)"), strict=True):
            ax.axvline(1.0, color="grey", ls=":")
            ax.set_xlabel("decoding temperature")
            ax.set_ylabel(lab)
            ax.legend(fontsize=6)
        axes[1].axhline(1.0, color="grey", ls="--")
        fig.suptitle(f"{res.get('eval_label', 'GSM8K test')}: α and speedup vs decoding temperature "
                     "(95% bootstrap CI)")
        fig.tight_layout()
        fig.savefig(out / "curves.png", dpi=90)
        plt.close(fig)
    emp_plot(res, out, plt)
    mix = res.get("mixtures", {}).get("arms")
    if mix:
        dec = list(next(iter(mix.values())).keys())
        fig, ax = plt.subplots(figsize=(8, 4.5))
        names = list(mix)
        width = 0.8 / len(dec)
        for j, d in enumerate(dec):
            ys = [mix[n][d]["predicted_speedup"] for n in names]
            err = [[ys[i] - mix[n][d]["predicted_speedup_ci"][0] for i, n in enumerate(names)],
                   [mix[n][d]["predicted_speedup_ci"][1] - ys[i] for i, n in enumerate(names)]]
            ax.bar([i + j * width for i in range(len(names))], ys, width, yerr=err, capsize=3,
                   label=f"decode T={d}")
        ax.set_xticks([i + width * (len(dec) - 1) / 2 for i in range(len(names))], names, fontsize=8)
        ax.set_ylabel("predicted speedup (seed mean, 95% CI)")
        top = max(mix[n][d]["predicted_speedup_ci"][1] for n in names for d in dec)
        ax.set_ylim(0.9, top + 0.05)
        ax.legend()
        ax.set_title("Mixtures vs best single-temperature SeqKD draft")
        fig.tight_layout()
        fig.savefig(out / "mixtures.png", dpi=90)
        plt.close(fig)


def emp_plot(res: dict[str, Any], out: Path, plt) -> None:
    """empirical.png: measured speedup against the cost model's prediction from the sampler's own α and c, and
    the sampler's α against the analytic α of the same draft (the diagonal = perfect agreement)."""
    cells = [(n, t, v) for n, by_t in res.get("empirical", {}).items() for t, v in by_t.items()]
    if not cells:
        return
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    for mode, marker in (("seqkd", "o"), ("online", "s")):
        mine = [(n, t, v) for n, t, v in cells if n.startswith(mode)]
        if not mine:
            continue
        temps = [float(t) for _, t, _ in mine]
        axes[0].errorbar([v["predicted_speedup"] for *_, v in mine], [v["speedup"] for *_, v in mine],
                         yerr=[[v["speedup"] - v["speedup_ci"][0] for *_, v in mine],
                               [v["speedup_ci"][1] - v["speedup"] for *_, v in mine]],
                         fmt="none", ecolor="lightgrey", zorder=1)
        sc = axes[0].scatter([v["predicted_speedup"] for *_, v in mine], [v["speedup"] for *_, v in mine],
                             c=temps, cmap="plasma", vmin=0, vmax=2, marker=marker, label=mode, zorder=2)
        axes[1].errorbar([v["analytic_alpha_same_draft"] for *_, v in mine], [v["alpha"] for *_, v in mine],
                         yerr=[[v["alpha"] - v["alpha_ci"][0] for *_, v in mine],
                               [v["alpha_ci"][1] - v["alpha"] for *_, v in mine]],
                         fmt="none", ecolor="lightgrey", zorder=1)
        axes[1].scatter([v["analytic_alpha_same_draft"] for *_, v in mine], [v["alpha"] for *_, v in mine],
                        c=temps, cmap="plasma", vmin=0, vmax=2, marker=marker, label=mode, zorder=2)
    labels = (("predicted speedup (sampler's α and c)", "measured speedup (95% CI)"),
              ("analytic α, same draft (64 prompts)", "sampler's α (95% CI)"))
    for ax, (xl, yl) in zip(axes, labels, strict=True):
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], color="grey", ls=":")
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.legend(fontsize=8)
    fig.colorbar(sc, ax=axes, label="decoding temperature")
    dec = res.get("empirical_decoder", {})
    fig.suptitle(f"Speculative sampler, {dec.get('prompts')} prompts × {dec.get('new_tokens')} tokens, "
                 f"cache {dec.get('cache')}, compile {dec.get('compile')}")
    fig.savefig(out / "empirical.png", dpi=90)
    plt.close(fig)


# ----------------------------------------------------------------------------- main
def user_path(text: str) -> Path:
    """Path arguments expand `~`: a quoted "~/data" reaches us unexpanded (round 3's first run failed so)."""
    return Path(text).expanduser()


def parse_size(text: str) -> tuple[str, Any]:
    k, sep, v = text.partition("=")
    if not sep or k not in SIZES["full"]:
        raise argparse.ArgumentTypeError(f"--size KEY=VALUE with KEY in {sorted(SIZES['full'])}")
    try:
        return k, json.loads(v)
    except json.JSONDecodeError:
        raise argparse.ArgumentTypeError(f"--size {k}: value {v!r} is not a number or JSON list") from None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes: end to end on CPU in a few minutes")
    ap.add_argument("--out", required=True, type=user_path, help="results.json and PNGs")
    ap.add_argument("--work", type=user_path, default=user_path("~/.cache/tempdraft-study"),
                    help="recipes, drafts (kept for a re-run in the same place)")
    ap.add_argument("--data", type=user_path, default=REPO.parent / "shared" / "data",
                    help="folder of gsm8k/, vicuna_bench/ (+ databricks_dolly_15k/, mt_bench/: instructions)")
    ap.add_argument("--domain", default="math", choices=["math", "instructions"],
                    help="math: GSM8K train -> GSM8K test, Vicuna out of domain; instructions: Dolly-15k -> "
                         "MT-bench + Vicuna (held out), GSM8K test out of domain")
    ap.add_argument("--grid-seeds", type=int, default=1,
                    help="training seeds per grid cell (seqkd and online, every KD T); tables use seed means")
    ap.add_argument("--emp-cache", default="dynamic", choices=["dynamic", "static"],
                    help="KV cache of the empirical decoders")
    ap.add_argument("--emp-compile", action="store_true",
                    help="torch.compile the empirical decoders' decode forwards (needs --emp-cache static)")
    ap.add_argument("--size", type=parse_size, action="append", default=[], metavar="KEY=VALUE",
                    help="override one entry of SIZES (e.g. emp_prompts=16); repeatable")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--budget-s", type=float, default=1e9, help="stop starting new work after this many seconds")
    ap.add_argument("--prepare-teacher", type=user_path, default=None,
                    help="staged GGUF to convert for the alias")
    ap.add_argument("--skip-online", action="store_true")
    ap.add_argument("--replot", action="store_true",
                    help="only redraw the PNGs in --out from its results.json (e.g. after a plot change)")
    ap.add_argument("--skip-empirical", action="store_true",
                    help="stop after the analytic part (a later run with the same --work reuses the drafts)")
    args = ap.parse_args()
    if args.replot:
        plots(json.loads((args.out / "results.json").read_text()), args.out)
        return 0
    if args.emp_compile and args.emp_cache != "static":
        ap.error("--emp-compile needs --emp-cache static")
    if args.grid_seeds < 1:
        ap.error("--grid-seeds must be >= 1")
    sz = dict(SIZES["quick" if args.quick else "full"])
    sz.update(dict(args.size))
    grid_seeds = list(range(args.grid_seeds))
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    from core.hardware import auto_dtype
    from evaluate.env import environment

    dtype = auto_dtype(device)  # bfloat16 on GPUs (as in the first run); float32 on AVX2-only CPUs
    args.out.mkdir(parents=True, exist_ok=True)
    size_name = "quick" if args.quick else "full"
    work = args.work / (size_name if args.domain == "math" else f"{size_name}-{args.domain}")
    work.mkdir(parents=True, exist_ok=True)
    os.chdir(REPO)  # distill config paths and the builder's relative paths
    if args.prepare_teacher:
        prepare_teacher(args.prepare_teacher)
    torch.manual_seed(0)
    rng = random.Random(0)
    dom = domain_setup(args.domain, args.data, work, sz)
    prefix = dom["prefix"]

    res: dict[str, Any] = {
        "command": " ".join(sys.argv), "quick": args.quick, "sizes": sz, "grid_temperatures": GRID,
        "domain": args.domain, "domain_data": {k: dom[k] for k in ("train", "eval", "ood", "description")}
        | ({"provenance": dom["provenance"]} if "provenance" in dom else {}),
        "eval_label": DOMAIN_LABEL[args.domain], "grid_seeds": grid_seeds,
        "empirical_decoder": {"cache": args.emp_cache, "compile": args.emp_compile},
        "dtype": dtype,
        "environment": environment(device),
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "backend_note": "builder engine: transformers (no vLLM on the GPU machine)", "not_run": [],
        "phase_s": {},
    }

    per_prompt: dict[str, dict[str, list[float]]] = {}  # draft name -> decode T -> per-prompt α
    ood_pp: dict[str, dict[str, list[float]]] = {}
    pp_saved = {"drafts": -1}  # per-prompt α only grows by whole drafts: rewrite it only when one was added

    def save() -> None:
        res["wall_s"] = time.time() - T0
        from evaluate.report import json_safe

        (args.out / "results.json").write_text(json.dumps(json_safe(res), indent=1))
        # Every draft's per-prompt α (prompt order of the eval sets), for paired comparisons done later.
        if len(per_prompt) != pp_saved["drafts"]:
            rounded = {part: {n: {t: [round(x, 5) for x in xs] for t, xs in v.items()} for n, v in pp.items()}
                       for part, pp in (("in_domain", per_prompt), ("out_of_domain", ood_pp))}
            (args.out / "per_prompt_alpha.json").write_text(json.dumps(json_safe(rounded)))
            pp_saved["drafts"] = len(per_prompt)
        try:
            plots(res, args.out)
        except Exception as e:  # a plot must never lose the numbers
            log(f"plot failed: {type(e).__name__}: {e}")

    def over() -> bool:
        return time.time() - T0 > args.budget_s

    def phase(name: str) -> None:
        res["phase_s"][name] = round(time.time() - T0, 1)
        log(f"phase {name} ended")

    # 1. Pool + eval sets (builder, registered in the catalog).
    pool, pool_ref = build(sampling_recipe(f"{prefix}pool", dom["train"], GRID, sz, device, 0.1, dtype), work)
    log(f"pool {pool_ref} at {pool}")
    phase("pool")
    eval_temps = GRID + OUT_OF_RANGE
    evalset, eval_ref = build(
        sampling_recipe(dom["eval_name"], dom["eval"], eval_temps, sz, device, 0.0, dtype), work)
    oodset, ood_ref = build(
        sampling_recipe(dom["ood_name"], dom["ood"], OOD_TEMPS, sz, device, 0.0, dtype), work)
    res["datasets"] = {"pool": {"ref": pool_ref, "path": str(pool)}, "eval": eval_ref, "ood": ood_ref}
    res["datasets"]["pool_manifest_counts"] = json.loads((pool / "manifest.json").read_text()).get("counts")
    log(f"eval sets {eval_ref}, {ood_ref}")
    phase("eval_sets")

    # 2-4 data: single-temperature datasets and mixtures composed from the pool (no resampling).
    def compose(name: str, components: list[dict[str, Any]]) -> Path:
        mixture: dict[str, Any] = {"total_rows": sz["mix_rows"], "components": components}
        if args.quick:  # 12-token responses: many low-T rows equal the greedy one and are de-duplicated away
            mixture["replacement"] = True
        path, ref = build({"name": name, "seed": 1234, "pool": str(pool), "mixture": mixture}, work)
        res.setdefault("composed", {})[name] = ref
        return path

    single = {t: compose(f"{prefix}single_t{key(t).replace('.', '_')}", [{"temperatures": [t], "weight": 1}])
              for t in GRID}
    mixes = {n: compose(f"{prefix}{n}", comps) for n, comps in MIXTURES.items()}
    phase("compose")
    save()

    # Target, eval samples, teacher logit caches, cost ratio c.
    from transformers import AutoTokenizer

    from core.teacher import resolve_teacher
    from distill.models import first_n_layers
    from evaluate.analytic import analytic_alpha
    from evaluate.costprobe import probe_step_costs
    from evaluate.costmodel import predicted_speedup
    from evaluate.prompts import load_prompt_set
    from evaluate.sweep import load_model

    tpath = resolve_teacher("smollm2-135m-instruct").path
    tok = AutoTokenizer.from_pretrained(tpath)
    target = load_model(tpath, device, dtype)
    ps = load_prompt_set(str(evalset), tok, sz["eval_prompts"], "train")
    ood = load_prompt_set(str(oodset), tok, sz["ood_prompts"], "train")
    samples = {t: ps.samples_at(t, sz["eval_prompts"]) for t in eval_temps}
    ood_samples = {t: ood.samples_at(t, sz["ood_prompts"]) for t in OOD_TEMPS}
    cache = TeacherCache(target, samples, device)
    ood_cache = TeacherCache(target, ood_samples, device)
    res["eval_samples"] = {key(t): {"samples": len(s), "positions": sum(len(r) for _, r in s)}
                           for t, s in samples.items()}
    init = first_n_layers(target, sz["layers"])
    probe = probe_step_costs(target, init, ps.prompts[0], steps=32)
    c = probe["c"]
    res["cost_probe"] = probe
    log(f"cost ratio c = {c:.3f} (k = {sz['k']})")

    drafts: dict[str, dict[str, Any]] = {}

    def score(name: str, model) -> None:
        per_prompt[name] = {key(t): cache.betas(model, t) for t in eval_temps}
        ood_pp[name] = {key(t): ood_cache.betas(model, t) for t in OOD_TEMPS}

    def summarize(cols: list[list[float]]) -> dict[str, Any]:
        a = seed_mean_alpha(cols)
        ci = boot_ci(cols, seed_mean_alpha, sz["boots"], rng)
        return {"alpha": a, "alpha_ci": ci, "predicted_speedup": predicted_speedup(a, sz["k"], c),
                "predicted_speedup_ci": [predicted_speedup(x, sz["k"], c) for x in ci], "n_prompts": len(cols[0]),
                "n_seeds": len(cols)}

    score("init (untrained first-N layers)", init.to(device))
    del init
    phase("teacher_cache")

    def paired(a_names: list[str], b_names: list[str], d: float) -> dict[str, Any]:
        return paired_gain([per_prompt[n][key(d)] for n in a_names], [per_prompt[n][key(d)] for n in b_names],
                           sz["k"], c, sz["boots"], rng) | {"a": a_names, "b": b_names}

    def load_and_score(name: str, info: dict[str, Any]) -> None:
        drafts[name] = info
        model = load_model(info["path"], device, dtype)
        score(name, model)
        del model

    # 2-3. The KD-T x decode-T grids, seed by seed (a budget cut leaves whole grids of fewer seeds).
    modes = ["seqkd"] + ([] if args.skip_online else ["online"])

    def grid_names(m: str, t: float) -> list[str]:
        return [n for n in (f"{m}_kd{key(t)}_s{s}" for s in grid_seeds) if n in per_prompt]

    def grid_cell(m: str, t: float, d: float) -> dict[str, Any]:
        names = grid_names(m, t)
        return summarize([per_prompt[n][key(d)] for n in names]) | {
            "seeds": [drafts[n]["seed"] for n in names], "drafts": names}

    for s in grid_seeds:
        for mode in modes:
            for t in GRID:
                if over():
                    res["not_run"].append(f"{mode} KD T={t}" + (f" seed {s}" if s else ""))
                    continue
                name = f"{mode}_kd{key(t)}_s{s}"
                load_and_score(name, train_draft(name, single[t], mode, t, s, sz, work, device))
                log(f"trained + scored {name}: α@T=kd {mean(per_prompt[name][key(t)]):.3f}")
            res["grid"] = {m: {key(t): {key(d): grid_cell(m, t, d) for d in eval_temps}
                               for t in GRID if grid_names(m, t)} for m in modes}
            res["grid"] = {m: g for m, g in res["grid"].items() if g}
            save()
    phase("grid")

    # Cross-check the batched α against evaluate.analytic.analytic_alpha on one cell.
    name = "seqkd_kd1_s0" if "seqkd_kd1_s0" in drafts else next(iter(drafts), None)
    if name:
        m = load_model(drafts[name]["path"], device, dtype)
        ref = analytic_alpha(target, m, samples[1.0][: min(8, len(samples[1.0]))], 1.0)
        mine = mean([b for b in per_prompt[name]["1"][: min(8, len(samples[1.0]))]])
        res["analytic_crosscheck"] = {"draft": name, "T": 1.0, "evaluate.analytic_alpha": ref.alpha,
                                      "study_batched_mean_of_prompt_means": mine,
                                      "note": "pooled-over-positions vs mean of per-prompt means; close, not equal"}
        del m

    # 4. Mixtures vs the best single-temperature SeqKD draft (picked on the grid's seed mean), all seeds.
    seeds = sz["seeds"]
    seq_grid = res.get("grid", {}).get("seqkd", {})
    best = {}
    for d in (0.8, 1.0):
        if seq_grid:
            best[key(d)] = max(seq_grid, key=lambda t: seq_grid[t][key(d)]["alpha"])
    if len(grid_seeds) == 1:
        res["best_single_seed0"] = best
    res["best_single"] = {"kd": best, "picked_on": f"grid α, mean of seeds {grid_seeds}"}
    arms: dict[str, list[str]] = {}
    for kd in sorted(set(best.values()), key=float):
        arms[f"single_t{kd}"] = [f"seqkd_kd{kd}_s0"]
        for s in seeds[1:]:
            n = f"seqkd_kd{kd}_s{s}"
            if n in per_prompt:  # trained by the grid (same dataset, mode and seed)
                arms[f"single_t{kd}"].append(n)
                continue
            if over():
                res["not_run"].append(n)
                continue
            load_and_score(n, train_draft(n, single[float(kd)], "seqkd", float(kd), s, sz, work, device))
            arms[f"single_t{kd}"].append(n)
    for mix, path in mixes.items():
        arms[mix] = []
        for s in seeds:
            n = f"seqkd_{mix}_s{s}"
            if over():
                res["not_run"].append(n)
                continue
            load_and_score(n, train_draft(n, path, "seqkd", None, s, sz, work, device))
            arms[mix].append(n)
        log(f"mixture {mix}: seeds {arms[mix]}")
    mixres: dict[str, Any] = {"arms": {}, "vs_best_single": {}, "seeds": seeds}
    for arm, names in arms.items():
        if names:
            mixres["arms"][arm] = {key(d): summarize([per_prompt[n][key(d)] for n in names]) | {"drafts": names}
                                   for d in (0.8, 1.0, *OUT_OF_RANGE)}
    for d in (0.8, 1.0):
        base = f"single_t{best.get(key(d))}"
        if base not in arms or not arms[base]:
            continue
        for arm, names in arms.items():
            if arm != base and names:
                mixres["vs_best_single"].setdefault(key(d), {})[arm] = {"baseline": base} | paired(
                    names, arms[base], d)
    res["mixtures"] = mixres
    res["drafts"] = drafts
    phase("mixtures")

    # Findings 2 and 3 as paired differences over prompts (grid CIs alone are per cell and unpaired).
    # diagonal_vs_kd[mode][decode T][KD T]: the diagonal draft (KD T = decode T) minus another KD T's draft.
    # online_vs_seqkd[decode T]: on the diagonal, and between each mode's best KD T for that column (picked
    # on the same data, so slightly optimistic for both sides).
    pairs: dict[str, Any] = {"diagonal_vs_kd": {}, "online_vs_seqkd": {}}
    for d in GRID:
        for m in modes:
            if grid_names(m, d):
                pairs["diagonal_vs_kd"].setdefault(m, {})[key(d)] = {
                    key(t): paired(grid_names(m, d), grid_names(m, t), d)
                    for t in GRID if t != d and grid_names(m, t)}
    if len(modes) == 2:
        for d in eval_temps:

            def column_alpha(m: str, t: float, d: float = d) -> float:
                return seed_mean_alpha([per_prompt[n][key(d)] for n in grid_names(m, t)])

            best_kd = {m: max((t for t in GRID if grid_names(m, t)), key=lambda t, m=m: column_alpha(m, t))
                       for m in modes}
            on, sq = grid_names("online", best_kd["online"]), grid_names("seqkd", best_kd["seqkd"])
            row = {"best": paired(on, sq, d) | {"online_kd": best_kd["online"], "seqkd_kd": best_kd["seqkd"]}}
            if d in GRID and grid_names("online", d) and grid_names("seqkd", d):
                row["diagonal"] = paired(grid_names("online", d), grid_names("seqkd", d), d)
            pairs["online_vs_seqkd"][key(d)] = row
    res["paired"] = pairs
    phase("paired")
    # Curves over every decoding temperature (5.: out-of-range included) for the diagonal ends (seed mean) and
    # mixtures.
    curves = {}
    for m in modes:
        for t in (0.0, 1.0):
            names = grid_names(m, t)
            if names:
                label = f"{m} KD T={key(t)}" + (f" ({len(names)} seeds)" if len(names) > 1 else "")
                curves[label] = {key(d): summarize([per_prompt[n][key(d)] for n in names])
                                 for d in eval_temps}
    for arm, names in arms.items():
        if names and not arm.startswith("single"):
            curves[f"{arm} ({len(names)} seeds)"] = {key(d): summarize([per_prompt[n][key(d)] for n in names])
                                                     for d in eval_temps}
    curves["untrained init"] = {key(d): summarize([per_prompt["init (untrained first-N layers)"][key(d)]])
                                for d in eval_temps}
    res["curves"] = curves
    res["out_of_domain"] = {n: {key(t): summarize([v[key(t)]]) for t in OOD_TEMPS} for n, v in ood_pp.items()}
    res["in_domain_all"] = {n: {key(t): summarize([v[key(t)]]) for t in eval_temps} for n, v in per_prompt.items()}
    # Out of domain for every grid cell, seed mean (mixture arms: see out_of_domain per draft).
    res["out_of_domain_grid"] = {
        m: {key(t): {key(o): summarize([ood_pp[n][key(o)] for n in grid_names(m, t)])
                     | {"seeds": [drafts[n]["seed"] for n in grid_names(m, t)]} for o in OOD_TEMPS}
            for t in GRID if grid_names(m, t)} for m in modes}
    phase("analytic_summaries")
    save()
    log("analytic part saved")

    if args.skip_empirical:
        log("done (--skip-empirical)")
        return 0

    # 6. Empirical speedups (speculative sampler) on a priority list, until the budget runs out.
    from evaluate.metrics import speculative_summary, target_alone_summary
    from evaluate.runs import run_prompts
    from evaluate.specdec import AutoregressiveDecoder, SpeculativeDecoder

    cells: list[tuple[str, float]] = []
    for d in (1.0, 0.8):
        cells += [(names[0], d) for arm, names in arms.items() if names]
    # The ends of the diagonal with their corners (findings 2 and 3), then the rest of the diagonal
    # (findings 1-3), then beyond T = 1 (finding 5).
    for d, corner in ((0.0, 1.0), (1.0, 0.0)):
        for m in ("seqkd", "online"):
            cells += [(f"{m}_kd{key(d)}_s0", d), (f"{m}_kd{key(corner)}_s0", d)]
    for t in GRID[1:-1]:
        cells += [(f"{m}_kd{key(t)}_s0", t) for m in ("seqkd", "online")]
    for d in (1.5, 2.0):
        cells += [(f"{m}_kd1_s0", d) for m in ("seqkd", "online")]
    seen, order = set(), []
    for cell in cells:
        if cell[0] in drafts and cell not in seen:
            seen.add(cell)
            order.append(cell)
    prompts = ps.prompts[: sz["emp_prompts"]]
    eos = sorted({int(x) for x in [tok.eos_token_id, *(
        target.generation_config.eos_token_id if isinstance(target.generation_config.eos_token_id, list)
        else [target.generation_config.eos_token_id])] if x is not None})
    max_len = max(map(len, prompts)) + sz["emp_tokens"] + sz["k"] + 2
    res["empirical_decoder"] |= {"max_len": max_len, "k": sz["k"], "prompts": len(prompts),
                                 "new_tokens": sz["emp_tokens"], "order": [f"{n} @ T={d}" for n, d in order]}
    alone: dict[float, Any] = {}
    emp: dict[str, dict[str, Any]] = {}
    # One speculative decoder for every draft: all drafts share one architecture, so each new draft's weights
    # are copied into the decoder's draft (swap_draft) and compiled graphs are built once, not once per draft.
    dec: dict[str, Any] = {"alone": None, "spec": None, "draft": None, "compile": args.emp_compile}

    def run_cell(n: str, d: float) -> None:
        compiled = dec["compile"]
        if d not in alone:
            if dec["alone"] is None:
                dec["alone"] = AutoregressiveDecoder(target, eos, args.emp_cache, max_len, compiled)
            gens = run_prompts(dec["alone"], prompts, sz["emp_tokens"], d, 0)
            alone[d] = (gens, target_alone_summary(gens))
        if dec["draft"] != n:
            draft_model = load_model(drafts[n]["path"], device, dtype)
            if dec["spec"] is None:
                dec["spec"] = SpeculativeDecoder(target, draft_model, sz["k"], eos, args.emp_cache, max_len,
                                                 compiled)
            else:
                dec["spec"].swap_draft(draft_model)
                del draft_model
            dec["draft"] = n
        spec = run_prompts(dec["spec"], prompts, sz["emp_tokens"], d, 0)
        summ = speculative_summary(spec, alone[d][1], sz["k"])
        a_g = alone[d][0]

        def sp(cols) -> float:
            (ad, at, sd, st) = cols
            return (sum(ad) / max(sum(at), 1)) / (sum(sd) / max(sum(st), 1))

        cols = [[g.decode_s for g in a_g], [len(g.tokens) for g in a_g], [g.decode_s for g in spec],
                [len(g.tokens) for g in spec]]
        alpha_pp = [g.betas for g in spec]

        def pooled(cols2) -> float:
            flat = [b for bs in cols2[0] for b in bs]
            return sum(flat) / len(flat) if flat else float("nan")

        emp.setdefault(n, {})[key(d)] = {
            "speedup": summ["speedup"], "speedup_ci": boot_ci(cols, sp, sz["boots"], rng),
            "alpha": summ["alpha"], "alpha_ci": boot_ci([alpha_pp], pooled, sz["boots"], rng),
            "predicted_speedup": summ["predicted_speedup"], "c": summ["c"],
            "block_efficiency": summ["block_efficiency"], "tokens": summ["tokens"],
            "analytic_alpha_same_draft": mean(per_prompt[n][key(d)]),
            "cache": args.emp_cache, "compile": compiled}
        log(f"empirical {n} @ T={d}: speedup {summ['speedup']:.2f}x α {summ['alpha']:.3f}")

    for n, d in order:
        if over():
            res["not_run"].append(f"empirical {n} @ T={d}")
            continue
        try:
            run_cell(n, d)
        except Exception as e:  # keep the analytic results and the cells done so far
            err = f"{type(e).__name__}: {e}"[:800]
            log(f"empirical {n} @ T={d} failed ({'compiled' if dec['compile'] else 'eager'}): {err}")
            res.setdefault("empirical_errors", []).append(
                {"cell": f"{n} @ T={d}", "compile": dec["compile"], "error": err})
            if not dec["compile"]:
                continue
            # A compile failure would repeat in every cell: go on with eager decoders (same cache kind).
            dec.update({"alone": None, "spec": None, "draft": None, "compile": False})
            alone.clear()
            res["empirical_decoder"]["compile_fallback"] = f"eager from {n} @ T={d} on: {err}"
            if over():
                res["not_run"].append(f"empirical {n} @ T={d}")
                continue
            try:
                run_cell(n, d)
            except Exception as e2:
                err = f"{type(e2).__name__}: {e2}"[:800]
                log(f"empirical {n} @ T={d} failed again (eager): {err}")
                res["empirical_errors"].append({"cell": f"{n} @ T={d}", "compile": False, "error": err})
        res["empirical"] = emp
        save()
    res["empirical"] = emp
    phase("empirical")
    save()
    log(f"done; not run: {res['not_run']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
