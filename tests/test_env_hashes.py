"""laneforge's scenarios still build the same scenes and give the same observations, rewards and
infos as when tests/data/env_hashes.json was written (seeds 0-99; here the first two).

A change meant to alter an env's behaviour is a new env version (``-v1``, DESIGN.md); after a
change that is not, ``python tests/env_hashes.py --compare tests/data/env_hashes.json`` checks
all 100 seeds.
"""

from __future__ import annotations

import json

import pytest

from tests import fast_highway_hashes
from tests.env_hashes import CASES, EXPECTED, config_hashes, fingerprint

SEEDS = (0, 1)


@pytest.fixture(scope="module")
def expected() -> dict:
    return json.loads(EXPECTED.read_text())


@pytest.mark.parametrize("case", CASES)
def test_configs_unchanged(case, expected):
    assert config_hashes(case) == {key: expected[case][key] for key in ("default_config", "config")}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("case", CASES)
def test_scene_and_steps_unchanged(case, seed, expected):
    assert fingerprint(case, seed) == expected[case]["seeds"][str(seed)]


@pytest.mark.parametrize("case", fast_highway_hashes.CASES)
def test_fast_highway_rollouts_unchanged(case):
    """FastHighway-v0's default (and the frozen cases beside it) stays bit for bit what it was
    when tests/data/fast_highway_hashes.json was written: new per-env features are additive."""
    expected = json.loads(fast_highway_hashes.EXPECTED.read_text())
    assert fast_highway_hashes.fingerprint(*fast_highway_hashes.CASES[case]) == expected[case]
