"""The agents shipped in pretrained/: complete enough to evaluate right after set-up, small, and
with reports that belong to the very model shipped beside them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from agents.evaluation.resume_state import parameters_sha256
from agents.rundir.loading import load_run
from tests.conftest import copy_run, run_cli

ROOT = Path(__file__).parent.parent
AGENTS = sorted(p for p in (ROOT / "pretrained").iterdir() if p.is_dir())
MAX_BYTES = 15 * 1024 * 1024  # per agent: MB, not GB


def test_the_quick_start_agent_ships():
    assert "fast_highway_ppo_mlp" in [p.name for p in AGENTS]


# the suite each agent is judged on: the single-scenario agents on highway_generalization, the
# generalist on the suite of its own family (inside and outside it)
SUITE_OF = {"generalist": "generalist"}


@pytest.mark.parametrize("agent", AGENTS, ids=[p.name for p in AGENTS])
def test_agent_folder_is_complete_small_and_its_reports_are_its_own(agent):
    suite = SUITE_OF.get(agent.name.split("_")[0], "highway_generalization")
    for name in ("config.yaml", "model.zip", "provenance.json", f"eval/{suite}/report.json",
                 f"eval/{suite}/report.html", f"eval/{suite}/report.md"):
        assert (agent / name).is_file(), name
    assert sum(p.stat().st_size for p in agent.rglob("*") if p.is_file()) < MAX_BYTES
    run = load_run(agent)
    report = json.loads((agent / f"eval/{suite}/report.json").read_text())
    assert report["settings"]["model"]["parameters_sha256"] == parameters_sha256(run.model)
    assert report["run_dir"] == f"pretrained/{agent.name}"
    assert report["settings"]["episodes"] == 100
    for s in report["scenarios"]:  # final numbers: highway-env (a family's held-out draws also on its batched env)
        assert s["simulator"] == "highway-env" or ("family" in s and "judged_by" not in s), s["name"]
    assert {s["status"] for s in report["scenarios"]} == {"ok"}
    provenance = json.loads((agent / "provenance.json").read_text())
    assert provenance["command"][1] == "train.py"


def test_evaluating_a_shipped_agent_works_out_of_the_box(tmp_path):
    agent = copy_run(ROOT / "pretrained" / "fast_highway_ppo_mlp", tmp_path)
    shutil.rmtree(agent / "eval" / "train_env", ignore_errors=True)  # a local evaluation (git-ignored)
    proc = run_cli("evaluate.py", str(agent), "--episodes", "3", "--video-episodes", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    report = json.loads((agent / "eval" / "train_env" / "report.json").read_text())
    assert report["scenarios"][0]["episodes"] == 3 and report["scenarios"][0]["videos"]
