"""Batched simulation core of FastHighway: highway-env 1.12's straight highway on arrays.

State lives in ``(B, N)`` arrays, ``B`` environments by ``N = vehicles_count + 1`` vehicles,
vehicle 0 being the ego (highway-env's ``controlled_vehicles[0]``, first in ``road.vehicles``)
and 1..N-1 the IDM traffic in highway-env's creation order. Each function below mirrors one
highway-env method and names it; the constants are read from highway-env's classes so they
cannot drift. Lanes are straight along x: lane ``i`` has its centre at ``y = 4 i`` and runs
from x = 0 to x = 10000 m (``RoadNetwork.straight_road_network``), heading 0.

One simulation frame (``AbstractEnv._simulate``) is :func:`act_ego` on the first frame of a
policy step, then :func:`road_act` (every vehicle's ``act()``), then :func:`road_step`
(kinematic bicycle integration and collisions).

Ordering note: highway-env's ``road.act()`` runs vehicles one after another, and an IDM
vehicle that is changing lane aborts when another vehicle is changing into the same lane
just ahead of it, reading that vehicle's ``target_lane_index`` as already updated earlier in
the same pass. :func:`road_act` reproduces that order exactly: MOBIL decisions depend on
positions only and are computed in parallel, and the abort decisions, which do depend on the
order, are solved as the unique fixed point of the sequential recursion (iterated until
stable, at most N + 1 passes).

Per-env scenarios (issue 16) live in the same arrays, as slots: ``SimState.lanes`` is each
env's road, ``present`` marks the slots that hold something (an env with fewer vehicles than
the batch's N has absent slots, parked and seen by nothing), ``static`` the obstacles (road
objects after the vehicles, as highway-env keeps them), ``check`` each slot's
check_collisions, and the per-vehicle IDM/MOBIL parameters and braking schedules are (B, N)
arrays read from the deciding vehicle. Flags in :class:`SimParams` (``drivers``, ``padded``,
``hazards``) switch that code on only where a batch needs it, so one scenario for all envs
runs as before. A road-network core (curved lanes, routes, vehicles that enter and leave:
intersection, roundabout, merge) can reuse the slots as they are: ``present`` already lets a
vehicle leave (absent) and a spawn fill a free slot, ``static`` carries fixed objects, and the
per-env lane count becomes a per-env lane table.

Every function is written once against the array operations of :mod:`.xp` (``params.xp``):
numpy, or torch on CPU or CUDA. Spawning draws from a numpy Generator on the host in both
cases, so both backends start from the same scenes for the same seed.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import SimpleNamespace
from typing import Any

import numpy as np
from highway_env.road.lane import AbstractLane
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import ControlledVehicle
from highway_env.vehicle.kinematics import Vehicle

from envs.drivers import DRIVER_PROFILES, class_constants
from envs.scene import SPEED_LIMIT  # [m/s] the one speed limit (HighwayEnv._create_road)
from envs.work_zone import Cone

from . import hazards
from .config import DRIVER_RANGES, PROFILES, driver_weights
from .xp import NumpyOps

LANE_WIDTH = AbstractLane.DEFAULT_WIDTH  # 4 m
LANE_LENGTH = 10000.0  # [m] straight_road_network default
V_LENGTH = Vehicle.LENGTH  # 5 m
V_WIDTH = Vehicle.WIDTH  # 2 m
DIAGONAL = float(np.sqrt(V_LENGTH**2 + V_WIDTH**2))
# static obstacles: laneforge's work-zone cones (a highway-env Obstacle)
CONE_LENGTH, CONE_WIDTH = Cone.LENGTH, Cone.WIDTH
CONE_DIAGONAL = float(np.sqrt(CONE_LENGTH**2 + CONE_WIDTH**2))
MAX_SPEED = Vehicle.MAX_SPEED
MIN_SPEED = Vehicle.MIN_SPEED
# ControlledVehicle
KP_A = ControlledVehicle.KP_A
KP_HEADING = ControlledVehicle.KP_HEADING
KP_LATERAL = ControlledVehicle.KP_LATERAL
MAX_STEERING = ControlledVehicle.MAX_STEERING_ANGLE
# IDMVehicle
ACC_MAX = IDMVehicle.ACC_MAX
COMFORT_ACC_MAX = IDMVehicle.COMFORT_ACC_MAX
COMFORT_ACC_MIN = IDMVehicle.COMFORT_ACC_MIN
DISTANCE_WANTED = IDMVehicle.DISTANCE_WANTED
TIME_WANTED = IDMVehicle.TIME_WANTED
DELTA_DEFAULT = IDMVehicle.DELTA
DELTA_RANGE = tuple(IDMVehicle.DELTA_RANGE)
POLITENESS = IDMVehicle.POLITENESS
LANE_CHANGE_MIN_ACC_GAIN = IDMVehicle.LANE_CHANGE_MIN_ACC_GAIN
LANE_CHANGE_MAX_BRAKING_IMPOSED = IDMVehicle.LANE_CHANGE_MAX_BRAKING_IMPOSED
LANE_CHANGE_DELAY = IDMVehicle.LANE_CHANGE_DELAY
# Per-vehicle IDM/MOBIL parameters (highway-env reads them from the deciding vehicle, ``self``,
# whoever's acceleration it computes): SimState field -> highway-env's IDMVehicle default.
DRIVER_DEFAULTS = {
    "time_wanted": TIME_WANTED, "distance_wanted": DISTANCE_WANTED, "comfort_acc_max": COMFORT_ACC_MAX,
    "comfort_acc_min": COMFORT_ACC_MIN, "acc_max": ACC_MAX, "politeness": POLITENESS,
    "lane_change_min_acc_gain": LANE_CHANGE_MIN_ACC_GAIN,
    "lane_change_max_braking_imposed": LANE_CHANGE_MAX_BRAKING_IMPOSED,
}
# ... and the IDMVehicle attribute each one mirrors
DRIVER_ATTRIBUTES = {name: name.upper() for name in DRIVER_DEFAULTS}
# field -> (P,) value of each driver profile (config.PROFILES order), as laneforge's driver
# classes (envs.drivers.NormalDriver, ...) set them
PROFILE_VALUES = {
    name: np.array([class_constants(DRIVER_PROFILES[p]).get(attr, DRIVER_DEFAULTS[name]) for p in PROFILES])
    for name, attr in DRIVER_ATTRIBUTES.items()
}
_NP = NumpyOps()  # host-side operations (spawning)
# Meta-action codes (DiscreteMetaAction.ACTIONS_ALL order)
LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER = 0, 1, 2, 3, 4


@dataclass
class SimState:
    """Batched highway state; every array has the batch on axis 0 and vehicles on axis 1.

    ``x``, ``y`` and ``heading`` never hold -0.0 (spawning makes +0.0, a sum is -0.0 only when
    both terms are, and imports are mapped to +0.0), which lets :func:`road_step` skip adding
    zeros.
    """

    x: Any  # (B, N) position along the road [m]
    y: Any  # (B, N) lateral position [m]
    heading: Any  # (B, N) [rad]
    speed: Any  # (B, N) [m/s]
    lane: Any  # (B, N) int, closest lane (highway-env lane_index[2])
    target_lane: Any  # (B, N) int, target_lane_index[2]
    target_speed: Any  # (B, N) [m/s]
    delta: Any  # (B, N) IDM exponent (randomized per vehicle)
    timer: Any  # (B, N) lane-change timer [s]
    crashed: Any  # (B, N) bool
    impact: Any  # (B, N, 2) pending collision displacement [m]
    has_impact: Any  # (B, N) bool (highway-env: impact is not None)
    speed_index: Any  # (B,) int, ego's MDPVehicle.speed_index
    time: Any  # (B,) policy time [s]
    lanes: Any  # (B,) int, the number of lanes of each env's road (lanes 0 .. lanes - 1)
    # (B, N) bool: the slot holds a vehicle of its env. Envs with fewer vehicles than the batch's
    # N have absent slots (after their vehicles): parked, still, and left out of neighbours,
    # collisions and observations (read only when SimParams.padded is set)
    present: Any
    # Hazards (read only when SimParams.hazards is set). (B, N): ``static`` slots are obstacles
    # (highway-env road.objects: cones), after the vehicles, still, never acting; ``check`` is
    # each slot's check_collisions (a pair is tested when either checks); a finite ``brake_time``
    # makes a vehicle laneforge's BrakingVehicle (no lane changes; after ``brake_time`` seconds of
    # ``elapsed`` time it brakes at ``brake_decel`` to a stop). (B,): ``zone_end`` the x the ego's
    # rear must pass to clear a work zone (inf: none), ``leader`` the braking vehicle's slot (-1).
    static: Any
    check: Any
    brake_time: Any
    brake_decel: Any
    elapsed: Any
    zone_end: Any
    leader: Any
    # (B, N) IDM/MOBIL parameters of each vehicle (DRIVER_DEFAULTS); read only when
    # SimParams.drivers is set, else highway-env's class constants are used
    time_wanted: Any
    distance_wanted: Any
    comfort_acc_max: Any
    comfort_acc_min: Any
    acc_max: Any
    politeness: Any
    lane_change_min_acc_gain: Any
    lane_change_max_braking_imposed: Any

    @classmethod
    def zeros(cls, num_envs: int, num_vehicles: int, lanes: int = 3) -> SimState:
        """A numpy state of zeros on roads of ``lanes`` lanes (convert with :meth:`to`)."""
        shape = (num_envs, num_vehicles)
        return cls(
            x=np.zeros(shape), y=np.zeros(shape), heading=np.zeros(shape), speed=np.zeros(shape),
            lane=np.zeros(shape, np.int64), target_lane=np.zeros(shape, np.int64),
            target_speed=np.zeros(shape), delta=np.full(shape, DELTA_DEFAULT), timer=np.zeros(shape),
            crashed=np.zeros(shape, bool), impact=np.zeros((*shape, 2)), has_impact=np.zeros(shape, bool),
            speed_index=np.zeros(num_envs, np.int64), time=np.zeros(num_envs),
            lanes=np.full(num_envs, lanes, np.int64), present=np.ones(shape, bool),
            static=np.zeros(shape, bool), check=np.arange(num_vehicles)[None, :].repeat(num_envs, 0) == 0,
            brake_time=np.full(shape, np.inf), brake_decel=np.zeros(shape), elapsed=np.zeros(shape),
            zone_end=np.full(num_envs, np.inf), leader=np.full(num_envs, -1, np.int64),
            **{name: np.full(shape, value) for name, value in DRIVER_DEFAULTS.items()},
        )

    def custom_drivers(self) -> bool:
        """Whether any vehicle's IDM/MOBIL parameters differ from highway-env's defaults (numpy)."""
        return any(bool((getattr(self, name)[:, 1:] != value).any()) for name, value in DRIVER_DEFAULTS.items())

    def has_hazards(self, traffic_collisions: bool) -> bool:
        """Whether this numpy state holds obstacles, braking vehicles, a work zone, or vehicles that
        check collisions other than the ego (all of them with ``traffic_collisions``)."""
        default_check = np.ones_like(self.check) if traffic_collisions else np.arange(self.x.shape[1]) == 0
        return bool(self.static.any() or np.isfinite(self.brake_time).any() or np.isfinite(self.zone_end).any()
                    or (self.leader >= 0).any() or (self.check != default_check)[self.present].any())

    def padded(self, num_vehicles: int) -> SimState:
        """This numpy state with absent slots appended up to ``num_vehicles`` per env."""
        B, N = self.x.shape
        if num_vehicles <= N:
            return self
        extra = SimState.zeros(B, num_vehicles - N)
        park(extra, N)
        out = {}
        for f in fields(self):
            mine = getattr(self, f.name)
            out[f.name] = mine if mine.ndim == 1 else np.concatenate([mine, getattr(extra, f.name)], axis=1)
        return SimState(**out)

    @classmethod
    def concat(cls, states: list[SimState]) -> SimState:
        """One numpy batch of numpy ``states``, env after env, padded to the most vehicles; e.g.
        scenes imported from highway-env with different roads and traffic, stepped as one batch."""
        n = max(s.x.shape[1] for s in states)
        states = [s.padded(n) for s in states]
        return cls(**{f.name: np.concatenate([getattr(s, f.name) for s in states]) for f in fields(cls)})

    def to(self, xp) -> SimState:
        """The same state as arrays of backend ``xp``."""
        return SimState(**{f.name: xp.asarray(getattr(self, f.name)) for f in fields(self)})

    def numpy(self, xp) -> SimState:
        """The same state as numpy arrays (copies)."""
        return SimState(**{f.name: np.array(xp.to_numpy(getattr(self, f.name))) for f in fields(self)})

    def copy(self) -> SimState:
        """A numpy copy of this numpy state."""
        return self.numpy(_NP)

    def row_numpy(self, xp, b: int) -> SimState:
        """Env ``b`` as a numpy batch of one (copies)."""
        return SimState(**{f.name: np.array(xp.to_numpy(getattr(self, f.name)[b : b + 1])) for f in fields(self)})

    def assign(self, mask, other: SimState) -> None:
        """Rows ``mask`` of this state <- ``other`` (which holds exactly those rows, in order)."""
        for f in fields(self):
            getattr(self, f.name)[mask] = getattr(other, f.name)


@dataclass(frozen=True)
class SimParams:
    lanes: int  # the most lanes any env of the batch may have (each env's own: SimState.lanes)
    vehicles: int  # N, ego included
    simulation_frequency: int
    policy_frequency: int
    traffic_collisions: bool
    target_speeds: np.ndarray
    ego_spacing: float
    vehicles_density: float
    initial_lane_id: int | None
    xp: Any = None  # array operations (.xp.NumpyOps or .xp.TorchOps)
    drivers: bool = False  # per-vehicle IDM/MOBIL parameters (SimState); False: the class constants
    padded: bool = False  # some envs have absent slots (SimState.present); False: every slot is a vehicle
    hazards: bool = False  # obstacles, braking vehicles or per-slot check_collisions (SimState); False: none

    @property
    def dt(self) -> float:
        return 1 / self.simulation_frequency

    @property
    def frames(self) -> int:
        return int(self.simulation_frequency // self.policy_frequency)


# ---------------------------------------------------------------- helpers (highway_env.utils)
def not_zero(xp, x, eps: float = 1e-2):
    """x if |x| > eps, else eps with x's sign (0 -> +eps)."""
    return xp.where(x >= 0, xp.maximum(x, eps), xp.minimum(x, -eps))


