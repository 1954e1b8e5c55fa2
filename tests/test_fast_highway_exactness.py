"""FastHighway's work-skipping shortcuts change no bit of the simulation.

On the host (numpy, torch on CPU) the simulator skips work it can prove changes nothing:
vehicles driving straight skip trigonometry and lane lookups, pairs far enough apart skip the
polygon test, MOBIL's safety check runs only where the incentive holds. ``xp.host = False``
(what CUDA uses) turns the host shortcuts off, so comparing the two paths bit for bit checks
every shortcut at once; the tests below also check the shortcuts that are always on against
their plain definitions.
"""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from envs.fast_highway import FastHighwayCore, highway_v0_config
from envs.fast_highway import sim
from envs.fast_highway.xp import NumpyOps


def _cores(config: dict, num_envs: int, seed: int) -> list[FastHighwayCore]:
    cores = [FastHighwayCore(num_envs, config) for _ in range(2)]
    cores[1].xp.host = False  # the device path: no read-backs, no shortcuts
    for core in cores:
        core.seed(seed)
        core.reset_envs()
    return cores


def _assert_same_bits(a: sim.SimState, b: sim.SimState) -> None:
    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.tobytes() == y.tobytes(), f"state field {f.name} differs"


def _run_both(cores: list[FastHighwayCore], steps: int, seed: int) -> int:
    """Step both cores with the same random actions, comparing every bit; returns the crashes."""
    rng = np.random.default_rng(seed)
    crashes = 0
    for _ in range(steps):
        actions = rng.integers(0, 5, cores[0].num_envs)
        (rew_a, term_a, trunc_a, _), (rew_b, term_b, trunc_b, _) = (c.step(actions) for c in cores)
        assert rew_a.tobytes() == rew_b.tobytes()
        assert np.array_equal(term_a, term_b) and np.array_equal(trunc_a, trunc_b)
        assert cores[0].observe().tobytes() == cores[1].observe().tobytes()
        _assert_same_bits(cores[0].state, cores[1].state)
        crashes += int(term_a.sum())
        for core in cores:
            core.reset_envs(term_a | trunc_a)
    return crashes


@pytest.mark.parametrize("config", [
    {},  # highway-fast-v0: ego-only collisions
    {"traffic_collisions": True, "vehicles_density": 2.0, "lanes_count": 2},
    highway_v0_config(),
], ids=["highway-fast", "dense-all-pairs", "highway-v0"])
def test_host_shortcuts_change_no_bit(config):
    cores = _cores(config, num_envs=48, seed=5)
    assert _run_both(cores, steps=20, seed=1) > 0  # the collision and impact code ran


_HAZARDS = {3: {"hazard": "work_zone", "closed_lanes": [1]}, 5: {"hazard": "emergency_braking"},
            6: {"driver_ranges": {"politeness": [0.1, 0.4], "time_headway": [0.8, 2.0], "desired_speed": [22, 34]}}}
MIXED_ROADS_AND_DRIVERS = [{"lanes_count": 2 + b % 5, "driver_mix": {"normal": 1, "aggressive": b % 2, "defensive": 1},
                            "vehicles_count": 5 + (7 * b) % 26, **_HAZARDS.get(b % 7, {})}
                           for b in range(40)]  # 5 to 30 vehicles; work zones and braking leaders


def test_host_shortcuts_change_no_bit_with_roads_of_2_to_6_lanes_driver_profiles_padding_and_hazards():
    cores = [FastHighwayCore(40, {"traffic_collisions": True}) for _ in range(2)]
    cores[1].xp.host = False
    for core in cores:
        core.set_scenarios(MIXED_ROADS_AND_DRIVERS)
        core.seed(7)
        core.reset_envs()
        core.state.politeness[:, 1:] = 0.25  # polite MOBIL until each env's next reset
    assert _run_both(cores, steps=20, seed=2) > 0


