"""Learner ablation: what each candidate change buys in PPO's learner throughput, measured
in one process against the config as it is, in the same run.

    python benchmarks/learner_ablation.py --rollouts 6 --repeats 2

For each config (default: the two generalist configs) and each variant, the env and model are
built as train.py builds them (``agents.training.loop.build``: same seed, torch threads as the
config resolves them or ``--threads``), then SB3's PPO learns for one warm-up rollout (not
counted: first-call costs, torch.compile's compilation) and ``--rollouts`` timed rollouts of
``algo.n_steps x env.n_envs`` env steps (8192 for the generalists). Each rollout is split into
collection (SB3's collect_rollouts: the simulator and the policy's forward passes) and update
(PPO's train(): the epochs of minibatch gradient steps, with the log dump before it), in wall
and process CPU seconds. Variants run round-robin (A B C A B C ...), ``--repeats`` times, so
machine load hits all alike; each is built fresh.

Variants: ``base`` (the config as it is), ``batch2048`` / ``batch4096`` (minibatch size),
``epochs5`` (5 epochs instead of 10), ``inference_mode`` (rollouts collected under
``torch.inference_mode()`` instead of SB3's ``torch.no_grad()``; results bit-identical,
tests/test_learner_ablation.py), ``compile`` (torch.compile, inductor, on the policy's
extractor and heads; its failure is recorded, not fatal), and for attention networks
``lean_attention`` (one encoder layer of 64 instead of two) and ``lean_attention_nolayernorm``
(that, without layer norm). Minibatch and epochs change what is learned, not only its speed:
their quality is judged elsewhere. A variant whose config is invalid with the ``--set``
overrides (a minibatch larger than a toy rollout) is reported as skipped with the config's
message.

The headline is each variant's rate against ``base`` measured in the same run; minutes per
1e7 steps extrapolate the rate (the issue's goals: <= 30 min for the MLP, <= 60 min for
attention, on 2 idle cores). Writes --out (JSON: every rollout's timings) and prints a
markdown table per config.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from agents.runtime import prepare_process  # noqa: E402

prepare_process()  # before torch is imported (OMP_WAIT_POLICY)

import stable_baselines3  # noqa: E402
import torch  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402

from agents.config import ExperimentConfig, load_config  # noqa: E402
from agents.errors import UserError  # noqa: E402
from agents.models.algorithms import parameter_counts  # noqa: E402
from agents.training.callbacks import EpisodeCounter, NonFiniteCallback, RewardTermsCallback  # noqa: E402
from agents.training.loop import build  # noqa: E402

CONFIGS = ("generalist_ppo_mlp", "generalist_ppo_attention")


class InferenceModePPO(PPO):
    """SB3's PPO collecting each rollout under ``torch.inference_mode()`` instead of the
    ``torch.no_grad()`` around its forward passes: tensors made there skip autograd's version
    counters and view tracking. What leaves a rollout is numpy (the rollout buffer's values and
    log-probabilities, the bootstrapped values of truncated episodes, the last values for GAE),
    so no inference tensor reaches the update."""

    def collect_rollouts(self, *args, **kwargs) -> bool:
        with torch.inference_mode():
            return super().collect_rollouts(*args, **kwargs)


def collect_in_inference_mode(model: PPO) -> None:
    """Turn a built PPO into an :class:`InferenceModePPO` in place: the same object, parameters,
    buffers and RNG streams as ``build()`` made them (a new class attribute rather than a
    wrapper in the instance's ``__dict__``, which ``model.save`` would try to pickle)."""
    model.__class__ = InferenceModePPO


POLICY_MODULES = ("features_extractor", "pi_features_extractor", "vf_features_extractor", "mlp_extractor",
                  "action_net", "value_net")


def compile_policy(model: PPO) -> None:
    """torch.compile (inductor) on the policy's forward pieces, in place. ``Module.compile``
    keeps parameters and state_dict keys as they are (``torch.compile(module)`` would nest them
    under ``_orig_mod.``), so saving and loading are unchanged. Compilation happens at the first
    calls, in the warm-up rollout: the rollout's no-grad forward (and its one-row forward for a
    truncated episode's terminal value: at full size episodes are truncated within the first
    rollout), the update's forward and backward."""
    torch.compiler.reset()  # each measurement compiles afresh, as a new train.py process would
    seen: set[int] = set()
    for name in POLICY_MODULES:
        module = getattr(model.policy, name, None)  # the extractors are one module when shared
        if module is not None and id(module) not in seen:
            seen.add(id(module))
            module.compile(backend="inductor")


@dataclass(frozen=True)
class Variant:
    name: str
    overrides: tuple[str, ...] = ()  # config overrides, after --set
    change: Callable[[PPO], None] | None = None  # a code change to the built model
    attention_only: bool = False
    may_fail: bool = False  # a failure is this variant's result on this machine, recorded


VARIANTS = {v.name: v for v in (
    Variant("base"),
    Variant("batch2048", ("algo.batch_size=2048",)),
    Variant("batch4096", ("algo.batch_size=4096",)),
    Variant("epochs5", ("algo.n_epochs=5",)),
    Variant("inference_mode", change=collect_in_inference_mode),
    Variant("compile", change=compile_policy, may_fail=True),
    Variant("lean_attention", ("network.attention.encoder_layers=[64]",), attention_only=True),
    Variant("lean_attention_nolayernorm", ("network.attention.encoder_layers=[64]",
                                           "network.attention.layer_norm=false"), attention_only=True),
)}


class RolloutClock(BaseCallback):
    """Wall and process CPU seconds of each rollout's collection (rollout start to end: SB3's
    collect_rollouts) and of the update after it (rollout end to the next rollout's start or the
    end of training: PPO's train() and the log dump before it)."""

    def __init__(self) -> None:
        super().__init__()
        self.rollouts: list[dict[str, float]] = []
        self._mark = (0.0, 0.0)

    @staticmethod
    def _now() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def _lap(self, kind: str) -> None:
        wall, cpu = self._now()
        self.rollouts[-1].update({f"{kind}_wall_s": wall - self._mark[0], f"{kind}_cpu_s": cpu - self._mark[1]})
        self._mark = (wall, cpu)

    def _on_rollout_start(self) -> None:
        if self.rollouts:
            self._lap("update")
        self.rollouts.append({})
        self._mark = self._now()

    def _on_rollout_end(self) -> None:
        self._lap("collect")

    def _on_training_end(self) -> None:
        self._lap("update")

    def _on_step(self) -> bool:
        return True


def variant_config(config: str, variant: Variant, overrides: list[str]) -> ExperimentConfig:
    return load_config(ROOT / "configs" / f"{config}.yaml", [*overrides, *variant.overrides])


def measure(cfg: ExperimentConfig, variant: Variant, rollouts: int) -> dict:
    """One fresh build of ``cfg``, the variant's code change, one warm-up and ``rollouts``
    timed rollouts."""
    built = build(cfg)
    try:
        model = built.model
        if variant.change is not None:
            variant.change(model)
        steps = model.n_steps * model.n_envs
        clock = RolloutClock()
        # train.py's per-step callbacks (evaluation, checkpoints and progress off, as in
        # learner_throughput.py), so that the rates compare with whole runs
        callbacks = [clock, EpisodeCounter(on_policy=True), RewardTermsCallback(), NonFiniteCallback()]
        model.learn((rollouts + 1) * steps, callback=callbacks)
    finally:
        built.close()
    warmup, *timed = clock.rollouts
    return {"rollout_steps": steps, "threads": torch.get_num_threads(),
            "parameters": parameter_counts(model)["total"], "warmup": warmup, "rollouts": timed}


def rollout_wall(r: dict) -> float:
    return r["collect_wall_s"] + r["update_wall_s"]


def summarize(measurements: list[dict]) -> dict:
    """Medians over every timed rollout of every repeat."""
    rollouts = [(m["rollout_steps"], r) for m in measurements for r in m["rollouts"]]
    rate = statistics.median(steps / rollout_wall(r) for steps, r in rollouts)
    row = {"steps_per_s": rate, "minutes_per_1e7": 1e7 / rate / 60,
           "warmup_wall_s": statistics.median(rollout_wall(m["warmup"]) for m in measurements)}
    for key in ("collect_wall_s", "update_wall_s", "collect_cpu_s", "update_cpu_s"):
        row[key] = statistics.median(r[key] for _, r in rollouts)
    return row


def summary_rows(config: str, variants: list[Variant], measurements: list[dict], skipped: list[dict],
                 failed: dict[tuple[str, str], str]) -> dict[str, dict]:
    """Each variant's medians and rate against base, or why it has none."""
    rows = {}
    for variant in variants:
        ms = [m for m in measurements if m["config"] == config and m["variant"] == variant.name]
        if ms:
            rows[variant.name] = summarize(ms) | {"status": "ok"}
        elif (config, variant.name) in failed:
            rows[variant.name] = {"status": f"FAILED: {failed[config, variant.name]}"}
        else:
            reason = next(s["reason"] for s in skipped if s["config"] == config and s["variant"] == variant.name)
            rows[variant.name] = {"status": f"skipped: {reason}"}
    base_rate = rows["base"]["steps_per_s"]  # base is always measured: a failure there is no result
    for row in rows.values():
        if "steps_per_s" in row:
            row["ratio_to_base"] = row["steps_per_s"] / base_rate
    return rows


def markdown(config: str, rows: dict[str, dict]) -> str:
    lines = [f"### {config}", "",
             "| variant | env-steps/s (median) | ratio to base | collection s/rollout | update s/rollout | "
             "minutes per 1e7 steps |", "|---|---|---|---|---|---|"]
    for name, row in rows.items():
        if "steps_per_s" not in row:
            lines.append(f"| {name} | {row['status']} | | | | |")
            continue
        lines.append(f"| {name} | {row['steps_per_s']:,.0f} | {row['ratio_to_base']:.2f} | "
                     f"{row['collect_wall_s']:.2f} | {row['update_wall_s']:.2f} | {row['minutes_per_1e7']:.0f} |")
    if "steps_per_s" in rows.get("compile", {}):
        first, plain = rows["compile"]["warmup_wall_s"], rows["base"]["warmup_wall_s"]
        lines.append(f"\ncompile: warm-up rollout {first:.1f} s against base's {plain:.1f} s, about "
                     f"{first - plain:.1f} s of compilation, not in the rates above")
    return "\n".join(lines)


def parse(argv: list[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--configs", default=",".join(CONFIGS), help="comma-separated config names under configs/")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"comma-separated, of {', '.join(VARIANTS)}; base is always measured (the ratios' reference)")
    p.add_argument("--rollouts", type=int, default=6, help="timed rollouts per measurement, after one warm-up")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: the config's, auto resolved)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a config override for every variant (before the variant's own)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "learner_ablation.json")
    args = p.parse_args(argv)
    args.configs = [c for c in args.configs.split(",") if c]
    names = [v for v in args.variants.split(",") if v]
    unknown = [v for v in names if v not in VARIANTS]
    missing = [c for c in args.configs if not (ROOT / "configs" / f"{c}.yaml").is_file()]
    if unknown:
        p.error(f"--variants: unknown {unknown[0]}; valid: {', '.join(VARIANTS)}")
    if missing or not args.configs:
        p.error(f"--configs: no configs/{missing[0]}.yaml" if missing else "--configs: give at least one")
    if args.rollouts < 1 or args.repeats < 1 or (args.threads is not None and args.threads < 1):
        p.error("--rollouts, --repeats and --threads must be >= 1")
    args.variants = [VARIANTS[v] for v in dict.fromkeys(["base", *names])]
    if args.threads is not None:
        args.set.append(f"train.torch_threads={args.threads}")
    return p, args


def plan(p: argparse.ArgumentParser, args: argparse.Namespace) -> tuple[dict, list[dict]]:
    """Each (config, variant)'s validated config, or why it is skipped; a bad base is bad input."""
    configs: dict[tuple[str, str], ExperimentConfig] = {}
    skipped = []
    for config in args.configs:
        try:
            base = variant_config(config, VARIANTS["base"], args.set)
        except UserError as exc:
            p.error(f"{config}: {exc}")
        for variant in args.variants:
            if variant.attention_only and base.network.type != "attention":
                skipped.append({"config": config, "variant": variant.name,
                                "reason": f"{base.network.type} network, not attention"})
                continue
            try:
                configs[config, variant.name] = variant_config(config, variant, args.set)
            except UserError as exc:  # e.g. a minibatch larger than a toy rollout
                skipped.append({"config": config, "variant": variant.name, "reason": str(exc)})
    return configs, skipped


def run_all(p: argparse.ArgumentParser, args: argparse.Namespace,
            configs: dict[tuple[str, str], ExperimentConfig]) -> tuple[list[dict], dict[tuple[str, str], str]]:
    """Every measurement, round-robin over the variants, repeated; and each failed variant's
    one-line error (a failed variant is not tried again)."""
    measurements: list[dict] = []
    failed: dict[tuple[str, str], str] = {}
    for repeat in range(args.repeats):
        for config in args.configs:
            for variant in args.variants:
                key = (config, variant.name)
                if key not in configs or key in failed:
                    continue
                load = os.getloadavg()[0]
                try:
                    m = measure(configs[key], variant, args.rollouts)
                except UserError as exc:  # a config the schema accepts but the env or model does not
                    p.error(f"{config} {variant.name}: {exc}")
                except Exception as exc:  # noqa: BLE001 - e.g. inductor without a working compiler
                    if not variant.may_fail:
                        raise
                    failed[key] = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"
                    print(f"{config} {variant.name} r{repeat}: FAILED {failed[key]}", flush=True)
                    continue
                m.update(config=config, variant=variant.name, repeat=repeat, load_before=round(load, 2))
                measurements.append(m)
                row = summarize([m])
                print(f"{config} {variant.name} r{repeat}: {row['steps_per_s']:,.0f} env-steps/s (collection "
                      f"{row['collect_wall_s']:.2f} s, update {row['update_wall_s']:.2f} s per rollout; "
                      f"load {load:.2f})", flush=True)
    return measurements, failed


def main(argv: list[str] | None = None) -> int:
    p, args = parse(argv)
    configs, skipped = plan(p, args)
    started = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    load_start = os.getloadavg()
    measurements, failed = run_all(p, args, configs)
    summary = {config: summary_rows(config, args.variants, measurements, skipped, failed) for config in args.configs}
    result = {
        "command": " ".join(["python benchmarks/learner_ablation.py", *(argv if argv is not None else sys.argv[1:])]),
        "started_utc": started, "finished_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(), "load_avg_start": load_start, "load_avg_end": os.getloadavg(),
        "torch": torch.__version__, "stable_baselines3": stable_baselines3.__version__,
        "rollouts": args.rollouts, "repeats": args.repeats, "set": args.set,
        "variants": {v.name: {"overrides": list(v.overrides),
                              "change": v.change.__name__ if v.change is not None else None} for v in args.variants},
        "measurements": measurements, "skipped": skipped,
        "failed": [{"config": c, "variant": v, "error": e} for (c, v), e in failed.items()], "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print("\n\n".join(markdown(config, rows) for config, rows in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