def wrap_to_pi(xp, x):
    """((x + pi) % 2 pi) - pi, bit for bit; the modulo only runs where it changes anything."""
    t = x + np.pi
    outside = (t < 0) | (t >= 2 * np.pi)
    if bool(xp.any(outside)):
        t = xp.copy(t)
        t[outside] = xp.remainder(t[outside], 2 * np.pi)
    return t - np.pi


def host_range(xp, a) -> tuple[float, float] | None:
    """(min, max) of ``a`` read back on the host, to decide whether work can be skipped; None
    on a device, where a read-back is a sync (see xp ``host``) and nothing is skipped."""
    if not xp.host:
        return None
    flat = a.reshape(-1)
    return float(xp.amin(flat, 0)), float(xp.amax(flat, 0))


def closest_lane(xp, x, y, heading, lanes):
    """RoadNetwork.get_closest_lane_index: argmin of distance_with_heading, ties to the lower lane.

    ``lanes``: the road's lane count, one number or an array broadcasting against x (per env)."""
    angle = xp.abs(wrap_to_pi(xp, heading))
    top = lanes - 1
    low = xp.astype(xp.minimum(xp.maximum(xp.floor(y / LANE_WIDTH), 0.0), top), np.int64)
    high = xp.minimum(low + 1, top)
    d_low = xp.abs(y - LANE_WIDTH * low)
    d_high = xp.abs(y - LANE_WIDTH * high)
    # the distance past the lane ends is exactly 0.0 (adding it changes no bit) while every x is
    # within [0, LANE_LENGTH]; checked on the host when that is free
    span = host_range(xp, x)
    if span is None or not (0 <= span[0] and span[1] <= LANE_LENGTH):
        extra = xp.maximum(x - LANE_LENGTH, 0.0) + xp.maximum(0 - x, 0.0)
        d_low = d_low + extra
        d_high = d_high + extra
    return xp.where(d_high + angle < d_low + angle, high, low)


def _at_rows(xp, f, x, rows, at_zero=None):
    """f(x) for a flat array x, evaluated only at ``rows`` (flat indices; None: everywhere).

    The other entries of x must be +-0, where f gives ``at_zero`` (None: x itself, +-0, as
    sin, tan, arcsin and arctan do). Most vehicles drive straight along a lane centre with a
    heading of exactly 0, so this skips most of the trigonometry without changing a bit.
    """
    if rows is None:
        return f(x)
    out = xp.copy(x) if at_zero is None else xp.full(x.shape, at_zero)
    out[rows] = f(x[rows])
    return out


# ---------------------------------------------------------------- spawning
@functools.lru_cache(maxsize=256)
def _cached_weights(vehicles_type: str, mix: tuple | None) -> np.ndarray:
    return driver_weights({"other_vehicles_type": vehicles_type, "driver_mix": dict(mix) if mix else None})


def _weights(vehicles_type: str, mix: Mapping[str, float] | None) -> np.ndarray:
    """config.driver_weights of these two keys, computed once per distinct value."""
    return _cached_weights(vehicles_type, tuple(sorted(mix.items())) if mix else None)