def test_the_per_vehicle_parameter_path_gives_the_same_bits_with_the_defaults():
    """SimParams.drivers on with every vehicle at highway-env's defaults: the per-vehicle
    parameter code gives the bits of the class constants' code."""
    cores = [FastHighwayCore(32, {"traffic_collisions": True}) for _ in range(2)]
    cores[1].params = replace(cores[1].params, drivers=True)
    for core in cores:
        core.seed(4)
        core.reset_envs()
    assert _run_both(cores, steps=12, seed=0) > 0


def test_host_shortcuts_fall_back_near_the_road_ends():
    """Vehicles cross x = 10000 m (the lanes' end) and start behind x = 0: the shortcuts that
    assume every x is on the road must notice and take the full path."""
    cores = _cores({}, num_envs=16, seed=2)
    state = cores[0].state.numpy(cores[0].xp)
    state.x[:8] += sim.LANE_LENGTH - 400.0  # the traffic ahead is past the end within seconds
    state.x[8:] -= state.x[8:, :1] + 3.0  # the ego starts at x = -3 m
    for core in cores:
        core.set_state(state)
    xp = cores[0].xp
    for t in range(15):
        _run_both(cores, steps=1, seed=t)
        s = cores[0].state
        assert np.array_equal(s.lane, sim.closest_lane(xp, s.x, s.y, s.heading, cores[0].params.lanes))
    assert (cores[0].state.x > sim.LANE_LENGTH).any()


def test_lane_index_is_always_the_closest_lane():
    core = FastHighwayCore(64, {"vehicles_density": 1.5})
    core.seed(4)
    core.reset_envs()
    imported = core.state.numpy(core.xp)
    imported.lane[:] = (imported.lane + 1) % core.params.lanes  # a stale lane index, as a careless import might give
    core.set_state(imported)
    s = core.state
    assert np.array_equal(s.lane, sim.closest_lane(core.xp, s.x, s.y, s.heading, core.params.lanes))
    rng = np.random.default_rng(4)
    for _ in range(25):
        _, term, trunc, _ = core.step(rng.integers(0, 5, 64))
        s = core.state
        assert np.array_equal(s.lane, sim.closest_lane(core.xp, s.x, s.y, s.heading, core.params.lanes))
        core.reset_envs(term | trunc)


def _random_pairs(rng: np.random.Generator, n: int, dt: float):
    """Vehicle pairs around highway-env's pre-check distance, many of them straight."""
    heading = rng.uniform(-np.pi, np.pi, (2, n))
    kind = rng.integers(0, 3, (2, n))
    heading[kind == 0] = 0.0
    heading[kind == 1] *= 1e-3
    speed = rng.uniform(-5, 40, (2, n))
    offset = rng.uniform(-14, 14, n), rng.uniform(-8, 8, n)
    return heading, speed, offset


