"""benchmarks/learner_ablation.py: its code changes keep results (inference mode trains bit for
bit as SB3's no_grad collection; compiling keeps the policy's state_dict) and the benchmark
runs end to end at toy size (its numbers are not checked here: benchmarks/RESULTS.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from stable_baselines3.common.callbacks import BaseCallback

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import learner_ablation  # noqa: E402

from agents.config import load_config  # noqa: E402
from agents.training.loop import build  # noqa: E402

# 8 envs x 8 steps = 64 env steps per rollout; episodes of 3 steps, so truncated episodes are
# bootstrapped from their terminal observations in every rollout
TINY = ["env.n_envs=8", "algo.n_steps=8", "algo.batch_size=32", "algo.n_epochs=2", "env.max_episode_steps=3",
        "train.torch_threads=1"]


class CollectionProbe(BaseCallback):
    """Whether each env step ran in inference mode, and how many episodes were truncated."""

    def __init__(self) -> None:
        super().__init__()
        self.inference_mode: set[bool] = set()
        self.truncated = 0

    def _on_step(self) -> bool:
        self.inference_mode.add(torch.is_inference_mode_enabled())
        self.truncated += sum(bool(info.get("TimeLimit.truncated")) for info in self.locals["infos"])
        return True


def train_tiny(config: str, inference_mode: bool) -> tuple[dict[str, torch.Tensor], object, CollectionProbe]:
    built = build(load_config(ROOT / "configs" / f"{config}.yaml", TINY))
    try:
        if inference_mode:
            learner_ablation.collect_in_inference_mode(built.model)
        probe = CollectionProbe()
        built.model.learn(256, callback=probe)
        return built.model.policy.state_dict(), built.model.rollout_buffer, probe
    finally:
        built.close()


@pytest.mark.parametrize("config", ["generalist_ppo_mlp", "generalist_ppo_attention"])
def test_inference_mode_collection_trains_bit_identical_to_no_grad(config):
    plain, plain_buffer, plain_probe = train_tiny(config, inference_mode=False)
    fast, fast_buffer, fast_probe = train_tiny(config, inference_mode=True)
    assert plain_probe.inference_mode == {False} and fast_probe.inference_mode == {True}
    assert fast_probe.truncated == plain_probe.truncated > 0  # the bootstrap of truncated episodes ran
    assert plain.keys() == fast.keys()
    assert all(torch.equal(plain[k], fast[k]) for k in plain)
    for name in ("values", "log_probs", "rewards", "returns", "advantages"):  # the last rollout, GAE included
        assert (getattr(plain_buffer, name) == getattr(fast_buffer, name)).all(), name


def test_compile_keeps_the_policys_state_dict_and_saves(tmp_path):
    built = build(load_config(ROOT / "configs" / "generalist_ppo_attention.yaml", TINY))
    try:
        keys = list(built.model.policy.state_dict())
        learner_ablation.compile_policy(built.model)  # compilation itself waits for the first call
        assert list(built.model.policy.state_dict()) == keys
        built.model.save(tmp_path / "model.zip")
    finally:
        built.close()
        torch.compiler.reset()


def test_ablation_runs_at_toy_size_and_reports_against_base(tmp_path, capsys):
    out = tmp_path / "ablation.json"
    toy = ["--set", "env.n_envs=8", "--set", "algo.n_steps=8", "--set", "algo.batch_size=16", "--set",
           "algo.n_epochs=1"]
    assert learner_ablation.main(["--configs", "generalist_ppo_mlp", "--variants", "inference_mode,batch2048,epochs5,"
                                  "lean_attention", "--rollouts", "2", "--repeats", "1", "--threads", "1", *toy,
                                  "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert {"command", "started_utc", "cpu_count", "load_avg_start", "load_avg_end", "torch"} <= result.keys()
    runs = {m["variant"]: m for m in result["measurements"]}
    assert list(runs) == ["base", "inference_mode", "epochs5"]  # base first, always measured
    for m in runs.values():
        assert m["rollout_steps"] == 64 and m["threads"] == 1 and len(m["rollouts"]) == 2
        assert all(r["collect_wall_s"] > 0 and r["update_wall_s"] > 0 for r in [m["warmup"], *m["rollouts"]])
    rows = result["summary"]["generalist_ppo_mlp"]
    assert rows["base"]["ratio_to_base"] == 1.0
    epochs5, base = rows["epochs5"], rows["base"]
    assert epochs5["ratio_to_base"] == pytest.approx(epochs5["steps_per_s"] / base["steps_per_s"])
    assert rows["base"]["minutes_per_1e7"] == pytest.approx(1e7 / rows["base"]["steps_per_s"] / 60)
    # a minibatch larger than the toy rollout is skipped with the config's reason, not clamped
    assert "larger than one rollout" in rows["batch2048"]["status"]
    assert rows["lean_attention"]["status"] == "skipped: mlp network, not attention"
    printed = capsys.readouterr().out
    assert "| variant | env-steps/s (median) | ratio to base |" in printed
    assert f"| epochs5 | {rows['epochs5']['steps_per_s']:,.0f} |" in printed
    assert "| batch2048 | skipped: algo.batch_size (2048)" in printed


@pytest.mark.parametrize("bad, message", [
    (["--variants", "base,fast"], "--variants: unknown fast"),
    (["--configs", "nope"], "--configs: no configs/nope.yaml"),
    (["--rollouts", "0"], "must be >= 1"),
    (["--set", "algo.n_epoch=5"], "n_epoch"),
])
def test_ablation_rejects_bad_input_in_one_line(bad, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        learner_ablation.main([*bad, "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()


TOY = ["--set", "env.n_envs=8", "--set", "algo.n_steps=8", "--set", "algo.batch_size=16", "--set", "algo.n_epochs=1",
       "--rollouts", "1", "--repeats", "2", "--threads", "1"]


def test_a_failing_compile_is_recorded_once_and_the_others_still_run(tmp_path, monkeypatch, capsys):
    def no_compiler(model):
        raise RuntimeError("InductorError: no working C++ compiler\nmore lines")

    monkeypatch.setitem(learner_ablation.VARIANTS, "compile",
                        learner_ablation.Variant("compile", change=no_compiler, may_fail=True))
    out = tmp_path / "ablation.json"
    assert learner_ablation.main(["--configs", "generalist_ppo_mlp", "--variants", "compile", *TOY,
                                  "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["failed"] == [{"config": "generalist_ppo_mlp", "variant": "compile",
                                 "error": "RuntimeError: InductorError: no working C++ compiler"}]
    assert [m["variant"] for m in result["measurements"]] == ["base", "base"]  # not tried again
    assert "| compile | FAILED: RuntimeError: InductorError: no working C++ compiler |" in capsys.readouterr().out


@pytest.mark.slow  # inductor compiles the policy: about a minute on 2 busy cores
def test_compile_variant_runs_at_toy_size(tmp_path, capsys):
    out = tmp_path / "ablation.json"
    assert learner_ablation.main(["--configs", "generalist_ppo_mlp", "--variants", "compile", *TOY,
                                  "--out", str(out)]) == 0
    row = json.loads(out.read_text())["summary"]["generalist_ppo_mlp"]["compile"]
    assert row["status"] == "ok" and row["steps_per_s"] > 0
    assert "s of compilation, not in the rates above" in capsys.readouterr().out
