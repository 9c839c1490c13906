"""The study (docs/study.md, round 4 on): each phase is a list of the product's own commands.

    python benchmarks/study.py PHASE [--quick] [--dry-run] [--out DIR] [--state DIR] [--domain instructions]

    pool        builders run recipes/study/gsm8k_grid.yaml: 3,072 GSM8K train prompts x T 0, .2, ..., 1
    instr-pool  the same on Dolly-15k prompts (= pool --domain instructions; prompt files derived first)
    curve       distill train: learning curves, SeqKD on T = 0 and T = 1 data, online KD on T = 1
    search      evaluate search evaluate/configs/study_search.yaml for --serving-t (1.0, 0.6, ...); --seeds N
                replaces its `seeds: [0, 1, 2]` (round 4 ran one seed: --seeds 1); --modes online: online
                KD candidates (distill/configs/online_fkl.yaml, the online budget, STATE/search-online)
    measure     evaluate run: every search's finalists (--arms fixed: every fixed candidate, the mixtures
                too, at decode T 0 ... 1.0; --part I/N: every N-th of them), compiled sampler at k auto
    ksweep      benchmarks/bench_chained.py: measured tokens per call at k = 1..4 vs the predictions
    grid        KD-T x decode-T: builders run recipes/study/gsm8k_eval.yaml (held-out teacher samples at
                decode T 0 ... 1, 1.2, 1.5, 2.0); per seed (--seeds N --first-seed S) distill train SeqKD
                and online KD on each pool temperature (--parallel N: N at once, logs in OUT/logs/;
                --gpus 0,0,1: round-robin over GPUs; online drafts checkpoint and resume after a cut call);
                evaluate run: analytic α and predicted speedup at k auto per draft and decode T (evaluate
                has no analytic-only mode: the sampler runs beside, at a token size, and its eager probe
                times one round; price the grid with a compiled run's probe: benchmarks/study_grid.py)
    grid-measure  evaluate run: the grid drafts of --modes for each seed (--first-seed S, --seeds N; --part
                I/N: every N-th), compiled sampler at k auto, decode T 0 ... 1.0 on the pool's validation
                prompts (each cell against its own probe's prediction: benchmarks/study_measured.py)
    kcurve      evaluate run --measure-every-k: the KD T 0.8 grid draft of each of --modes (seed --first-seed)
                at decode T 0, 0.6, 1.0 and every k = 1..4, measured against k: auto's predicted curve
    carry-out   each domain's eval set folder copied to OUT/evalsets (bring it back from the device call)
    carry-in    --carry DIR: `registry import` of those folders on a fresh machine, before `grid`, so every
                session's grids score the same held-out samples (a fresh machine re-samples them otherwise)
    merge       OUT/results.json gains the runs of each results.json given (other machines or sessions)

GPU machine (the search needs optuna; wheels land in ~/site, the GGUF in ~/models, data in ~/data; the state
under ~/r4 lives while the machine stays warm; with two GPUs, one phase per GPU through CUDA_VISIBLE_DEVICES,
each with its own --out, as docs/study.md rounds 4c-4d ran them; a grid's trainings over both: --gpus):
    ../shared/tools/gpu-stage optuna==5.0.0 colorlog==6.12.0   # here (in-memory optuna needs no sqlalchemy);
                                                                # then its three calls, back to back
    export PYTHONPATH=~/site; python benchmarks/study.py pool --out $OUT     # on the GPU machine
CPU rehearsal at tiny sizes (state ~/r4-quick):
    .venv/bin/python benchmarks/study.py pool --quick --data ../shared/data --out runs/study-quick
Each phase prints every command it runs (`$ ...`; --dry-run prints only), exits 3 when an earlier phase's
output is missing, appends the output to OUT/<phase>.log, copies what it reports to OUT and records
{commands, rc, device, wall_s, outputs: {file: its JSON}} in OUT/results.json under
runs["<phase>/<domain>[/t<serving T>|/s<seed>]"]. Rounds 1-3 ran an earlier study.py with a pipeline of its
own: `git show d090c07:benchmarks/study.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO, HOME = Path(__file__).resolve().parents[1], Path.home()
TEACHER, CARD = "smollm2-135m-instruct", "tempdraft-draft.json"  # CARD: core.names.DRAFT_CARD_FILE
POOLS = {
    "math": ("study_gsm8k_grid", "study_gsm8k_eval"),
    "instructions": ("study_instr_grid", "study_instr_eval"),
}
DECODE_T = "0,0.2,0.4,0.6,0.8,1.0,1.2,1.5,2.0"  # the grid's decoding temperatures
MEASURE_T = "0,0.2,0.4,0.6,0.8,1.0"  # grid-measure's: the goal (> 1x at T <= 0.6) and up to 1
KD = {"seqkd": "distill/configs/seqkd.yaml", "online": "distill/configs/online_fkl.yaml"}
# The study's distill settings on top of distill/configs/*.yaml: 32-row steps, held-out α every `every`
# steps, early stopping with patience 6 (192 steps at the GPU size).
DISTILL = "optim.batch_size=32 optim.lr=5e-4 optim.max_length=512 optim.warmup_steps=20 run.eval_rows=256 \
run.log_every=64 run.checkpoint_every=null run.early_stopping.patience=6 run.early_stopping.min_delta=0.002"
DOLLY_MAX_CHARS = 1200  # instruction + context: prompt + 128 response tokens stay under optim.max_length
# fmt: off
SIZES = {  # False: GPU sizes (pool ... ksweep: round 4's, study_r4.sh's); True (--quick): CPU rehearsal
    False: dict(prompts=3072, tokens=128, steps=1536, online_steps=3072, checkpoint=256, every=32,
                candidates=12, rows=2048, eval=96, eval_set=64, kd_t=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
                search="",
                measure="--num-prompts 16 --max-new-tokens 128 --cache static --compile true --device cuda",
                ksweep="--device cuda --num-prompts 12 --max-new-tokens 96 --cache static --compile",
                grid="--num-prompts 1 --max-new-tokens 16 --k-max 4 --probe-rounds 1 --device cuda"),
    True: dict(prompts=48, tokens=24, steps=8, online_steps=12, checkpoint=4, every=4, candidates=9, rows=24,
               eval=2, eval_set=4, kd_t=[0.0, 1.0],
               search="cache=dynamic compile=false parallel_trainings=1",  # CPU: eager
               measure="--num-prompts 2 --max-new-tokens 16 --device cpu",
               ksweep="--device cpu --num-prompts 2 --max-new-tokens 16",
               grid="--num-prompts 1 --max-new-tokens 8 --k-max 2 --probe-rounds 1 --device cpu"),
}
# fmt: on


Job = tuple[str, list[str], Path]  # a command line, its further arguments, the file that marks it done


def tag(t: float) -> str:
    return f"{t:.1f}".replace(".", "_")  # the pool's config names: t0_0, t0_4, t1_0


def flags(flag: str, *values: Any) -> list[str]:
    return [x for v in values for x in (flag, str(v))]


def source(path: Path, column: str, limit: int, name: str) -> str:
    return f"{{kind: file, path: {path}, prompt_column: {column}, limit: {limit}, name: {name}}}"


class Study:
    """One phase: its commands, log, copies and results.json entry (one entry per grid seed)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args, self.sz, self.key = args, SIZES[args.quick], None
        self.pool, self.evalset = (f"{name}@latest" for name in POOLS[args.domain])
        path = os.pathsep.join(p for p in (str(HOME / "site"), os.environ.get("PYTHONPATH")) if p)
        self.env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")
        self.env["TEMPDRAFT_HOME"] = str(args.state / "home")
        if (HOME / "models").is_dir():  # staged by gpu-stage: the GPU machine reaches no package index
            self.env["TEMPDRAFT_GGUF_DIR"] = str(HOME / "models")

    def start(self, key: str) -> None:
        self.finish(0)
        self.key, self.t0, self.commands, self.outputs = key, time.time(), [], {}
        self.log = self.args.out / f"{key.split('/')[0]}.log"

    def run(self, line: str, *argv: str, done: Path | None = None) -> str:
        """`line` (split on spaces) + argv, its output teed to the log; skipped when `done` exists."""
        if (prepared := self.command(line, argv, done)) is None:
            return ""
        exe, text = prepared
        self.commands.append(text)
        lines: list[str] = []
        pipe = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env, cwd=REPO)
        with subprocess.Popen(exe, **pipe) as proc, self.log.open("a") as log:
            log.write(f"$ {text}\n")
            for out in proc.stdout or []:
                lines.append(out)
                if not out.startswith("[distill] step"):  # per-step lines: the draft's card keeps the curve
                    print(out, end="", flush=True)
                    log.write(out)
        if proc.returncode:
            raise SystemExit(self.finish(proc.returncode, f"exit {proc.returncode}: {text}"))
        return "".join(lines)

    def command(
        self, line: str, argv: list[str], done: Path | None, note: str = ""
    ) -> tuple[list[str], str] | None:
        """(argv to execute, its text), printed as `$ ...` (+ note); None, printed as done, when `done`
        exists or on a dry run."""
        cmd = line.split() + list(argv)
        text = shlex.join(cmd)
        finished = done is not None and done.exists()
        print(f"# done already ({done}): {text}" if finished else f"$ {text}{note}", flush=True)
        if finished or self.args.dry_run:
            return None
        return [sys.executable if cmd[0] == "python" else cmd[0], *cmd[1:]], text

    def run_side_by_side(self, jobs: list[Job], width: int) -> None:
        """`width` jobs at a time, each its own process (group) with its output in OUT/logs/<domain>-<done's
        folder>.log and its share of the CPU threads; the phase log gets each one's last line. Width 1: one
        after another through `run`. A failure, or this process stopping, kills the jobs still running."""
        if width <= 1:
            for line, argv, done in jobs:
                self.run(line, *argv, done=done)
            return
        env = dict(self.env, OMP_NUM_THREADS=str(max(1, len(os.sched_getaffinity(0)) // width)))
        gpus, waiting = self.args.gpus, []
        todo = 0  # --gpus: round-robin over the jobs left to run (a resumed call spreads them again)
        for line, argv, done in jobs:
            log = self.args.out / "logs" / f"{self.args.domain}-{done.parent.name}.log"
            gpu = gpus[todo % len(gpus)] if gpus else None
            todo += not done.exists()
            note = f" > {log}" + (f" (CUDA_VISIBLE_DEVICES={gpu})" if gpu else "")
            if (prepared := self.command(line, argv, done, note)) is not None:
                waiting.append((*prepared, log, dict(env, CUDA_VISIBLE_DEVICES=gpu) if gpu else env))
        running: list[tuple[subprocess.Popen, str, Path]] = []
        try:
            while waiting or running:
                while waiting and len(running) < width:
                    exe, text, log, job_env = waiting.pop(0)
                    self.commands.append(text)
                    log.parent.mkdir(exist_ok=True)
                    with log.open("a") as out:  # a resumed training appends to its killed run's log
                        pipe = dict(stdout=out, stderr=subprocess.STDOUT, env=job_env, cwd=REPO)
                        running.append((subprocess.Popen(exe, start_new_session=True, **pipe), text, log))
                time.sleep(1)
                for job in [r for r in running if r[0].poll() is not None]:
                    running.remove(job)
                    self.ended(*job)
        finally:
            for proc, _, _ in running:  # a failure or an interrupt: nothing keeps training unseen
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def ended(self, proc: subprocess.Popen, text: str, log: Path) -> None:
        last = (log.read_text().strip().splitlines() or [""])[-1]
        with self.log.open("a") as phase_log:
            phase_log.write(f"$ {text}\n{last}\n")
        print(f"# exit {proc.returncode}: {log.name}: {last}", flush=True)
        if proc.returncode:
            raise SystemExit(self.finish(proc.returncode, f"exit {proc.returncode}: {text}"))

    def need(self, path: Path | str) -> None:
        """Exit 3 on a cold machine: an earlier phase's file (a Path) or dataset (a str) is missing."""
        print(
            f"# needs {path}" + (f": python -m registry path {path}" if isinstance(path, str) else ""),
            flush=True,
        )
        if self.args.dry_run:
            return
        if not (path.exists() if isinstance(path, Path) else self.registered(path)):
            print(f"missing {path}: run the earlier phase on this (warm) machine first", file=sys.stderr)
            raise SystemExit(3)

    def registered(self, dataset_id: str) -> str | None:
        """The folder of a registered dataset (`registry path`); None, with registry's reason printed, when
        this machine has none (or it failed its integrity check)."""
        cmd = [sys.executable, "-m", "registry", "path", dataset_id]
        found = subprocess.run(cmd, env=self.env, capture_output=True, text=True)
        if found.returncode:
            reason = (found.stderr.strip().splitlines() or [f"exit {found.returncode}"])[0]
            print(f"# registry path {dataset_id}: {reason}", flush=True)
            return None
        return found.stdout.strip()

    def copy(self, src: Path, name: str) -> None:
        print(f"# copy {src} -> {self.args.out / name}", flush=True)
        if not self.args.dry_run and src.exists():
            shutil.copy(src, self.args.out / name)
            self.outputs[name] = json.loads(src.read_text()) if name.endswith(".json") else name

    def finish(self, rc: int, error: str | None = None) -> int:
        """Record the open entry in OUT/results.json, also when a command failed."""
        if self.key is not None and not self.args.dry_run:
            entry = dict(commands=self.commands, rc=rc, error=error, quick=self.args.quick, device=device())
            entry |= {"wall_s": round(time.time() - self.t0, 1), "outputs": self.outputs}
            merge_into(self.args.out / "results.json", {"runs": {self.key: entry}})
        self.key = None
        return rc


def device() -> str:
    smi = ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"]
    gpu = shutil.which(smi[0]) and subprocess.run(smi, capture_output=True, text=True).stdout.strip()
    return gpu or f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def merge_into(path: Path, new: dict[str, Any]) -> None:
    data = json.loads(path.read_text()) if path.exists() else {"runs": {}}
    for key in sorted(set(data["runs"]) & set(new["runs"])):
        print(f"# results.json: {key} replaced", flush=True)
    data["runs"] = dict(sorted((data["runs"] | new["runs"]).items()))
    path.write_text(json.dumps(data, indent=1))


def train_job(s: Study, mode: str, t: float, folder: Path, seed: int | None = None) -> Job:
    """SeqKD: the converged budget (~30 s on an H200). Online: twice the steps (round 4c's T = 0 online draft
    still improved at 1,536), a checkpoint every `checkpoint` steps, and --resume when a killed call
    left one, so a draft longer than a 10-minute device call finishes in the next."""
    online = mode == "online"
    sets = f"{DISTILL} dataset.id={s.pool} dataset.config=t{tag(t)} run.eval_every={s.sz['every']} "
    sets += f"optim.max_steps={s.sz['online_steps' if online else 'steps']} run.output_dir={folder}"
    sets += f" run.seed={seed}" if seed else ""
    if online:  # loss T = KD T; 0.1 stands in for 0
        sets += f" loss.temperature={max(t, 0.1):g} run.checkpoint_every={s.sz['checkpoint']}"
        sets += " run.keep_checkpoints=1"
    resume = ["--resume"] if online and _checkpoints(folder) else []
    return f"python -m distill train {KD[mode]}", [*flags("--set", *sets.split()), *resume], folder / CARD


def _checkpoints(folder: Path) -> list[Path]:
    """The resumable checkpoints a killed training left (distill.checkpoint owns their names)."""
    if str(REPO) not in sys.path:  # run as a script, sys.path starts at benchmarks/
        sys.path.insert(0, str(REPO))
    from distill.checkpoint import list_checkpoints  # imports torch: only for online trainings

    return list_checkpoints(folder)


def train(s: Study, mode: str, t: float, folder: Path, seed: int | None = None) -> None:
    line, argv, done = train_job(s, mode, t, folder, seed)
    s.run(line, *argv, done=done)


def build(s: Study, recipe: str, src: str, name: str | None, about: str) -> None:
    named = flags("--set", f"name={name}", f"description={about}") if name else []
    sets = flags("--set", f"sources.0={src}", f"sampling.max_new_tokens={s.sz['tokens']}")
    s.run(f"python -m builders run recipes/study/{recipe}", *named, *sets)


def domain_source(s: Study, which: int, split: str, size: int, instructions: tuple[str, str]):
    """(source, dataset name, description) of the domain's pool (which = 0) or eval set (1): GSM8K's `split`
    file as the shipped recipe names it, or the instruction prompt files under POOLS' names."""
    if s.args.domain == "instructions":
        label, about = instructions
        return source(instruction_files(s)[which], "prompt", size, label), POOLS["instructions"][which], about
    return source(s.args.data / f"gsm8k/{split}.jsonl", "question", size, split), None, ""


# ----------------------------------------------------------------------------- phases
def pool(s: Study) -> None:
    s.start(f"pool/{s.args.domain}")
    about = "SmolLM2-135M-Instruct on Dolly-15k prompts at T = 0 ... 1.0."
    build(s, "gsm8k_grid.yaml", *domain_source(s, 0, "train", s.sz["prompts"], ("dolly", about)))
    text = s.run(f"python -m registry show {s.pool}")
    if not s.args.dry_run:
        (s.args.out / "pool.txt").write_text(text)


def curve(s: Study) -> None:
    s.start(f"curve/{s.args.domain}")
    s.need(s.pool)
    for mode, t in (("seqkd", 0.0), ("seqkd", 1.0), ("online", 1.0)):
        folder = s.args.state / f"curve-{mode}-t{tag(t)}"
        train(s, mode, t, folder)
        s.copy(folder / "learning_curve.png", f"{folder.name}.png")
        s.copy(folder / CARD, f"{folder.name}.json")


def search(s: Study) -> None:
    """SeqKD candidates; `--modes online`: online KD ones (round 4d: online beat SeqKD from decode T 0.4 up),
    with the online budget, in their own folder."""
    online = s.args.modes == ["online"]
    t, sz, kind = s.args.serving_t, s.sz, "search-online" if online else "search"
    out, name = s.args.state / kind, f"{kind}-t{tag(t)}"
    s.start(f"{kind}/{s.args.domain}/t{t:g}")
    s.need(s.pool)
    sets = (
        f"pool={s.pool} output_dir={out} name=study_searched{'_online' if online else ''}_t{tag(t)} "
        f"budget.candidates={s.args.candidates or sz['candidates']}"
    )
    sets += f" distill={KD['online']}" if online else ""
    sets += f" budget.max_steps={sz['online_steps' if online else 'steps']} budget.train_rows={sz['rows']}"
    sets += f" budget.eval_prompts={sz['eval']}"
    sets += f" distill_overrides.4=run.eval_every={sz['every']} {sz['search']}"  # .4: the yaml's eval_every
    if s.args.seeds:  # replaces the config's `seeds`
        sets += f" seeds=[{','.join(map(str, s.args.seed_list))}]"
    serving = f"serving.temperatures={{{t}: 1}}"
    s.run(
        "python -m evaluate search evaluate/configs/study_search.yaml",
        *flags("--set", serving, *sets.split()),
    )
    for f in ("search.json", "search.md", "candidates.png", "recipe.yaml"):
        s.copy(out / f, f"{name}-{f}")
    if s.args.dry_run:
        return
    shutil.copy(out / "search.json", s.args.state / f"{name}.json")  # measure reads every search's finalists
    for c in json.loads((out / "search.json").read_text())["candidates"]:  # the corner drafts' curves
        if c["weights"] in ({"0": 1.0}, {"1": 1.0}):
            curve_png = out / "candidates" / c["folder"] / "draft" / "learning_curve.png"
            s.copy(curve_png, f"{name}-curve-T{next(iter(c['weights']))}.png")


def measure(s: Study) -> None:
    """Every search's finalists (winner, best fixed candidate, best single T, greedy), once each, measured
    at decode T 0, 0.6, 0.8, 1.0; --arms fixed: every fixed candidate (each single T - the SeqKD diagonal -,
    uniform, mix_high_temp) at grid-measure's decode T 0 ... 1.0, in STATE/measure-fixed. --part I/N: every
    N-th draft from the I-th (one run per part, on two GPUs or in two device calls; each part its own
    target-alone baseline); a part whose results.json exists is skipped."""
    fixed, (i, n), part = s.args.arms == "fixed", s.args.part, part_name(s)
    s.start(f"measure/{s.args.domain}" + ("/fixed" if fixed else "") + part.replace("-", "/"))
    s.need(next(s.args.state.glob("search*-t*.json"), s.args.state / "search-t1_0.json"))
    if s.args.dry_run:
        drafts = [f"<{s.args.arms} of STATE/search*-t*.json, part {i}/{n}>"]
    else:
        drafts = search_drafts(s)
        if not fixed:  # ksweep sweeps the first two finalists
            (s.args.state / "drafts.txt").write_text("\n".join(drafts) + "\n")
        drafts = drafts[i - 1 :: n]
    name, out = ("measure-fixed" if fixed else "measure") + part, s.args.state
    temperatures = MEASURE_T if fixed else "0,0.6,0.8,1.0"
    if not drafts:
        print(f"# part {i}/{n}: no draft falls in it", flush=True)
        return
    measured(s, drafts, temperatures, out / name, name, done=out / name / "results.json")


def search_drafts(s: Study) -> list[str]:
    """The drafts of every STATE/search*-t*.json (SeqKD and online), once each: its finalists, or (--arms
    fixed) its fixed candidates in the search's order (each candidate's `folder`: its first seed's draft)."""
    drafts: list[str] = []
    for path in sorted(s.args.state.glob("search*-t*.json")):
        result = json.loads(path.read_text())
        folder = {c["label"]: c["folder"] for c in result["candidates"]}
        fixed = [c["label"] for c in result["candidates"] if c["origin"] == "fixed"]
        where = Path(result["config"]["output_dir"]) / "candidates"
        labels = fixed if s.args.arms == "fixed" else result["finalists"]
        found = [str(where / folder[f] / "draft") for f in labels]
        drafts += [d for d in found if d not in drafts]
    return drafts


def measured(
    s: Study, drafts: list, temperatures: str, out: Path, name: str, *, k_max=6, every_k=False, done=None
) -> None:
    """evaluate run of `drafts` at k auto up to k_max (every_k: also measure every other k) on the pool's
    validation prompts at the measure sizes (on the GPU: the compiled sampler), skipped when `done`
    exists; its reports copied to OUT as NAME-<file>."""
    line = f"python -m evaluate run --target {TEACHER} --prompts {s.pool} --split validation --temperatures"
    line += f" {temperatures} --k auto --k-max {k_max}" + (" --measure-every-k true" if every_k else "")
    s.run(f"{line} {s.sz['measure']} --output-dir {out}", *flags("--drafts", *drafts), done=done)
    reports = ("results.json", "results.md", "k_curve.png", "speedup_vs_temperature.png")
    for f in (*reports, "heatmap_kd_vs_decode_temperature.png"):
        s.copy(out / f, f"{name}-{f}")


def grid_measure(s: Study) -> None:
    """The grid drafts of `--modes` and each seed, measured like `measure` at decode T 0 ... 1.0 on the
    pool's validation prompts: the sampler's speedup and its own probe's prediction at the k it ran.
    --part I/N as for measure: every N-th of a seed's drafts."""
    (i, n), part = s.args.part, modes_part(s) + part_name(s)
    for seed in s.args.seed_list:
        name = f"grid-measure-{s.args.domain}-s{seed}{part}"
        drafts = [grid_draft(s, mode, t, seed) for mode in s.args.modes for t in s.sz["kd_t"]][i - 1 :: n]
        if not drafts:
            print(f"# part {i}/{n}: no draft falls in it", flush=True)
            continue
        s.start(f"grid-measure/{s.args.domain}/s{seed}{part}")
        for draft in drafts:
            s.need(draft / CARD)
        out = s.args.state / name
        measured(s, drafts, MEASURE_T, out, name, done=out / "results.json")


def kcurve(s: Study) -> None:
    """The KD T 0.8 grid draft of each mode (--modes, seed --first-seed; the study's fastest online draft)
    at decode T 0, 0.6 and 1.0, the sampler run at every k = 1..4: measured speedup over k against
    k: auto's predicted curve (evaluate run --measure-every-k)."""
    seed, part = s.args.first_seed, modes_part(s)
    name = f"kcurve-{s.args.domain}-s{seed}{part}"
    s.start(f"kcurve/{s.args.domain}/s{seed}{part}")
    kd = max(t for t in s.sz["kd_t"] if t <= 0.8)  # --quick trains KD T 0 and 1 only
    drafts = [grid_draft(s, mode, kd, seed) for mode in s.args.modes]
    for draft in drafts:
        s.need(draft / CARD)
    out = s.args.state / name
    measured(s, drafts, "0,0.6,1.0", out, name, done=out / "results.json", k_max=4, every_k=True)


def ksweep(s: Study) -> None:
    s.start(f"ksweep/{s.args.domain}")
    listed, teacher = s.args.state / "drafts.txt", f"{s.env['TEMPDRAFT_HOME']}/teachers/{TEACHER}"
    s.need(listed)
    drafts = "<first two of STATE/drafts.txt>" if s.args.dry_run else ",".join(listed.read_text().split()[:2])
    prompts, out = s.args.data / "gsm8k/test.jsonl", s.args.state / "ksweep.json"
    line = f"python benchmarks/bench_chained.py {s.sz['ksweep']} --temperatures 0,1 --k-max 4"
    s.run(f"{line} --teacher {teacher} --prompts {prompts} --out {out}", "--drafts", drafts)
    s.copy(out, "ksweep.json")


def part_name(s: Study) -> str:
    """The name part of a run that --part I/N splits (`-p1of2`); empty for the whole."""
    i, n = s.args.part
    return f"-p{i}of{n}" if n > 1 else ""


def modes_part(s: Study) -> str:
    """The name part of a seed's grid that --modes splits (`-online`); empty for both modes."""
    return "" if s.args.modes == list(KD) else "-" + "+".join(s.args.modes)


def grid_draft(s: Study, mode: str, t: float, seed: int) -> Path:
    return s.args.state / "grid" / s.args.domain / f"{mode}-t{tag(t)}-s{seed}"


def grid(s: Study) -> None:
    part = modes_part(s)
    for seed in s.args.seed_list:
        name = f"grid-{s.args.domain}-s{seed}{part}"
        s.start(f"grid/{s.args.domain}/s{seed}{part}")
        if seed == s.args.seed_list[0]:  # the builder finds an identical eval set instead of sampling again
            s.need(s.pool)
            eval_set(s)
        jobs = [
            train_job(s, mode, t, grid_draft(s, mode, t, seed), seed)
            for mode in sorted(s.args.modes, key="online".__ne__)  # the long (online) trainings first
            for t in s.sz["kd_t"]
        ]
        s.run_side_by_side(jobs, s.args.parallel)
        drafts = [done.parent for _, _, done in jobs]
        out = s.args.state / name
        line = f"python -m evaluate run --target {TEACHER} --prompts {s.evalset} --split train --temperatures"
        line += f" {DECODE_T} --k auto --analytic-samples {s.sz['eval_set']} {s.sz['grid']}"
        s.run(f"{line} --output-dir {out}", *flags("--drafts", *drafts), done=out / "results.json")
        s.copy(out / "results.json", f"{name}.json")
        s.copy(out / "results.md", f"{name}.md")
        if not s.args.dry_run:  # every draft's card: training record and learning curve
            s.outputs["drafts"] = {d.name: json.loads((d / CARD).read_text()) for d in drafts}


def carry_out(s: Study) -> None:
    """Each domain's eval set (its latest version's folder, `registry path`) copied to OUT/evalsets/NAME/vN:
    carried to the next session's machine, `carry-in` registers it there and its grids score the same
    samples instead of re-sampling them."""
    s.start("carry-out")
    for _, evalset in POOLS.values():
        s.commands.append(f"python -m registry path {evalset}@latest")
        print(f"$ {s.commands[-1]}", flush=True)
        if s.args.dry_run or (folder := s.registered(f"{evalset}@latest")) is None:
            continue
        shutil.rmtree(s.args.out / "evalsets" / evalset, ignore_errors=True)  # one version per name
        dest = s.args.out / "evalsets" / evalset / Path(folder).name
        print(f"# copy {folder} -> {dest}", flush=True)
        shutil.copytree(folder, dest)
        s.outputs[f"evalsets/{evalset}"] = str(dest.relative_to(s.args.out))


def carry_in(s: Study) -> None:
    """`registry import` of every eval set folder under --carry (carry-out's OUT/evalsets of an earlier
    session): the grid's builder then finds each one built (same recipe, same fingerprint)."""
    s.start("carry-in")
    carried = sorted(s.args.carry.glob("*/v*"))
    if not carried:
        problem = f"--carry {s.args.carry}: no NAME/vN folders to import"
        print(problem, file=sys.stderr)
        raise SystemExit(s.finish(2, problem))
    for folder in carried:
        s.run(f"python -m registry import {folder}")


def eval_set(s: Study) -> None:
    """recipes/study/gsm8k_eval.yaml: held-out prompts sampled at decode T 0 ... 2.0 (all in split train)."""
    about = "SmolLM2-135M-Instruct on MT-bench + Vicuna at T 0 ... 2.0."
    build(s, "gsm8k_eval.yaml", *domain_source(s, 1, "test", s.sz["eval_set"], ("mtbench_vicuna", about)))


def instruction_files(s: Study) -> tuple[Path, Path]:
    """The instruction domain's prompts by rounds 2-3's rules, derived into STATE/data: Dolly-15k
    (instruction + context, <= DOLLY_MAX_CHARS characters, de-duplicated, none equal to an eval prompt or a
    GSM8K test question) and MT-bench + Vicuna first turns (de-duplicated); groups (Dolly categories, eval
    set/category) interleaved so that every prefix is balanced (the Dolly file is sorted by category)."""
    data, folder = s.args.data, s.args.state / "data"
    files = (folder / "dolly_train.jsonl", folder / "instr_eval.jsonl")
    print(f"# derive {files[0]} and {files[1]} from {data}", flush=True)
    if s.args.dry_run:
        return files

    def read(path: Path) -> list[dict[str, Any]]:
        return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]

    def norm(text: str) -> str:
        return " ".join(text.split()).lower()

    held, rows = {norm(r["question"]) for r in read(data / "gsm8k/test.jsonl")}, ([], [])
    for src in ("mt_bench", "vicuna_bench"):
        for r in read(data / src / "question.jsonl"):
            if norm(r["turns"][0]) not in held:
                held.add(norm(r["turns"][0]))
                rows[1].append((f"{src}/{r['category']}", r["turns"][0].strip()))
    seen = set(held)
    for r in read(data / "databricks_dolly_15k/databricks-dolly-15k.reassembled.jsonl"):
        instr, ctx = r["instruction"].strip(), r["context"].strip()
        text = f"{instr}\n\n{ctx}" if ctx else instr
        if len(text) <= DOLLY_MAX_CHARS and norm(text) not in seen and norm(instr) not in held:
            seen.add(norm(text))
            rows[0].append((r["category"], text))
    folder.mkdir(parents=True, exist_ok=True)
    for path, pairs in zip(files, rows, strict=True):
        groups: dict[str, list[str]] = {}
        for group, text in pairs:
            groups.setdefault(group, []).append(text)
        queues = [groups[g] for g in sorted(groups)]
        mixed = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
        path.write_text("".join(json.dumps({"prompt": t}, ensure_ascii=False) + "\n" for t in mixed))
    return files


PHASES = {"pool": pool, "instr-pool": pool, "curve": curve, "search": search, "measure": measure}
PHASES |= {"ksweep": ksweep, "grid": grid, "grid-measure": grid_measure, "kcurve": kcurve}
PHASES |= {"carry-out": carry_out, "carry-in": carry_in}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("phase", choices=[*PHASES, "merge"])
    p.add_argument("inputs", nargs="*", type=Path, help="merge: results.json files to add to OUT's")
    p.add_argument("--quick", action="store_true", help="CPU rehearsal at tiny sizes (the same commands)")
    p.add_argument("--dry-run", action="store_true", help="print the commands; run and write nothing")
    p.add_argument("--out", type=Path, help="reported files + results.json (runs/study-r4, runs/study-quick)")
    p.add_argument("--state", type=Path, help="TEMPDRAFT_HOME, drafts, searches (default ~/r4, ~/r4-quick)")
    p.add_argument("--data", type=Path, help="../shared/data or its copy (default ~/data if it has gsm8k/)")
    p.add_argument("--domain", choices=list(POOLS), default="math")
    p.add_argument("--serving-t", type=float, default=1.0, help="search: the serving temperature")
    p.add_argument("--seeds", type=int, help="grid: seeds per draft (1); search: replaces its config's seeds")
    p.add_argument("--candidates", type=int, help="search: candidates (8 fixed + proposals; 12, --quick 9)")
    p.add_argument("--first-seed", type=int, default=0, help="the seeds are FIRST .. FIRST + SEEDS - 1")
    p.add_argument(
        "--modes",
        default="seqkd,online",
        help="grid, grid-measure, kcurve: the KD modes (seqkd, online); search: online = online KD",
    )
    p.add_argument(
        "--parallel", type=int, default=1, help="grid: trainings at once, each its own process (1)"
    )
    p.add_argument("--gpus", default="", help="grid --parallel: spread the trainings over these GPUs (0,1)")
    p.add_argument(
        "--part", default="1/1", help="measure, grid-measure: I/N, every N-th draft from the I-th (1/1: all)"
    )
    p.add_argument("--carry", type=Path, help="carry-in: a carry-out's OUT/evalsets (NAME/vN folders)")
    p.add_argument(
        "--arms",
        choices=["finalists", "fixed"],
        default="finalists",
        help="measure: the searches' finalists, or every fixed candidate (single Ts, uniform, mix_high_temp)",
    )
    args = p.parse_args(argv)
    args.modes, args.gpus = args.modes.split(","), [g for g in args.gpus.split(",") if g]
    if set(args.modes) - set(KD) or (args.seeds or 1) < 1 or (args.inputs and args.phase != "merge"):
        p.error("--modes takes seqkd,online; --seeds >= 1; only merge takes files")
    part = args.part.split("/")
    if len(part) != 2 or not all(x.isdigit() for x in part) or not 1 <= int(part[0]) <= int(part[1]):
        p.error(f"--part takes I/N with 1 <= I <= N, not {args.part!r}")
    args.part = (int(part[0]), int(part[1]))
    if args.part != (1, 1) and args.phase not in ("measure", "grid-measure"):
        p.error("--part splits measure and grid-measure only")
    args.seed_list = list(range(args.first_seed, args.first_seed + (args.seeds or 1)))
    args.domain = "instructions" if args.phase == "instr-pool" else args.domain
    data = HOME / "data" if (HOME / "data/gsm8k").is_dir() else REPO.parent / "shared/data"
    args.data = (args.data or data).expanduser().resolve()
    out = REPO / "runs" / ("study-quick" if args.quick else "study-r4")
    args.out = (args.out or out).expanduser().resolve()
    args.state = (args.state or HOME / ("r4-quick" if args.quick else "r4")).expanduser().resolve()
    if args.phase == "carry-in" and not args.carry:
        p.error("carry-in needs --carry DIR (a carry-out's OUT/evalsets)")
    args.carry = args.carry and args.carry.expanduser().resolve()
    if any(len(str(path).split()) > 1 for path in (args.data, args.out, args.state, args.carry or "")):
        p.error("--data, --out, --state and --carry must not contain spaces (commands are split on spaces)")
    return args


def exit_on_sigterm() -> None:
    """A device call's `timeout` sends SIGTERM: exit through the `finally` that kills side-by-side trainings
    (own process groups, which the signal does not reach) instead of leaving them running unseen."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    if not args.dry_run:
        args.out.mkdir(parents=True, exist_ok=True)
        args.state.mkdir(parents=True, exist_ok=True)
    for path in args.inputs:  # merge
        print(f"# merge {path} -> {args.out / 'results.json'}", flush=True)
        if not args.dry_run:
            merge_into(args.out / "results.json", json.loads(path.read_text()))
    if args.phase == "merge":
        return 0
    study = Study(args)
    PHASES[args.phase](study)
    return study.finish(0)


if __name__ == "__main__":
    sys.exit(main())