@pytest.mark.parametrize("cones", [False, True])
def test_collision_filter_only_drops_pairs_the_polygon_test_rejects(cones):
    xp, rng, dt = NumpyOps(), np.random.default_rng(0), 1 / 15
    n = 200_000
    heading, speed, (dx, dy) = _random_pairs(rng, n, dt)
    static = rng.random(n) < 0.5 if cones else None  # b: a cone (still) in half of the pairs
    if cones:
        heading[1][static], speed[1][static] = 0.0, 0.0
    disp = [(v * np.cos(h) * dt, v * np.sin(h) * dt) for h, v in zip(heading, speed)]
    vx, vy = disp[0][0] - disp[1][0], disp[0][1] - disp[1][1]
    cos_a, sin_a, dh = np.cos(heading[0]), np.sin(heading[0]), heading[1] - heading[0]
    probe = sim._may_collide(xp, dx * 0, dy * 0, cos_a, sin_a, dh, vx, vy, static)
    assert probe.all()
    # half of the pairs sit on the filter's box, 1e-5 m outside or inside on one of a's axes
    # (u along a, w across), anywhere along the other: where a wrong bound would show
    c, s = np.abs(np.cos(dh)), np.abs(np.sin(dh))
    length = np.where(static, sim.CONE_LENGTH, sim.V_LENGTH) if cones else sim.V_LENGTH
    width = np.where(static, sim.CONE_WIDTH, sim.V_WIDTH) if cones else sim.V_WIDTH
    h_u = sim.V_LENGTH / 2 + length / 2 * c + width / 2 * s + np.abs(vx * cos_a + vy * sin_a)
    h_w = sim.V_WIDTH / 2 + length / 2 * s + width / 2 * c + np.abs(vy * cos_a - vx * sin_a)
    edge, on_u, inside = rng.random(n) < 0.5, rng.random(n) < 0.5, rng.random(n) < 0.5
    side, margin = np.where(rng.random(n) < 0.5, -1.0, 1.0), np.where(inside, -1e-5, 1e-5)
    along = rng.uniform(-1, 1, n)
    d_u = np.where(on_u, side * (h_u + margin), along * h_u)
    d_w = np.where(on_u, along * h_w, side * (h_w + margin))
    dx = np.where(edge, d_u * cos_a - d_w * sin_a, dx)
    dy = np.where(edge, d_u * sin_a + d_w * cos_a, dy)
    keep = sim._may_collide(xp, dx, dy, cos_a, sin_a, dh, vx, vy, static)
    x0, y0 = np.zeros_like(dx), np.zeros_like(dx)
    hit, will, _ = sim.polygons_intersecting(
        xp, sim._polygons(xp, x0, y0, heading[0]), sim._polygons(xp, dx, dy, heading[1], static), disp[0], disp[1])
    dropped = ~keep
    assert dropped.sum() > 50_000 and keep.sum() > 10_000  # both outcomes are exercised
    assert not hit[dropped].any() and not will[dropped].any()
    assert keep[edge & inside].all() and not keep[edge & ~inside].any()
    assert will[keep].sum() > 1000 and will[edge & inside].sum() > 1000  # the box is tight where it is drawn


def test_mobil_checks_safety_where_the_incentive_holds_with_the_same_result():
    core = FastHighwayCore(128, {"vehicles_density": 1.5})
    core.seed(9)
    core.reset_envs()
    rng = np.random.default_rng(9)
    for _ in range(6):
        core.step(rng.integers(0, 5, 128))
    xp, s = core.xp, core.state
    F = sim.FrameView(xp, s)
    nb = sim.neighbour_tables(xp, s, core.params.lanes)
    acc = sim.idm_acceleration(F, None, None, nb.front(nb.at(None, F.lane)), free=F.free)
    traffic = np.flatnonzero(np.arange(F.B * F.N) % F.N > 0)
    changed = 0
    for step in (-1, 1):
        candidate = F.lane[traffic] + step
        ok = (candidate >= 0) & (candidate < core.params.lanes)
        me, lane_to = traffic[ok], candidate[ok]
        at = nb.at(me, lane_to)
        # IDMVehicle.mobil with politeness 0: both criteria, everywhere
        safe = ~(sim.idm_acceleration(F, me, nb.rear(at), me) < -sim.LANE_CHANGE_MAX_BRAKING_IMPOSED)
        gain = sim.idm_acceleration(F, me, me, nb.front(at), free=F.free[me]) - acc[me]
        expected = safe & ~(gain < sim.LANE_CHANGE_MIN_ACC_GAIN)
        got = sim._mobil(F, nb, me, lane_to, acc[me])
        assert np.array_equal(got, expected)
        changed += int(expected.sum())
        assert (~safe & ~(gain < sim.LANE_CHANGE_MIN_ACC_GAIN)).any()  # safety vetoes some keen ones
    assert changed > 0