def _objects(values: list) -> np.ndarray:
    """A 1-D object array of ``values`` (dicts or None) whatever they hold."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass(frozen=True)
class EnvScenarios:
    """Per-env values of the config keys that may differ inside one batch, numpy arrays (B,):
    ``lanes_count``, ``vehicles_count``, ``vehicles_density``, ``ego_spacing``, ``initial_lane_id`` (-1: a random
    lane, highway-env's None) and ``duration`` [s]; and ``driver_weights`` (B, P), each env's
    probability of each driver profile for a traffic vehicle (from ``other_vehicles_type`` and
    ``driver_mix``). Rows are envs; :func:`spawn` takes the rows it spawns."""

    lanes_count: np.ndarray
    vehicles_count: np.ndarray
    vehicles_density: np.ndarray
    ego_spacing: np.ndarray
    initial_lane_id: np.ndarray
    duration: np.ndarray
    driver_weights: np.ndarray
    slots: np.ndarray  # (B,) slots each env needs (ego, traffic, a hazard's leader or cones)
    hazard: np.ndarray  # (B,) object: the env's config where it has a hazard, else None
    driver_ranges: np.ndarray  # (B,) object: the env's driver_ranges, or None

    # the config keys that may differ between envs, and the arrays they make
    KEYS = ("lanes_count", "vehicles_count", "vehicles_density", "ego_spacing", "initial_lane_id", "duration",
            "other_vehicles_type", "driver_mix", "driver_ranges", *hazards.DEFAULTS)
    FIELDS = ("lanes_count", "vehicles_count", "vehicles_density", "ego_spacing", "initial_lane_id", "duration",
              "driver_weights", "slots", "hazard", "driver_ranges")

    @classmethod
    def uniform(cls, config: dict, num_envs: int) -> EnvScenarios:
        """Every env with ``config``'s values."""
        return cls.from_configs([config] * num_envs)

    @classmethod
    def from_configs(cls, configs: list, base: Mapping[str, Any] | None = None) -> EnvScenarios:
        """Env b's values from ``configs[b]``: a whole config, or with ``base`` the update of
        ``base`` that env b draws (a family's draw; only the keys it draws)."""
        if base is None:
            def value(c, key):
                return c[key]
        else:
            def value(c, key):
                return c[key] if key in c else base[key]

        def column(key, kind):
            return np.array([value(c, key) for c in configs], dtype=kind)

        hazard = [(dict(c) if base is None else {**base, **c}) if value(c, "hazard") else None for c in configs]
        lane = [value(c, "initial_lane_id") for c in configs]
        mixes = [_weights(value(c, "other_vehicles_type"), value(c, "driver_mix")) for c in configs]
        counts = column("vehicles_count", np.int64)
        return cls(lanes_count=column("lanes_count", np.int64), vehicles_count=counts,
                   vehicles_density=column("vehicles_density", np.float64),
                   ego_spacing=column("ego_spacing", np.float64),
                   initial_lane_id=np.array([-1 if v is None else v for v in lane], dtype=np.int64),
                   duration=column("duration", np.float64),
                   driver_weights=np.array(mixes).reshape(len(configs), len(PROFILES)),
                   slots=np.array([hazards.slots(h) if h is not None else n + 1 for h, n in zip(hazard, counts)],
                                  dtype=np.int64),
                   hazard=_objects(hazard),
                   driver_ranges=_objects([value(c, "driver_ranges") for c in configs]))

    def has_hazards(self) -> bool:
        return any(c is not None for c in self.hazard)

    def custom_drivers(self) -> bool:
        """Whether any env's traffic may drive with other parameters than highway-env's IDMVehicle."""
        return bool((self.driver_weights[:, 1:] > 0).any()) or any(r is not None for r in self.driver_ranges)

    def rows(self, mask) -> EnvScenarios:
        return EnvScenarios(*(getattr(self, k)[mask] for k in self.FIELDS))

    def assign(self, rows, other: EnvScenarios) -> None:
        """Rows ``rows`` of these arrays <- ``other`` (which holds exactly those rows, in order)."""
        for k in self.FIELDS:
            getattr(self, k)[rows] = getattr(other, k)


def spawn(params: SimParams, rng: np.random.Generator, num_envs: int,
          scenarios: EnvScenarios | None = None) -> SimState:
    """HighwayEnv._create_vehicles with Vehicle.create_random, ``num_envs`` fresh scenes (numpy);
    ``scenarios`` gives each env its own lane count, density, ego spacing and initial lane
    (default: the params' values for all). The random draws do not depend on them (numpy draws
    each bounded integer on its own), so env b of a mixed batch is env b of a uniform batch with
    b's values, from the same seed."""
    B, N = num_envs, params.vehicles
    if scenarios is None:
        L = np.full(B, params.lanes, np.int64)
        lanes = rng.integers(0, params.lanes, size=(B, N))
    else:
        L = scenarios.lanes_count
        if L.size and int(L.max()) > params.lanes:
            raise ValueError(f"spawn: an env has {int(L.max())} lanes, more than the batch's {params.lanes}")
        lanes = rng.integers(0, L[:, None], size=(B, N))
    s = SimState.zeros(B, N)
    s.lanes[:] = L
    if scenarios is None:
        if params.initial_lane_id is not None:
            lanes[:, 0] = params.initial_lane_id
    else:
        fixed = scenarios.initial_lane_id >= 0
        lanes[fixed, 0] = scenarios.initial_lane_id[fixed]
    speed = rng.uniform(0.7 * SPEED_LIMIT, 0.8 * SPEED_LIMIT, size=(B, N))
    speed[:, 0] = 25.0
    if scenarios is None:
        spacing = np.full((B, N), 1 / params.vehicles_density)
        spacing[:, 0] = params.ego_spacing
    else:
        spacing = np.repeat((1 / scenarios.vehicles_density)[:, None], N, axis=1)
        spacing[:, 0] = scenarios.ego_spacing
    # one scalar exp per lane count, as for a single road (numpy's vectorized exp may round differently)
    decay = np.array([np.exp(-5 / 40 * lanes_count) for lanes_count in range(params.lanes + 1)])
    offset = spacing * (12 + 1.0 * speed) * decay[L][:, None]
    gaps = offset * rng.uniform(0.9, 1.1, size=(B, N))
    gaps[:, 0] += 3 * offset[:, 0]
    s.x[:] = np.cumsum(gaps, axis=1)  # each vehicle is placed ahead of the furthest one
    s.y[:] = LANE_WIDTH * lanes
    s.speed[:] = speed
    s.lane[:] = lanes
    s.target_lane[:] = lanes
    s.target_speed[:] = speed
    s.delta[:] = rng.uniform(DELTA_RANGE[0], DELTA_RANGE[1], size=(B, N))
    s.delta[:, 0] = DELTA_DEFAULT
    s.timer[:] = ((s.x + s.y) * np.pi) % LANE_CHANGE_DELAY
    s.timer[:, 0] = 0.0
    ts = params.target_speeds
    s.speed_index[:] = speed_to_index(_NP, ts, s.speed[:, 0])
    s.target_speed[:, 0] = ts[s.speed_index]
    if scenarios is not None and scenarios.custom_drivers():
        _assign_profiles(s, rng, scenarios.driver_weights)
        for b in np.flatnonzero([r is not None for r in scenarios.driver_ranges]):
            traffic = slice(1, int(scenarios.vehicles_count[b]) + 1)
            _write_ranges(s, int(b), traffic, _range_draws(rng, traffic.stop - traffic.start, scenarios.driver_ranges[b]))
    s.check[:, 1:] = params.traffic_collisions  # check_collisions (read with hazards only)
    if scenarios is None:
        return s
    # env b has vehicles_count[b] + 1 vehicles: the first ones, placed as highway-env places
    # them one after another; the slots after them are absent. An env with a hazard is parked
    # whole: _spawn_hazards builds it anew
    hazard = np.array([c is not None for c in scenarios.hazard], bool)
    absent = (np.arange(N)[None, :] > scenarios.vehicles_count[:, None]) | hazard[:, None]
    if absent.any():
        _park_slots(s, absent)
    if hazard.any():
        _spawn_hazards(s, params, rng, scenarios, np.flatnonzero(hazard), decay)
    return s


def _spawn_hazards(s: SimState, params: SimParams, rng: np.random.Generator, scenarios: EnvScenarios,
                   rows: np.ndarray, decay: np.ndarray) -> None:
    """Build the envs ``rows`` (with a hazard, all their slots parked) as laneforge's hazard
    envs build their scenes (:func:`envs.fast_highway.hazards.draw_scene`), after every draw of
    the plain envs; ``decay``: spawn's exp(-5/40 lanes) per lane count.

    Env after env, each env's scene, then its traffic's driver profiles and ranges are drawn
    (the order of the draws from ``rng``); the scenes, the profiles and then the ranges are
    written afterwards for all these envs at once."""
    scenes, profiled, ranged = [], [], []
    for b in rows:
        config = scenarios.hazard[b]
        scene = hazards.draw_scene(config, rng, decay[int(config["lanes_count"])])
        scenes.append(scene)
        traffic = hazards.traffic_slots(scene)
        weights = scenarios.driver_weights[b]
        if (weights[1:] > 0).any():  # the traffic's profiles (else highway-env's IDM defaults, as parked)
            profiled.append((b, traffic, rng.uniform(size=traffic.stop - traffic.start)))
        if scenarios.driver_ranges[b] is not None:
            ranged.append((b, traffic, _range_draws(rng, traffic.stop - traffic.start, scenarios.driver_ranges[b])))
    hazards.place_scenes(s, rows, scenes, params.target_speeds, lambda ts, v: speed_to_index(_NP, ts, v))
    if profiled:
        envs = np.concatenate([np.full(t.stop - t.start, b) for b, t, _ in profiled])
        slots = np.concatenate([np.arange(t.start, t.stop) for _, t, _ in profiled])
        _set_profiles(s, (envs, slots), np.concatenate([u for _, _, u in profiled]), scenarios.driver_weights[envs])
    for b, traffic, values in ranged:
        _write_ranges(s, int(b), traffic, values)


PARK_X, PARK_SPACING = 6000.0, 20.0  # [m] where absent slot n waits: PARK_X + PARK_SPACING * n


def park(s: SimState, first: int) -> None:
    """Make every slot of numpy state ``s`` absent, slot j standing for the batch's slot
    ``first + j``: still, on lane 0, spaced along x so that no two are ever near each other
    (they are left out of every interaction anyway; the spacing only spares the collision
    search, and positions within the road keep the host shortcuts valid)."""
    s.present[:] = False
    s.x[:] = PARK_X + PARK_SPACING * (first + np.arange(s.x.shape[1]))[None, :]
    for a in (s.y, s.heading, s.speed, s.target_speed, s.timer):
        a[:] = 0.0
    s.lane[:] = 0
    s.target_lane[:] = 0


@functools.lru_cache(maxsize=16)
def _parked_row(num_vehicles: int) -> SimState:
    """One env of ``num_vehicles`` parked slots (read only)."""
    parked = SimState.zeros(1, num_vehicles)
    park(parked, 0)
    return parked


def _park_slots(s: SimState, absent) -> None:
    """Make the slots ``absent`` ((B, N) bool) of numpy state ``s`` absent, parked as :func:`park`
    parks them."""
    parked = _parked_row(s.x.shape[1])
    for f in fields(s):
        a = getattr(s, f.name)
        if a.ndim > 1:
            np.copyto(a, getattr(parked, f.name), where=absent.reshape(absent.shape + (1,) * (a.ndim - 2)))


def _set_profiles(s: SimState, at, u: np.ndarray, weights: np.ndarray) -> None:
    """The vehicles at index ``at`` of the (B, N) arrays take the parameters of the driver profile
    their uniform draws ``u`` pick with probabilities ``weights`` (P,), or (B, P) for u (B, N)."""
    edges = np.cumsum(weights, axis=-1)[..., :-1]  # upper edges of the profiles' intervals
    profile = (u[..., None] >= (edges if u.ndim == 1 else edges[:, None, :])).sum(axis=-1)
    for name, values in PROFILE_VALUES.items():
        getattr(s, name)[at] = values[profile]


def _assign_profiles(s: SimState, rng: np.random.Generator, weights: np.ndarray) -> None:
    """Each traffic vehicle of env b draws a driver profile with probabilities ``weights[b]``
    (after every other draw of the spawn, so the scene is the same as without profiles) and
    takes that profile's parameters; the ego keeps the defaults."""
    u = rng.uniform(size=s.x.shape)
    _set_profiles(s, (slice(None), slice(1, None)), u[:, 1:], weights)


def _range_draws(rng: np.random.Generator, n: int, ranges: dict) -> dict[str, np.ndarray]:
    """The draws of ``n`` traffic vehicles' ``ranges``: each parameter uniformly per vehicle,
    over its profile's value; SimState field -> values."""
    out = {}
    for name in sorted(ranges):
        field, sign, _ = DRIVER_RANGES[name]
        low, high = ranges[name]
        out[field] = sign * rng.uniform(low, high, size=n)
    return out


def _write_ranges(s: SimState, b: int, traffic: slice, values: dict[str, np.ndarray]) -> None:
    """Env b's traffic (slots ``traffic``) takes its :func:`_range_draws` (envs.drivers.apply_params:
    ACC_MAX at least the comfort acceleration)."""
    for field, drawn in values.items():
        getattr(s, field)[b, traffic] = drawn
    if "comfort_acc_max" in values:
        s.acc_max[b, traffic] = np.maximum(ACC_MAX, s.comfort_acc_max[b, traffic])


# ---------------------------------------------------------------- ego (MDPVehicle)
def speed_to_index(xp, target_speeds, speed):
    n = target_speeds.shape[0]
    x = (speed - target_speeds[0]) / (target_speeds[-1] - target_speeds[0])
    return xp.astype(xp.clip(xp.round(x * (n - 1)), 0, n - 1), np.int64)


def act_ego(s: SimState, params: SimParams, meta) -> None:
    """MDPVehicle.act(meta-action) for every env: update target speed / target lane."""
    xp = params.xp
    ts = xp.asarray(params.target_speeds)
    faster, slower = meta == FASTER, meta == SLOWER
    longi = faster | slower
    idx = speed_to_index(xp, ts, s.speed[:, 0]) + xp.where(faster, 1, -1)
    idx = xp.clip(idx, 0, ts.shape[0] - 1)
    s.speed_index[:] = xp.where(longi, idx, s.speed_index)
    s.target_speed[:, 0] = xp.where(longi, ts[s.speed_index], s.target_speed[:, 0])
    step = xp.where(meta == LANE_LEFT, -1, xp.where(meta == LANE_RIGHT, 1, 0))
    new = xp.minimum(xp.maximum(s.target_lane[:, 0] + step, 0), s.lanes - 1)
    x0, y0 = s.x[:, 0], s.y[:, 0]
    reachable = (xp.abs(y0 - LANE_WIDTH * new) <= 2 * LANE_WIDTH) & (0 <= x0) & (x0 < LANE_LENGTH + V_LENGTH)
    s.target_lane[:, 0] = xp.where((step != 0) & reachable, new, s.target_lane[:, 0])


# ---------------------------------------------------------------- controllers
def steering_control(xp, s: SimState):
    """ControlledVehicle.steering_control toward each vehicle's target lane (straight lanes)."""
    y, target_lane, speed, heading = (a.reshape(-1) for a in (s.y, s.target_lane, s.speed, s.heading))
    rows = None
    if xp.host:
        # A vehicle on its target lane's centre line (lateral 0), with heading 0 and speed >= 0
        # steers exactly +0.0: every step below maps those zeros to zeros. The law runs for the
        # others only (the check costs a read-back, hence host backends only).
        rows = xp.flatnonzero((heading != 0) | (y != LANE_WIDTH * target_lane) | ~(speed >= 0))
        y, target_lane, speed, heading = y[rows], target_lane[rows], speed[rows], heading[rows]
    speed = not_zero(xp, speed)
    lateral = y - LANE_WIDTH * target_lane
    lateral_speed_command = -KP_LATERAL * lateral
    heading_command = xp.arcsin(xp.clip(lateral_speed_command / speed, -1, 1))
    # lane heading (0.0) + command: the 0.0 + only turns -0.0 into 0.0, which the subtraction
    # and wrap_to_pi below map to the same bits, so it is left out
    heading_ref = xp.clip(heading_command, -np.pi / 4, np.pi / 4)
    heading_rate_command = KP_HEADING * wrap_to_pi(xp, heading_ref - heading)
    slip_angle = xp.arcsin(xp.clip(V_LENGTH / 2 / speed * heading_rate_command, -1, 1))
    steering = xp.clip(xp.arctan(2 * xp.tan(slip_angle)), -MAX_STEERING, MAX_STEERING)
    if rows is None:
        return steering.reshape(s.y.shape)
    out = xp.zeros(s.y.shape[0] * s.y.shape[1])
    out[rows] = steering
    return out.reshape(s.y.shape)


class FrameView:
    """Flat (B*N,) views and per-frame quantities shared by the decision code.

    Vehicles are addressed by global index ``g = b * N + n``; -1 stands for None.
    """

    def __init__(self, xp, s: SimState, fixed: dict | None = None, drivers: bool = False, hazards: bool = False) -> None:
        self.xp = xp
        fixed = step_constants(xp, s, drivers) if fixed is None else fixed
        self.static = s.static.reshape(-1) if hazards else None  # obstacles (None: there are none)
        # per-vehicle driver parameters, flat, or None: highway-env's constants for every vehicle
        self.drivers = None
        if drivers:
            self.drivers = {name: getattr(s, name).reshape(-1) for name in DRIVER_DEFAULTS}
            self.drivers["gap_divisor"] = fixed["gap_divisor"]
        self.B, self.N = s.x.shape
        self.x = s.x.reshape(-1)
        self.y = s.y.reshape(-1)
        self.speed = s.speed.reshape(-1)
        self.lane = s.lane.reshape(-1)
        self.target_lane = s.target_lane.reshape(-1)
        self.delta = s.delta.reshape(-1)
        heading = s.heading.reshape(-1)
        # the vehicles not heading straight along the road (None: unknown, on a device); see _at_rows
        self.turned = turned = xp.flatnonzero(heading != 0) if xp.host else None
        self.cos = _at_rows(xp, xp.cos, heading, turned, 1.0)
        self.sin = _at_rows(xp, xp.sin, heading, turned)
        self.vx = self.speed * self.cos  # Vehicle.velocity = speed * direction
        self.vy = self.speed * self.sin
        # IDMVehicle.acceleration's free-road ratio max(v, 0) / |not_zero(v0)|, per vehicle
        self.ratio = xp.maximum(self.speed, 0.0) / fixed["v0"]
        # ... and its free-road term with the vehicle's own DELTA (what every self-acceleration uses)
        self.free = self.param("comfort_acc_max", None) * (1 - xp.power(self.ratio, self.delta))

    def param(self, name: str, me):
        """Driver parameter ``name`` of vehicles ``me`` (global indices; None: all, in order): the
        class constant when no vehicle has its own."""
        if self.drivers is None:
            return _GAP_DIVISOR if name == "gap_divisor" else DRIVER_DEFAULTS[name]
        return self.drivers[name] if me is None else self.drivers[name][me]


def step_constants(xp, s: SimState, drivers: bool) -> dict[str, Any]:
    """What :class:`FrameView` reads that stays fixed over the frames of a policy step, which
    :func:`simulate` computes once: ``v0``, :func:`free_speed`, and with per-vehicle drivers
    ``gap_divisor``, desired_gap's 2 sqrt(-COMFORT_ACC_MAX * COMFORT_ACC_MIN) as highway-env
    orders it, flat (driver parameters change only when an env is spawned)."""
    fixed = {"v0": free_speed(xp, s)}
    if drivers:
        fixed["gap_divisor"] = 2 * xp.sqrt(-s.comfort_acc_max.reshape(-1) * s.comfort_acc_min.reshape(-1))
    return fixed


def free_speed(xp, s: SimState):
    """|not_zero(v0)| of IDMVehicle.acceleration, flat: the target speed clipped to the lane's
    limit, >= 0 after the clip, where |not_zero(v0)| is max(v0, 1e-2). It changes only when a
    target speed does (the ego's meta-actions, resets), so :func:`simulate` computes it once
    per policy step."""
    return xp.maximum(xp.clip(s.target_speed, 0, SPEED_LIMIT), 1e-2).reshape(-1)


_LAYOUTS: dict = {}


def _sorted_layout(xp, B: int, N: int):
    """Constant arrays of the x-sorted, vehicle-major layout of :func:`neighbour_tables`, cached
    per backend and shape.

    The vehicle at sorted position p of env b is on *row* r = p + 1 (rows 0 and N + 1 stand for
    none behind / none ahead) and has the *slot* r * B + b. Returns (slot of sorted (b, p)
    flattened (B*N,), env of each global index (B*N,), env offsets b * N (B, 1), rows r (N, 1),
    N + 1 - r (N, 1)); rows in the smallest integer type that holds N + 1.
    """
    key = (xp.name, str(getattr(xp, "device", "")), B, N)
    if key not in _LAYOUTS:
        b, p = xp.arange(B), xp.arange(N)
        rows_dtype = np.int8 if N + 1 < 2**7 else np.int16 if N + 1 < 2**15 else np.int64
        _LAYOUTS[key] = (((p[None, :] + 1) * B + b[:, None]).reshape(-1), xp.repeat(b, N), (b * N)[:, None],
                         xp.astype(p + 1, rows_dtype)[:, None], xp.astype(N - p, rows_dtype)[:, None])
    return _LAYOUTS[key]


class Neighbours:
    """Road.neighbour_vehicles tables (see :func:`neighbour_tables`).

    ``ahead[lane, r, b]`` is N + 1 minus the row of the nearest vehicle on ``lane`` in rows
    > r of env b (0: none), ``behind[lane, r, b]`` the row of the nearest one in rows < r (0:
    none); ``owner_ahead`` / ``owner_behind`` map (that value, env) to a global index, -1 for
    none. Query with :meth:`at`, then :meth:`front` / :meth:`rear`.
    """

    def __init__(self, xp, slot, env, ahead, behind, owner_ahead, owner_behind, num_envs: int) -> None:
        self.xp, self.slot, self.env, self.B = xp, slot, env, num_envs
        self.ahead, self.behind = ahead.reshape(-1), behind.reshape(-1)
        self.owner_ahead, self.owner_behind = owner_ahead.reshape(-1), owner_behind.reshape(-1)
        self.stride = ahead.shape[1] * num_envs

    def at(self, g, lane):
        """Table positions of vehicles ``g`` (global indices, None: all in order) on ``lane`` (valid lanes)."""
        if g is None:
            return lane * self.stride + self.slot, self.env
        return lane * self.stride + self.slot[g], self.env[g]

    def front(self, at):
        index, env = at
        return self.owner_ahead[self.xp.astype(self.ahead[index], np.int64) * self.B + env]

    def rear(self, at):
        index, env = at
        return self.owner_behind[self.xp.astype(self.behind[index], np.int64) * self.B + env]


def neighbour_tables(xp, s: SimState, lanes: int, present: bool = False) -> Neighbours:
    """Road.neighbour_vehicles for every vehicle and every lane, as :class:`Neighbours`.

    A vehicle is on lane l when ``on_lane(margin=1)``: |y - 4 l| <= 3 and -5 <= x < 10005. The
    front is the nearest one at or ahead (x_v >= x), the rear the nearest strictly behind;
    -1 when none. Vehicles at exactly equal x (crash impacts make such ties) are ordered by
    descending index: seen from behind, the front among them is the last in road order and the
    rear the first, as highway-env's ``s_v <= s_front`` / ``s_v > s_rear`` pick them. (Between a
    vehicle and another at exactly its own x highway-env calls the other a front whatever their
    order; here the higher index is the rear. Only crashed, inactive vehicles meet that.)

    Layout: vehicles sorted by x within each env, vehicle-major ``(lane, row, env)``, so the
    scans along the sorted rows run over contiguous rows of small integers; only the entries
    a caller asks for are gathered back to vehicles.
    """
    B, N = s.x.shape
    slot_bn, env, base, rows, rows_up = _sorted_layout(xp, B, N)
    # (B, N) global index of the p-th in x order; equal x in descending index (highway-env's
    # front among equally near ones is the last in road order, its rear the first). Exact ties
    # come from collision impacts: on the host only envs with a crashed vehicle take the
    # tie-aware sort (a plain sort of nearly sorted rows costs half); on a device every env does.
    if xp.host:
        order = xp.argsort_stable(s.x, axis=1)
        crash_envs = xp.flatnonzero(xp.any(s.crashed, axis=1))
        if crash_envs.shape[0]:
            order[crash_envs] = N - 1 - xp.argsort_stable(xp.flip1(s.x[crash_envs]), axis=1)
    else:
        order = N - 1 - xp.argsort_stable(xp.flip1(s.x), axis=1)
    order_g = order + base
    owner_behind = xp.full((N + 2, B), -1, np.int64)  # (row, env) -> global index
    owner_behind[1 : N + 1] = order_g.T
    owner_ahead = xp.full((N + 2, B), -1, np.int64)  # (N + 1 - row, env) -> global index
    owner_ahead[1 : N + 1] = xp.flip1(order_g).T
    slot = xp.zeros(B * N, np.int64)
    slot[order_g.reshape(-1)] = slot_bn
    sorted_g = owner_behind[1 : N + 1].reshape(-1)
    ys = s.y.reshape(-1)[sorted_g].reshape(N, B)
    # lane by lane: the same comparisons as one broadcast over (lanes, N, B), without its
    # large float temporaries (several times slower at B = 1024)
    on = xp.stack([xp.abs(ys - LANE_WIDTH * lane) <= LANE_WIDTH / 2 + 1 for lane in range(lanes)])
    if present:  # absent slots are on no lane
        on &= s.present.reshape(-1)[sorted_g].reshape(N, B)[None]
    # the longitudinal part of on_lane holds for every vehicle while all x are within the
    # lanes' extent: checked on the host when that is free
    span = host_range(xp, s.x)
    if span is None or not (-V_LENGTH <= span[0] and span[1] < LANE_LENGTH + V_LENGTH):
        xs = s.x.reshape(-1)[sorted_g].reshape(N, B)
        on &= (-V_LENGTH <= xs) & (xs < LANE_LENGTH + V_LENGTH)
    up, down = on * rows_up, on * rows  # (lanes, N, B): N + 1 - row / row where on the lane, else 0
    ahead = xp.zeros((lanes, N + 2, B), rows.dtype)
    behind = xp.zeros((lanes, N + 2, B), rows.dtype)
    for r in range(N - 1, 0, -1):  # ahead[:, r] = max of up over rows r + 1 .. N
        xp.maximum(ahead[:, r + 1], up[:, r], out=ahead[:, r])
    for r in range(2, N + 1):  # behind[:, r] = max of down over rows 1 .. r - 1
        xp.maximum(behind[:, r - 1], down[:, r - 2], out=behind[:, r])
    return Neighbours(xp, slot, env, ahead, behind, owner_ahead, owner_behind, B)


_GAP_DIVISOR = 2 * np.sqrt(-COMFORT_ACC_MAX * COMFORT_ACC_MIN)


def _picker(ego):
    """Gather by ``ego`` indices, or the identity when ego is None (every vehicle, in order)."""
    return (lambda a: a) if ego is None else (lambda a: a[ego])


def desired_gap(F: FrameView, me, ego, front):
    """``me``.desired_gap(ego, front) with projected speed difference: vehicles ``me`` (global
    indices; None: all, in order) judge with their own parameters (indices >= 0; ego None: all,
    where a zero gap may come out with the other sign: idm_acceleration squares it)."""
    pick = _picker(ego)
    ve = pick(F.speed)
    if ego is None and F.turned is not None:
        # A vehicle heading straight (cos 1, sin +0: most of them) projects dv = (vx - vx_front)
        # + (vy - vy_front) * 0: adding that zero changes at most the sign of a zero dv, and so
        # of the ve dv / divisor term, which leaves the gap's sum alone (or, where the sum is a
        # zero too, its sign, which the gap's square in idm_acceleration drops): the full
        # projection is computed for the turned vehicles only
        dv = F.vx - F.vx[front]
        t, front_t = F.turned, front[F.turned]
        dv[t] = (F.vx[t] - F.vx[front_t]) * F.cos[t] + (F.vy[t] - F.vy[front_t]) * F.sin[t]
    else:
        dv = (pick(F.vx) - F.vx[front]) * pick(F.cos) + (pick(F.vy) - F.vy[front]) * pick(F.sin)
    return (F.param("distance_wanted", me) + ve * F.param("time_wanted", me)
            + ve * dv / F.param("gap_divisor", me))


def idm_acceleration(F: FrameView, me, ego, front, free=None):
    """``me``.acceleration(ego_vehicle=ego, front_vehicle=front): vehicles ``me`` (global
    indices; None: all, in order) compute with their own DELTA and IDM parameters.

    ``ego``/``front`` are global indices, -1 for None (then 0 / no interaction term); ego None
    means every vehicle in order (no gathers). ``free``: the free-road term, when the caller
    has it (``F.free[ego]`` when me is ego).
    """
    xp = F.xp
    e = None if ego is None else xp.maximum(ego, 0)
    pick = _picker(e)
    comfort_acc_max = F.param("comfort_acc_max", me)
    if free is None:
        free = comfort_acc_max * (1 - xp.power(pick(F.ratio), F.delta if me is None else F.delta[me]))
    f = xp.maximum(front, 0)
    d = F.x[f] - pick(F.x)
    # power(gap / not_zero(d), 2): not_zero only flips the sign of |d| clamped to 1e-2, which
    # the square drops, so |d| clamped gives the same bits
    interaction = comfort_acc_max * xp.power(desired_gap(F, me, e, f) / xp.maximum(xp.abs(d), 1e-2), 2)
    acc = xp.where(front >= 0, free - interaction, free)
    if ego is None:
        return acc
    if F.static is not None:  # an obstacle is no Vehicle: IDMVehicle.acceleration gives it 0
        acc = xp.where(F.static[e], 0.0, acc)
    return xp.where(ego >= 0, acc, 0.0)


def _mobil(F: FrameView, nb: Neighbours, me, candidate, self_a):
    """IDMVehicle.mobil(candidate lane) for vehicles ``me`` (global indices, candidate lanes valid).

    ``self_a``: their acceleration behind their current front (``acceleration(self, old_preceding)``).
    """
    xp = F.xp
    at = nb.at(me, candidate)
    new_preceding = nb.front(at)
    self_pred_a = idm_acceleration(F, me, me, new_preceding, free=F.free[me])
    jerk = self_pred_a - self_a
    politeness = F.param("politeness", me)
    gain = F.param("lane_change_min_acc_gain", me)
    braking = F.param("lane_change_max_braking_imposed", me)
    impolite = not politeness if F.drivers is None else xp.host and not bool(xp.any(politeness != 0))
    if impolite:  # highway-env's IDMVehicle (politeness 0): the incentive is the own gain alone
        # ... so the safety criterion is only evaluated where the incentive holds (about a
        # fifth of the candidates); the result is the same as evaluating both everywhere
        keen = xp.flatnonzero(~(jerk < gain))
        change = xp.zeros(me.shape[0], np.bool_)
        if keen.shape[0]:
            new_following = nb.rear((at[0][keen], at[1][keen]))
            new_following_pred_a = idm_acceleration(F, me[keen], new_following, me[keen])
            change[keen] = ~(new_following_pred_a < -(braking if F.drivers is None else braking[keen]))
        return change
    new_following = nb.rear(at)
    new_following_pred_a = idm_acceleration(F, me, new_following, me)
    own = nb.at(me, F.lane[me])
    old_preceding, old_following = nb.front(own), nb.rear(own)
    new_following_a = idm_acceleration(F, me, new_following, new_preceding)
    old_following_a = idm_acceleration(F, me, old_following, me)
    old_following_pred_a = idm_acceleration(F, me, old_following, old_preceding)
    jerk = jerk + politeness * (new_following_pred_a - new_following_a + old_following_pred_a - old_following_a)
    unsafe = new_following_pred_a < -braking
    return ~unsafe & ~(jerk < gain)


def _aborts(F: FrameView, changing, deciding, decided):
    """Which lane-changing vehicles abort (IDMVehicle.change_lane_policy, first branch); flat bool.

    Vehicle j aborts if some other vehicle i, not on j's target lane but targeting it, is
    ahead within j's desired gap. Vehicle i's target as j sees it is the one after i's own
    act() when i < j (sequential road.act), before it otherwise.
    """
    xp = F.xp
    B, N = F.B, F.N
    aborted = xp.zeros(B * N, np.bool_)
    rows = xp.flatnonzero(changing)
    if rows.shape[0] == 0:
        return aborted
    j = rows[:, None]
    env = rows // N
    i = (env * N)[:, None] + xp.arange(N)  # (K, N) every vehicle of j's env

    def of_i(a):  # a[i], gathered as whole env rows (faster than element by element)
        return a.reshape(B, N)[env]

    t_j = F.target_lane[j]
    dx = of_i(F.x) - F.x[j]
    # i targets j's target lane, as j sees it, only if its target before or after its act()
    # (``decided``; an abort would put it back on its lane, not j's target) is that lane: the
    # other pairs never abort j, so the desired gap is computed for the pairs left only
    close = (of_i(F.lane) != t_j) & ((of_i(F.target_lane) == t_j) | (of_i(decided) == t_j)) & (0 < dx) & (i != j)
    if F.static is not None:  # obstacles are road.objects, not road.vehicles
        close &= ~of_i(F.static)
    k, n = xp.nonzero(close)
    near = dx[k, n] < desired_gap(F, rows[k], rows[k], i[k, n])
    # Only the close pairs (j, i) can abort j: iterate on them alone (usually a handful)
    k, n = k[near], n[near]
    if k.shape[0] == 0:
        return aborted
    pj, pi, t_p = rows[k], i[k, n], t_j[k, 0]
    before = pi < pj
    pre = F.target_lane[pi]
    deciding_i, decided_i, changing_i = deciding[pi], decided[pi], changing[pi]
    lane_i = F.lane[pi]
    for _ in range(N + 1):
        post = xp.where(deciding_i, decided_i, xp.where(changing_i & aborted[pi], lane_i, pre))
        seen = xp.where(before, post, pre)
        new = xp.zeros(B * N, np.bool_)
        new[pj[seen == t_p]] = True
        if xp.array_equal(new, aborted):
            break
        aborted = new
    return aborted


def road_act(s: SimState, params: SimParams, fixed: dict | None = None):
    """Road.act(): every vehicle's act(); returns (steering, acceleration) commands (B, N).

    ``fixed``: :func:`step_constants` of this state, when the caller has them."""
    xp = params.xp
    B, N = s.x.shape
    L = params.lanes
    F = FrameView(xp, s, fixed, params.drivers, params.hazards)
    is_traffic = xp.arange(N)[None, :] > 0
    active = (is_traffic & ~s.crashed).reshape(-1)  # crashed IDM vehicles return at once
    if params.padded:
        active &= s.present.reshape(-1)
    if params.hazards:  # obstacles never act; braking vehicles keep their lane (enable_lane_change False)
        active &= ~s.static.reshape(-1)
        lane_keeping = (s.brake_time < np.inf).reshape(-1)
    nb = neighbour_tables(xp, s, L, params.padded)
    # IDM in the current lane for every vehicle; depends on positions only, so it is computed
    # once here and serves both MOBIL's acceleration(self, old_preceding) and the longitudinal control
    acc = idm_acceleration(F, None, None, nb.front(nb.at(None, F.lane)), free=F.free)
    # change_lane_policy
    changing = active & (F.lane != F.target_lane)
    deciding = active & ~changing & (LANE_CHANGE_DELAY < s.timer.reshape(-1))
    if params.hazards:
        deciding &= ~lane_keeping
    rows = xp.flatnonzero(deciding)
    s.timer.reshape(-1)[rows] = 0.0
    decided = xp.copy(F.target_lane)
    me = rows[xp.abs(F.speed[rows]) >= 1]  # only change lane when moving
    lane_me, x_me, y_me = F.lane[me], F.x[me], F.y[me]
    lanes_me = s.lanes[me // N]
    x_ok = (0 <= x_me) & (x_me < LANE_LENGTH + V_LENGTH)
    for step in (-1, 1):  # side_lanes order: left (id - 1), then right (id + 1)
        candidate = lane_me + step
        ok = (candidate >= 0) & (candidate < lanes_me) & x_ok & (xp.abs(y_me - LANE_WIDTH * candidate) <= 2 * LANE_WIDTH)
        k = xp.flatnonzero(ok)  # reachable candidates only
        if k.shape[0] == 0:
            continue
        who, lane_to = me[k], candidate[k]
        change = _mobil(F, nb, who, lane_to, acc[who])
        decided[who[change]] = lane_to[change]
    aborted = _aborts(F, changing, deciding, decided)
    rows = xp.flatnonzero(aborted)  # changing vehicles only, so disjoint from the deciding ones
    decided[rows] = F.lane[rows]
    s.target_lane[:] = decided.reshape(B, N)
    F.target_lane = s.target_lane.reshape(-1)
    steering = steering_control(xp, s)
    # Longitudinal: ego speed control, traffic IDM (current lane, and target lane while changing)
    moving_lane = xp.flatnonzero(F.lane != F.target_lane)
    if moving_lane.shape[0]:
        front_target = nb.front(nb.at(moving_lane, F.target_lane[moving_lane]))
        acc_target = idm_acceleration(F, moving_lane, moving_lane, front_target, free=F.free[moving_lane])
        acc[moving_lane] = xp.minimum(acc[moving_lane], acc_target)
    if F.drivers is None:
        acc = xp.clip(acc, -ACC_MAX, ACC_MAX).reshape(B, N)
    else:
        acc_max = F.drivers["acc_max"]
        acc = xp.minimum(xp.maximum(acc, -acc_max), acc_max).reshape(B, N)
    if params.padded:  # absent slots stay where they are parked
        acc = xp.where(s.present, acc, 0.0)
    if params.hazards:
        acc = xp.where(s.static, 0.0, acc)
        # BrakingVehicle.act once braking: Vehicle.act with -brake_decel while moving, else 0
        braking = (s.brake_time <= s.elapsed) & ~s.crashed
        acc = xp.where(braking, xp.where(s.speed > 0, -s.brake_decel, 0.0), acc)
    acc[:, 0] = KP_A * (s.target_speed[:, 0] - s.speed[:, 0])
    return steering, acc


# ---------------------------------------------------------------- integration and collisions
def road_step(s: SimState, params: SimParams, steering, acc) -> None:
    """Road.step(dt): Vehicle.step for all (bicycle model), then handle_collisions."""
    xp = params.xp
    dt = params.dt
    s.timer += dt  # IDM vehicles' lane-change timers; the ego has none and keeps 0
    s.timer[:, 0] = 0.0
    if params.hazards:
        s.elapsed += dt  # BrakingVehicle.step: elapsed first
    # The masked updates below change nothing outside their mask; on the host (see xp ``host``)
    # they touch the masked rows only, or are skipped when the mask is empty.
    speed_flat = s.speed.reshape(-1)
    speeds = host_range(xp, speed_flat)
    if not xp.host:
        steering = xp.where(s.crashed, 0.0, steering)
        acc = xp.where(s.crashed, -1.0 * s.speed, acc)
    else:  # the same, on the (few) crashed vehicles only; steering and acc are road_act's own arrays
        crashed = xp.flatnonzero(s.crashed)
        steering.reshape(-1)[crashed] = 0.0
        acc.reshape(-1)[crashed] = -1.0 * speed_flat[crashed]
    if speeds is None or not (MIN_SPEED <= speeds[0] and speeds[1] <= MAX_SPEED):
        acc = xp.where(s.speed > MAX_SPEED, xp.minimum(acc, 1.0 * (MAX_SPEED - s.speed)),
                       xp.where(s.speed < MIN_SPEED, xp.maximum(acc, 1.0 * (MIN_SPEED - s.speed)), acc))
    steering, heading = steering.reshape(-1), s.heading.reshape(-1)
    if xp.host:
        # Only vehicles with a nonzero steering or heading turn: elsewhere both are +-0, and so
        # are beta and heading + beta, so y and heading gain +-0 and x gains speed * 1.0 * dt.
        # Those vehicles skip the trigonometry and their y/heading updates (adding +-0 to a
        # y or heading that is never -0.0, see SimState, changes no bit).
        turning = xp.flatnonzero((steering != 0) | (heading != 0))
        beta = xp.arctan(1 / 2 * xp.tan(steering[turning]))
        course = heading[turning] + beta
        unit_x = xp.full(heading.shape, 1.0)
        unit_x[turning] = xp.cos(course)
        _advance(s.x, unit_x, s.speed, dt)  # x += speed * cos(heading + beta) * dt
        y, speed_t = s.y.reshape(-1), s.speed.reshape(-1)[turning]
        y[turning] = _advance(y[turning], xp.sin(course), speed_t, dt)
    else:
        turning = None
        beta = xp.arctan(1 / 2 * xp.tan(steering))
        course = heading + beta
        _advance(s.x, xp.cos(course), s.speed, dt)
        _advance(s.y, xp.sin(course), s.speed, dt)
    impacted = None
    if not xp.host or bool(xp.any(s.has_impact)):
        if xp.host:  # adding 0.0 elsewhere changes no bit (x and y are never -0.0)
            impacted = xp.flatnonzero(s.has_impact)
            s.x.reshape(-1)[impacted] += s.impact.reshape(-1, 2)[impacted, 0]
            s.y.reshape(-1)[impacted] += s.impact.reshape(-1, 2)[impacted, 1]
        else:
            s.x += xp.where(s.has_impact, s.impact[..., 0], 0.0)
            s.y += xp.where(s.has_impact, s.impact[..., 1], 0.0)
        s.crashed |= s.has_impact
        s.has_impact[:] = False
    # heading += speed * sin(beta) / (l/2) * dt
    if turning is None:
        _advance(s.heading, xp.sin(beta), s.speed, dt, V_LENGTH / 2)
    else:
        heading[turning] = _advance(heading[turning], xp.sin(beta), speed_t, dt, V_LENGTH / 2)
    s.speed += acc * dt
    if params.hazards:  # BrakingVehicle.step: a braking vehicle stops at 0
        s.speed[:] = xp.where((s.brake_time <= s.elapsed) & (s.speed < 0), 0.0, s.speed)
    reach = None if speeds is None else max(-speeds[0], speeds[1]) * dt * 1.01 + 1e-9  # how far any x moved, at most
    _update_lanes(s, params, turning, impacted, reach)
    handle_collisions(s, params)


def _update_lanes(s: SimState, params: SimParams, turning, impacted, reach) -> None:
    """Vehicle.on_state_update's lane_index, recomputed only where it can have changed.

    ``lane`` always equals :func:`closest_lane` of the current x, y, heading (spawning and
    ``FastHighwayCore.set_state`` establish it). A vehicle outside ``turning`` (steering and heading
    both 0) and not displaced by an impact kept its y and heading this frame, and while
    every x is within the lanes' extent now and was one frame ago, x does not enter the
    distance, so its closest lane is the one it had. ``turning``/``impacted`` None: all rows;
    ``reach``: a bound on how far any x moved this frame (None: all rows).
    """
    xp = params.xp
    if turning is not None and reach is not None:
        span = host_range(xp, s.x)
        if span is not None and reach <= span[0] and span[1] <= LANE_LENGTH - reach:
            rows = turning if impacted is None else xp.concatenate([turning, impacted])
            if rows.shape[0]:
                lane = s.lane.reshape(-1)
                lane[rows] = closest_lane(xp, s.x.reshape(-1)[rows], s.y.reshape(-1)[rows],
                                          s.heading.reshape(-1)[rows], s.lanes[rows // s.x.shape[1]])
            return
    s.lane[:] = closest_lane(xp, s.x, s.y, s.heading, s.lanes[:, None])


_CORNERS = np.array(((-V_LENGTH / 2, -V_WIDTH / 2), (-V_LENGTH / 2, V_WIDTH / 2),
                     (V_LENGTH / 2, V_WIDTH / 2), (V_LENGTH / 2, -V_WIDTH / 2)))
_CONE_CORNERS = np.array(((-CONE_LENGTH / 2, -CONE_WIDTH / 2), (-CONE_LENGTH / 2, CONE_WIDTH / 2),
                          (CONE_LENGTH / 2, CONE_WIDTH / 2), (CONE_LENGTH / 2, -CONE_WIDTH / 2)))


def _advance(target, unit, speed, dt: float, divisor: float | None = None):
    """target += speed * unit [/ divisor] * dt, in place and in that order (the same bits as
    the expression), ``unit`` flat and consumed as the scratch array; returns ``target``."""
    step = unit.reshape(target.shape)
    step *= speed
    if divisor is not None:
        step /= divisor
    step *= dt
    target += step
    return target


def _polygons(xp, x, y, h, static=None):
    """RoadObject.polygon() of P vehicles (``static``: which are cones), corner-major: (5, P)
    x and y of the closed rectangle."""
    lx, ly = xp.asarray(_CORNERS[:, :1]), xp.asarray(_CORNERS[:, 1:])  # (4, 1) corners in the body frame
    if static is not None:
        cone = xp.asarray(_CONE_CORNERS)
        lx, ly = xp.where(static[None, :], cone[:, :1], lx), xp.where(static[None, :], cone[:, 1:], ly)
    c, sn = xp.cos(h), xp.sin(h)
    px = c * lx - sn * ly + x
    py = sn * lx + c * ly + y
    return xp.concatenate([px, px[:1]]), xp.concatenate([py, py[:1]])


def _interval_distance(xp, min_a, max_a, min_b, max_b):
    return xp.where(min_a < min_b, min_b - max_a, min_a - max_b)


def polygons_intersecting(xp, a, b, disp_a, disp_b):
    """utils.are_polygons_intersecting for P pairs: (intersecting, will_intersect, translation).

    ``a``/``b`` are (xs, ys) corner-major polygons from :func:`_polygons`, ``disp_*`` (dx, dy).
    The 8 separating axes (a's 4 edge normals, then b's) are handled at once as (8, P) arrays.
    """
    (ax, ay), (bx, by) = a, b
    nx = xp.concatenate([-ay[1:] + ay[:-1], -by[1:] + by[:-1]])  # (8, P) edge normals
    ny = xp.concatenate([ax[1:] - ax[:-1], bx[1:] - bx[:-1]])
    norm = xp.sqrt(nx * nx + ny * ny)
    nx, ny = nx / norm, ny / norm
    proj_a = ax[None, :4] * nx[:, None] + ay[None, :4] * ny[:, None]  # (8, 4, P)
    proj_b = bx[None, :4] * nx[:, None] + by[None, :4] * ny[:, None]
    min_a, max_a = xp.amin(proj_a, 1), xp.amax(proj_a, 1)
    min_b, max_b = xp.amin(proj_b, 1), xp.amax(proj_b, 1)
    static_d = _interval_distance(xp, min_a, max_a, min_b, max_b)
    vp = nx * (disp_a[0] - disp_b[0]) + ny * (disp_a[1] - disp_b[1])
    min_a = xp.where(vp < 0, min_a + vp, min_a)
    max_a = xp.where(vp < 0, max_a, max_a + vp)
    dyn_d = _interval_distance(xp, min_a, max_a, min_b, max_b)
    intersecting = ~xp.any(static_d > 0, axis=0)
    will = ~xp.any(dyn_d > 0, axis=0)
    best = xp.argmin(xp.abs(dyn_d), axis=0)
    cols = xp.arange(best.shape[0])
    axis_x, axis_y = nx[best, cols], ny[best, cols]
    centre_x = ax[:4].mean(0) - bx[:4].mean(0)
    centre_y = ay[:4].mean(0) - by[:4].mean(0)
    sign = xp.where(centre_x * axis_x + centre_y * axis_y > 0, 1.0, -1.0)
    distance = xp.abs(dyn_d[best, cols])
    translation = xp.stack([distance * (sign * axis_x), distance * (sign * axis_y)], axis=-1)
    return intersecting, will, translation


def _may_collide(xp, dx, dy, cos_a, sin_a, dh, vx, vy, static_b=None):
    """False only where are_polygons_intersecting surely returns (False, False, ...).

    Pairs (a, b) with centre offset (dx, dy), a's heading as (cos_a, sin_a), heading
    difference dh and relative displacement (vx, vy) = disp_a - disp_b; ``static_b``: b is a
    cone (None: no cones). The SAT's axes include a's own two, u (along a) and w; projected
    on them, the interval distances are |D_u| - h_u and |D_w| - h_w, and after the
    displacement at least |D_u| - h_u - |v_u| and |D_w| - h_w - |v_w|, with h_u = L_a/2 +
    L_b/2 |cos dh| + W_b/2 |sin dh| and h_w = W_a/2 + L_b/2 |sin dh| + W_b/2 |cos dh| the half
    extents of the Minkowski sum (b a vehicle or a cone). Where one of them is > 0, that axis
    separates the pair now and after the displacement: neither intersecting nor
    will_intersect. The 1e-6 m margin covers rounding. highway-env's pre-check (|D| <=
    diagonal + speed_a dt) admits many more pairs (e.g. side by side on neighbouring lanes),
    which this keeps out of the full 8-axis test.
    """
    c, sn = xp.abs(xp.cos(dh)), xp.abs(xp.sin(dh))
    half_length, half_width = V_LENGTH / 2, V_WIDTH / 2  # b's
    if static_b is not None:
        half_length = xp.where(static_b, CONE_LENGTH / 2, V_LENGTH / 2)
        half_width = xp.where(static_b, CONE_WIDTH / 2, V_WIDTH / 2)
    h_u = V_LENGTH / 2 + half_length * c + half_width * sn
    h_w = V_WIDTH / 2 + half_length * sn + half_width * c
    d_u, d_w = dx * cos_a + dy * sin_a, dy * cos_a - dx * sin_a
    v_u, v_w = vx * cos_a + vy * sin_a, vy * cos_a - vx * sin_a
    return (xp.abs(d_u) <= h_u + xp.abs(v_u) + 1e-6) & (xp.abs(d_w) <= h_w + xp.abs(v_w) + 1e-6)


def _near_pairs(xp, s: SimState, dt: float):
    """All pairs (b, i, j), i < j, passing RoadObject._is_colliding's distance pre-check,
    in np.nonzero order of a (B, N, N) mask.

    Pairs are searched in x order: the k-th neighbours in x are examined for k = 1, 2, ...
    until no pair of any env is within the largest pre-check distance (x gaps only grow
    with k), so the cost follows the traffic density instead of N^2.
    """
    B, N = s.x.shape
    order = xp.argsort_stable(s.x, axis=1)
    xs = xp.take_along_axis(s.x, order, axis=1)
    reach = DIAGONAL + float(xp.amax(s.speed.reshape(-1), 0)) * dt if N > 1 else 0.0
    found_b, found_a, found_c = [], [], []
    for k in range(1, N):
        within = (xs[:, k:] - xs[:, :-k]) <= reach
        if not bool(xp.any(within)):
            break
        b, p = xp.nonzero(within)
        found_b.append(b)
        found_a.append(order[b, p])
        found_c.append(order[b, p + k])
    if not found_b:
        empty = xp.zeros(0, np.int64)
        return empty, empty, empty
    b, a, c = xp.concatenate(found_b), xp.concatenate(found_a), xp.concatenate(found_c)
    i, j = xp.minimum(a, c), xp.maximum(a, c)
    dx, dy = s.x[b, j] - s.x[b, i], s.y[b, j] - s.y[b, i]
    near = xp.sqrt(dx * dx + dy * dy) <= DIAGONAL + s.speed[b, i] * dt
    b, i, j = b[near], i[near], j[near]
    road_order = xp.argsort_stable((b * N + i) * N + j)
    return b[road_order], i[road_order], j[road_order]


def _all_pairs(xp, s: SimState, dt: float, rows=None, padded: bool = True):
    """:func:`_near_pairs` of envs ``rows`` (indices; None: all), as (env, i, j) of the whole
    batch, between present slots only when ``padded``."""
    if rows is None:
        pb, pi, pj = _near_pairs(xp, s, dt)
    else:
        qb, pi, pj = _near_pairs(xp, SimpleNamespace(x=s.x[rows], y=s.y[rows], speed=s.speed[rows]), dt)
        pb = rows[qb]
    if padded:  # pairs of vehicles only
        both = s.present[pb, pi] & s.present[pb, pj]
        pb, pi, pj = pb[both], pi[both], pj[both]
    return pb, pi, pj


def _checked_pairs(xp, s: SimState, dt: float, pb, pi, pj):
    """The pairs RoadObject.handle_collisions tests when slots differ: one of the two checks
    collisions, they are not two obstacles (highway-env never tests objects against objects;
    obstacles come after the vehicles, so i < j leaves i a vehicle), and they pass the
    distance pre-check with their own diagonals."""
    keep = (s.check[pb, pi] | s.check[pb, pj]) & ~s.static[pb, pi]
    diag_i = xp.where(s.static[pb, pi], CONE_DIAGONAL, DIAGONAL)
    diag_j = xp.where(s.static[pb, pj], CONE_DIAGONAL, DIAGONAL)
    dx, dy = s.x[pb, pj] - s.x[pb, pi], s.y[pb, pj] - s.y[pb, pi]
    keep &= xp.sqrt(dx * dx + dy * dy) <= (diag_i + diag_j) / 2 + s.speed[pb, pi] * dt
    return pb[keep], pi[keep], pj[keep]


def _ego_pairs(xp, s: SimState, dt: float, rows=None, padded: bool = True):
    """(env, other) of the pairs (ego, other) passing the distance pre-check, in road order;
    ``rows`` (B,) bool: in those envs only (None: all)."""
    dx = s.x[:, 1:] - s.x[:, :1]
    reach = DIAGONAL + s.speed[:, :1] * dt
    # |dx| <= sqrt(dx^2 + dy^2): only the few vehicles within reach along x need the norm
    near_x = xp.abs(dx) <= reach
    if padded:
        near_x &= s.present[:, 1:]
    if rows is not None:
        near_x &= rows[:, None]
    pb, pj = xp.nonzero(near_x)
    dx, dy = dx[pb, pj], s.y[pb, pj + 1] - s.y[pb, 0]
    near = xp.sqrt(dx * dx + dy * dy) <= reach[pb, 0]
    return pb[near], pj[near] + 1


def handle_collisions(s: SimState, params: SimParams) -> None:
    """RoadObject.handle_collisions for pairs i < j in road order (ego-only unless traffic_collisions)."""
    xp = params.xp
    B, N = s.x.shape
    if params.traffic_collisions:
        pb, pi, pj = _all_pairs(xp, s, params.dt, None, params.padded)
        if params.hazards:
            pb, pi, pj = _checked_pairs(xp, s, params.dt, pb, pi, pj)
    elif params.hazards:
        # envs where only the ego checks take the ego's pairs; the others (work-zone traffic,
        # braking leaders and cones check too) search all pairs
        many = xp.any(s.check[:, 1:] & s.present[:, 1:], axis=1)
        pb, pj = _ego_pairs(xp, s, params.dt, ~many)
        pi = pj * 0
        rows = xp.flatnonzero(many)
        if rows.shape[0]:
            qb, qi, qj = _all_pairs(xp, s, params.dt, rows)
            pb, pi, pj = (xp.concatenate([a, c]) for a, c in ((pb, qb), (pi, qi), (pj, qj)))
            order = xp.argsort_stable((pb * N + pi) * N + pj)  # road order
            pb, pi, pj = pb[order], pi[order], pj[order]
        pb, pi, pj = _checked_pairs(xp, s, params.dt, pb, pi, pj)
    else:
        pb, pj = _ego_pairs(xp, s, params.dt, None, params.padded)
        pi = pj * 0
    if pb.shape[0] == 0:
        return
    xa, ya, ha, va = s.x[pb, pi], s.y[pb, pi], s.heading[pb, pi], s.speed[pb, pi]
    xb, yb, hb, vb = s.x[pb, pj], s.y[pb, pj], s.heading[pb, pj], s.speed[pb, pj]
    dt = params.dt
    cos_a, sin_a = xp.cos(ha), xp.sin(ha)
    disp_a = (va * cos_a * dt, va * sin_a * dt)
    disp_b = (vb * xp.cos(hb) * dt, vb * xp.sin(hb) * dt)
    static_b = s.static[pb, pj] if params.hazards else None  # (i is never static: see _checked_pairs)
    if xp.host:  # (on a device, filtering would cost a sync; every pre-checked pair is tested)
        keep = _may_collide(xp, xb - xa, yb - ya, cos_a, sin_a, hb - ha, disp_a[0] - disp_b[0], disp_a[1] - disp_b[1],
                            static_b)
        if not bool(xp.any(keep)):
            return
        if not bool(xp.all(keep)):
            pb, pi, pj, xa, ya, ha, xb, yb, hb = (a[keep] for a in (pb, pi, pj, xa, ya, ha, xb, yb, hb))
            disp_a, disp_b = tuple(a[keep] for a in disp_a), tuple(a[keep] for a in disp_b)
            static_b = None if static_b is None else static_b[keep]
    hit, will, translation = polygons_intersecting(
        xp, _polygons(xp, xa, ya, ha), _polygons(xp, xb, yb, hb, static_b), disp_a, disp_b)
    s.crashed[pb[hit], pi[hit]] = True
    s.crashed[pb[hit], pj[hit]] = True
    if bool(xp.any(will)):
        # impacts: self gets +t/2, other -t/2 (an obstacle other: self gets t, the obstacle
        # nothing); the last write wins, in road order of the pairs
        wb, wi, wj, t = pb[will], pi[will], pj[will], translation[will]
        target = xp.stack([wb * N + wi, wb * N + wj], axis=1).reshape(-1)
        if static_b is None:
            value = xp.stack([t / 2, -t / 2], axis=1).reshape(-1, 2)
        else:
            obstacle = static_b[will]
            value = xp.stack([xp.where(obstacle[:, None], t, t / 2), -t / 2], axis=1).reshape(-1, 2)
            written = xp.stack([xp.full(obstacle.shape, True, np.bool_), ~obstacle], axis=1).reshape(-1)
            target, value = target[written], value[written]
        order = xp.argsort_stable(target)  # writes in sequence order within each target
        target, value = target[order], value[order]
        last = xp.concatenate([target[1:] != target[:-1], xp.full((1,), True, np.bool_)])
        flat_impact = s.impact.reshape(B * N, 2)
        flat_impact[target[last]] = value[last]
        flat_has = s.has_impact.reshape(-1)
        flat_has[target[last]] = True


def simulate(s: SimState, params: SimParams, meta, on_frame=None) -> None:
    """AbstractEnv._simulate: one policy step of ``frames`` simulation frames.

    ``on_frame()`` runs after every frame but the last (highway-env's automatic rendering).
    """
    act_ego(s, params, meta)
    fixed = step_constants(params.xp, s, params.drivers)  # (target speeds: fixed for the rest of the step)
    for frame in range(params.frames):
        steering, acc = road_act(s, params, fixed)
        road_step(s, params, steering, acc)
        if on_frame is not None and frame < params.frames - 1:
            on_frame()
    s.time += 1 / params.policy_frequency

