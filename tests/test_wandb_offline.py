"""Reading runs back (issue 13): ``agents.rundir.wandb_offline.read_run`` on its three path forms and on a
resumed run, and the one-line errors of ``read_run`` and ``agents.runs.load_run``."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from agents.errors import UserError
from agents.rundir.loading import load_run
from agents.rundir.wandb_offline import find_run_logs, read_run


def train_log(run_dir: Path) -> Path:
    """The training run's log (other tests add evaluation runs to the shared run folder)."""
    return next(log for log in find_run_logs(run_dir) if read_run(log)["run"]["job_type"] == "train")


def test_three_forms_read_the_same_run(dqn_run):
    log = train_log(dqn_run)
    by_folder, by_offline_dir, by_file = read_run(dqn_run), read_run(log.parent), read_run(str(log))
    assert by_folder == by_offline_dir == by_file
    assert by_folder["files"] == [log] and by_folder["run"]["job_type"] == "train"
    assert by_folder["config"]["network"]["net_arch"] == [32, 32]
    assert [h["_step"] for h in by_folder["history"]] == sorted(h["_step"] for h in by_folder["history"])
    assert any("rollout/ep_rew_mean" in h for h in by_folder["history"]) and by_folder["summary"]["params/total"] > 0


def write_log(path: Path, run_id: str, job_type: str, step: int, config: dict, summary: dict) -> Path:
    """A small offline log in wandb's format: a run record, a config update, one history row, a summary."""
    from wandb.proto import wandb_internal_pb2 as pb

    run, conf, hist, summ = pb.Record(), pb.Record(), pb.Record(), pb.Record()
    run.run.run_id, run.run.job_type, run.run.project = run_id, job_type, "laneforge"
    for rec_items, values in ((conf.config.update, config), (hist.history.item, {"_step": step, "x": step}),
                              (summ.summary.update, summary)):
        for key, value in values.items():
            rec_items.add(key=key, value_json=json.dumps(value))
    data = b":W&B\xe1\xbe\x00" + b"".join(struct.pack("<IHB", 0, len(raw), 1) + raw
                                          for raw in (r.SerializeToString() for r in (run, conf, hist, summ)))
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return path


def test_resumed_run_is_merged_in_time_order(dqn_run, tmp_path):
    """A resumed run writes one offline-run folder per session, same id: history concatenated in
    time order, config and summary updated by later sessions; evaluation runs left out."""
    log = train_log(dqn_run)
    real = read_run(log)
    run_id = real["run"]["id"]
    wandb_dir = tmp_path / "run" / "wandb"
    shutil.copytree(log.parent, wandb_dir / log.parent.name)
    first = write_log(wandb_dir / f"offline-run-20000101_000000-{run_id}" / f"run-{run_id}.wandb", run_id, "train",
                      -1, {"train": {"total_timesteps": 1}}, {"params/total": -1, "only_first": 1})
    later = {**real["config"]["train"], "total_timesteps": 400}
    last = write_log(wandb_dir / f"offline-run-29991231_235959-{run_id}" / f"run-{run_id}.wandb", run_id, "train",
                     10**6, {"train": later}, {"params/total": 7})
    write_log(wandb_dir / "offline-run-29991231_235959-evalrun1" / "run-evalrun1.wandb", "evalrun1", "eval", 0,
              {"train": {}}, {"eval": 1})
    merged = read_run(tmp_path / "run")
    assert merged["files"] == [first, wandb_dir / log.parent.name / log.name, last]
    assert merged["history"] == [{"_step": -1, "x": -1}, *real["history"], {"_step": 10**6, "x": 10**6}]
    assert merged["config"]["train"] == later and merged["config"]["network"] == real["config"]["network"]
    assert merged["summary"]["params/total"] == 7 and merged["summary"]["only_first"] == 1
    assert "eval" not in merged["summary"] and merged["run"]["id"] == run_id


def test_other_paths_give_one_line_naming_the_three_forms(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("train: {}\n")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.wandb").write_text("not a log")
    cases = {"missing": "no such file or folder", "empty": "not a W&B offline run",
             "run": "no offline W&B run in", "notes.txt": "not a W&B offline run", "fake.wandb": "no ':W&B' header"}
    for name, expected in cases.items():
        with pytest.raises(UserError) as exc:
            read_run(tmp_path / name)
        message = str(exc.value)
        assert "\n" not in message and message.startswith(str(tmp_path / name)) and expected in message, message
        assert all(form in message for form in ("run folder", "offline-run-* folder", "run-*.wandb file")), message


def test_load_run_errors_are_one_line(tmp_path):
    for path, expected in ((tmp_path / "missing", "run folder not found"), (tmp_path, "not a laneforge run folder")):
        with pytest.raises(UserError, match=expected) as exc:
            load_run(path)
        assert "\n" not in str(exc.value)
    with pytest.raises(UserError, match=r"model='bset': unknown; choose model, best, checkpoint or checkpoint:STEPS "
                                        r".*\(did you mean 'best'\?\)"):
        load_run(tmp_path, model="bset")