def _plain_aborts(F, changing, deciding, decided):
    """sim._aborts as first written: the desired gap of every (changing vehicle, other) pair."""
    B, N = F.B, F.N
    aborted = np.zeros(B * N, bool)
    rows = np.flatnonzero(changing)
    j = rows[:, None]
    i = ((rows // N) * N)[:, None] + np.arange(N)
    t_j = F.target_lane[j]
    dx = F.x[i] - F.x[j]
    close = (F.lane[i] != t_j) & (0 < dx) & (dx < sim.desired_gap(F, j + 0 * i, j + 0 * i, i)) & (i != j)
    if F.static is not None:
        close &= ~F.static[i]
    k, n = np.nonzero(close)
    pj, pi, t_p = rows[k], i[k, n], t_j[k, 0]
    pre = F.target_lane[pi]
    for _ in range(N + 1):
        post = np.where(deciding[pi], decided[pi], np.where(changing[pi] & aborted[pi], F.lane[pi], pre))
        new = np.zeros(B * N, bool)
        new[pj[np.where(pi < pj, post, pre) == t_p]] = True
        if np.array_equal(new, aborted):
            break
        aborted = new
    return aborted


def test_lane_change_aborts_are_their_plain_definition(monkeypatch):
    """_aborts computes desired gaps only for the pairs whose target lanes can abort a lane
    change; every frame of a dense mixed batch gives what the plain definition gives."""
    aborts, found = sim._aborts, []

    def both(F, changing, deciding, decided):
        got = aborts(F, changing, deciding, decided)
        assert np.array_equal(got, _plain_aborts(F, changing, deciding, decided))
        found.append(int(got.sum()))
        return got

    monkeypatch.setattr(sim, "_aborts", both)
    core = FastHighwayCore(64, {"vehicles_count": 30, "vehicles_density": 2.5, "lanes_count": 4})
    core.set_scenarios([{"hazard": "work_zone"} if b % 4 == 0 else {"other_vehicles_type": "idm_aggressive"}
                        for b in range(64)])
    core.seed(5)
    core.reset_envs()
    rng = np.random.default_rng(5)
    for _ in range(20):
        _, term, trunc, _ = core.step(rng.integers(0, 5, 64))
        core.reset_envs(term | trunc)
    assert len(found) == 100 and sum(found) > 0  # lane changes were aborted


@pytest.mark.parametrize("config, per_env", [({}, None), (highway_v0_config(), None),
                                             ({}, MIXED_ROADS_AND_DRIVERS[:32])],
                         ids=["highway-fast", "highway-v0", "lanes-drivers-vehicles-per-env"])
def test_torch_device_code_path_agrees_with_numpy(config, per_env):
    """The torch backend with ``host = False`` runs the code a CUDA device runs (no read-backs,
    no shortcuts), here on the CPU: it must agree with numpy to rounding."""
    pytest.importorskip("torch")
    numpy_core, torch_core = (FastHighwayCore(32, dict(config, backend=b)) for b in ("numpy", "torch"))
    torch_core.xp.host = False
    for core in (numpy_core, torch_core):
        core.set_scenarios(per_env)
        core.seed(3)
        core.reset_envs()
    rng = np.random.default_rng(0)
    crashes = 0
    for _ in range(15):
        actions = rng.integers(0, 5, 32)
        (rew_a, term_a, trunc_a, _), (rew_b, term_b, trunc_b, _) = numpy_core.step(actions), torch_core.step(actions)
        np.testing.assert_allclose(rew_a, rew_b, rtol=0, atol=1e-9)
        assert np.array_equal(term_a, term_b) and np.array_equal(trunc_a, trunc_b)
        np.testing.assert_allclose(numpy_core.observe(), torch_core.observe(), rtol=0, atol=1e-6)
        crashes += int(term_a.sum())
        for core in (numpy_core, torch_core):
            core.reset_envs(term_a | trunc_a)
    assert crashes > 0
    b = torch_core.state.numpy(torch_core.xp)
    assert np.array_equal(numpy_core.state.target_lane, b.target_lane)
