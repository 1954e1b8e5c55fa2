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

Every function is written once against the array operations of :mod:`.xp` (``params.xp``):
numpy, or torch on CPU or CUDA. Spawning draws from a numpy Generator on the host in both
cases, so both backends start from the same scenes for the same seed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from highway_env.road.lane import AbstractLane
from highway_env.vehicle.behavior import IDMVehicle
from highway_env.vehicle.controller import ControlledVehicle
from highway_env.vehicle.kinematics import Vehicle

from .xp import NumpyOps

LANE_WIDTH = AbstractLane.DEFAULT_WIDTH  # 4 m
LANE_LENGTH = 10000.0  # [m] straight_road_network default
SPEED_LIMIT = 30.0  # [m/s] HighwayEnv._create_road
V_LENGTH = Vehicle.LENGTH  # 5 m
V_WIDTH = Vehicle.WIDTH  # 2 m
DIAGONAL = float(np.sqrt(V_LENGTH**2 + V_WIDTH**2))
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
_NP = NumpyOps()  # host-side operations (spawning)
# Meta-action codes (DiscreteMetaAction.ACTIONS_ALL order)
LANE_LEFT, IDLE, LANE_RIGHT, FASTER, SLOWER = 0, 1, 2, 3, 4


@dataclass
class SimState:
    """Batched highway state; every array has the batch on axis 0 and vehicles on axis 1."""

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

    @classmethod
    def zeros(cls, num_envs: int, num_vehicles: int) -> SimState:
        """A numpy state of zeros (convert with :meth:`to`)."""
        shape = (num_envs, num_vehicles)
        return cls(
            x=np.zeros(shape), y=np.zeros(shape), heading=np.zeros(shape), speed=np.zeros(shape),
            lane=np.zeros(shape, np.int64), target_lane=np.zeros(shape, np.int64),
            target_speed=np.zeros(shape), delta=np.full(shape, DELTA_DEFAULT), timer=np.zeros(shape),
            crashed=np.zeros(shape, bool), impact=np.zeros((*shape, 2)), has_impact=np.zeros(shape, bool),
            speed_index=np.zeros(num_envs, np.int64), time=np.zeros(num_envs),
        )

    def to(self, xp) -> SimState:
        """The same state as arrays of backend ``xp``."""
        return SimState(**{f.name: xp.asarray(getattr(self, f.name)) for f in fields(self)})

    def numpy(self, xp) -> SimState:
        """The same state as numpy arrays (copies)."""
        return SimState(**{f.name: np.array(xp.to_numpy(getattr(self, f.name))) for f in fields(self)})

    def row_numpy(self, xp, b: int) -> SimState:
        """Env ``b`` as a numpy batch of one (copies)."""
        return SimState(**{f.name: np.array(xp.to_numpy(getattr(self, f.name)[b : b + 1])) for f in fields(self)})

    def assign(self, mask, other: SimState) -> None:
        """Rows ``mask`` of this state <- ``other`` (which holds exactly those rows, in order)."""
        for f in fields(self):
            getattr(self, f.name)[mask] = getattr(other, f.name)


@dataclass(frozen=True)
class SimParams:
    lanes: int
    vehicles: int  # N, ego included
    simulation_frequency: int
    policy_frequency: int
    traffic_collisions: bool
    target_speeds: np.ndarray
    ego_spacing: float
    vehicles_density: float
    initial_lane_id: int | None
    xp: Any = None  # array operations (.xp.NumpyOps or .xp.TorchOps)

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


def closest_lane(xp, x, y, heading, lanes: int):
    """RoadNetwork.get_closest_lane_index: argmin of distance_with_heading, ties to the lower lane."""
    extra = xp.maximum(x - LANE_LENGTH, 0.0) + xp.maximum(0 - x, 0.0)
    angle = xp.abs(wrap_to_pi(xp, heading))
    low = xp.astype(xp.clip(xp.floor(y / LANE_WIDTH), 0, lanes - 1), np.int64)
    high = xp.minimum(low + 1, lanes - 1)
    d_low = xp.abs(y - LANE_WIDTH * low) + extra + angle
    d_high = xp.abs(y - LANE_WIDTH * high) + extra + angle
    return xp.where(d_high < d_low, high, low)


# ---------------------------------------------------------------- spawning
def spawn(params: SimParams, rng: np.random.Generator, num_envs: int) -> SimState:
    """HighwayEnv._create_vehicles with Vehicle.create_random, ``num_envs`` fresh scenes (numpy)."""
    B, N, L = num_envs, params.vehicles, params.lanes
    s = SimState.zeros(B, N)
    lanes = rng.integers(0, L, size=(B, N))
    if params.initial_lane_id is not None:
        lanes[:, 0] = params.initial_lane_id
    speed = rng.uniform(0.7 * SPEED_LIMIT, 0.8 * SPEED_LIMIT, size=(B, N))
    speed[:, 0] = 25.0
    spacing = np.full((B, N), 1 / params.vehicles_density)
    spacing[:, 0] = params.ego_spacing
    offset = spacing * (12 + 1.0 * speed) * np.exp(-5 / 40 * L)
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
    return s


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
    new = xp.clip(s.target_lane[:, 0] + step, 0, params.lanes - 1)
    x0, y0 = s.x[:, 0], s.y[:, 0]
    reachable = (xp.abs(y0 - LANE_WIDTH * new) <= 2 * LANE_WIDTH) & (0 <= x0) & (x0 < LANE_LENGTH + V_LENGTH)
    s.target_lane[:, 0] = xp.where((step != 0) & reachable, new, s.target_lane[:, 0])


# ---------------------------------------------------------------- controllers
def steering_control(xp, s: SimState):
    """ControlledVehicle.steering_control toward each vehicle's target lane (straight lanes)."""
    lateral = s.y - LANE_WIDTH * s.target_lane
    lateral_speed_command = -KP_LATERAL * lateral
    heading_command = xp.arcsin(xp.clip(lateral_speed_command / not_zero(xp, s.speed), -1, 1))
    heading_ref = 0.0 + xp.clip(heading_command, -np.pi / 4, np.pi / 4)
    heading_rate_command = KP_HEADING * wrap_to_pi(xp, heading_ref - s.heading)
    slip_angle = xp.arcsin(xp.clip(V_LENGTH / 2 / not_zero(xp, s.speed) * heading_rate_command, -1, 1))
    steering = xp.arctan(2 * xp.tan(slip_angle))
    return xp.clip(steering, -MAX_STEERING, MAX_STEERING)


class FrameView:
    """Flat (B*N,) views and per-frame quantities shared by the decision code.

    Vehicles are addressed by global index ``g = b * N + n``; -1 stands for None.
    """

    def __init__(self, xp, s: SimState) -> None:
        self.xp = xp
        self.B, self.N = s.x.shape
        self.x = s.x.reshape(-1)
        self.y = s.y.reshape(-1)
        self.speed = s.speed.reshape(-1)
        self.lane = s.lane.reshape(-1)
        self.target_lane = s.target_lane.reshape(-1)
        self.delta = s.delta.reshape(-1)
        self.cos = xp.cos(s.heading).reshape(-1)
        self.sin = xp.sin(s.heading).reshape(-1)
        self.vx = self.speed * self.cos  # Vehicle.velocity = speed * direction
        self.vy = self.speed * self.sin
        self.target = xp.clip(s.target_speed, 0, SPEED_LIMIT).reshape(-1)  # IDM clips to the lane limit
        self.env_of = xp.repeat(xp.arange(self.B), self.N)


def neighbour_tables(xp, s: SimState, lanes: int):
    """Road.neighbour_vehicles for every vehicle and every lane: (front, rear), (B*N, L) global indices.

    A vehicle is on lane l when ``on_lane(margin=1)``: |y - 4 l| <= 3 and -5 <= x < 10005. The
    front is the nearest one at or ahead (x_v >= x), the rear the nearest strictly behind;
    -1 when none. Vehicles at exactly equal x are ordered by index (highway-env's tie rule
    differs there; exact float ties do not occur in practice).
    """
    B, N = s.x.shape
    order = xp.argsort_stable(s.x, axis=1)
    base = (xp.arange(B) * N)[:, None]
    order_g = (order + base).reshape(-1)
    rank_g = xp.zeros(B * N, np.int64)
    rank_g[order_g] = xp.arange(B * N)  # global index -> flat sorted position
    xs = s.x.reshape(-1)[order_g].reshape(B, N, 1)
    ys = s.y.reshape(-1)[order_g].reshape(B, N, 1)
    centres = LANE_WIDTH * xp.arange(lanes)
    on = (-V_LENGTH <= xs) & (xs < LANE_LENGTH + V_LENGTH) & (xp.abs(ys - centres) <= LANE_WIDTH / 2 + 1)
    pos = xp.arange(N)[None, :, None]
    nxt = xp.flip1(xp.cummin(xp.flip1(xp.where(on, pos, N)), axis=1))  # first on-lane at >= k
    prv = xp.cummax(xp.where(on, pos, -1), axis=1)  # last on-lane at <= k
    f_pos = xp.concatenate([nxt[:, 1:], xp.full((B, 1, lanes), N, np.int64)], axis=1)  # strictly after k
    r_pos = xp.concatenate([xp.full((B, 1, lanes), -1, np.int64), prv[:, :-1]], axis=1)  # strictly before
    order_pad = xp.concatenate([order_g.reshape(B, N), xp.full((B, 1), -1, np.int64)], axis=1).reshape(-1)
    base1 = (xp.arange(B) * (N + 1))[:, None, None]
    front_sorted = order_pad[xp.where(f_pos < N, f_pos, N) + base1]  # (B, N, L), -1 for none
    rear_sorted = order_pad[xp.where(r_pos >= 0, r_pos, N) + base1]
    front = front_sorted.reshape(B * N, lanes)[rank_g]
    rear = rear_sorted.reshape(B * N, lanes)[rank_g]
    return front, rear


def lane_neighbour(xp, table, g, lane):
    """table[g, lane] (lane clipped into range; mask invalid lanes yourself)."""
    return table[g, xp.clip(lane, 0, table.shape[1] - 1)]


def desired_gap(F: FrameView, ego, front):
    """IDMVehicle.desired_gap(ego, front) with projected speed difference (indices >= 0)."""
    ve = F.speed[ego]
    dv = (F.vx[ego] - F.vx[front]) * F.cos[ego] + (F.vy[ego] - F.vy[front]) * F.sin[ego]
    ab = -COMFORT_ACC_MAX * COMFORT_ACC_MIN
    return DISTANCE_WANTED + ve * TIME_WANTED + ve * dv / (2 * np.sqrt(ab))


def idm_acceleration(F: FrameView, delta, ego, front):
    """IDMVehicle.acceleration(ego_vehicle=ego, front_vehicle=front), with the caller's DELTA.

    ``ego``/``front`` are global indices, -1 for None (then 0 / no interaction term).
    """
    xp = F.xp
    e, f = xp.maximum(ego, 0), xp.maximum(front, 0)
    ve = F.speed[e]
    acc = COMFORT_ACC_MAX * (1 - xp.power(xp.maximum(ve, 0.0) / xp.abs(not_zero(xp, F.target[e])), delta))
    d = F.x[f] - F.x[e]
    interaction = COMFORT_ACC_MAX * xp.power(desired_gap(F, e, f) / not_zero(xp, d), 2)
    acc = xp.where(front >= 0, acc - interaction, acc)
    return xp.where(ego >= 0, acc, 0.0)


def _mobil(F: FrameView, front, rear, me, candidate):
    """IDMVehicle.mobil(candidate lane) for vehicles ``me`` (global indices)."""
    xp = F.xp
    new_preceding = lane_neighbour(xp, front, me, candidate)
    new_following = lane_neighbour(xp, rear, me, candidate)
    old_preceding = front[me, F.lane[me]]
    d = F.delta[me]
    new_following_pred_a = idm_acceleration(F, d, new_following, me)
    self_pred_a = idm_acceleration(F, d, me, new_preceding)
    self_a = idm_acceleration(F, d, me, old_preceding)
    jerk = self_pred_a - self_a
    if POLITENESS:
        old_following = rear[me, F.lane[me]]
        new_following_a = idm_acceleration(F, d, new_following, new_preceding)
        old_following_a = idm_acceleration(F, d, old_following, me)
        old_following_pred_a = idm_acceleration(F, d, old_following, old_preceding)
        jerk = jerk + POLITENESS * (new_following_pred_a - new_following_a + old_following_pred_a - old_following_a)
    unsafe = new_following_pred_a < -LANE_CHANGE_MAX_BRAKING_IMPOSED
    return ~unsafe & ~(jerk < LANE_CHANGE_MIN_ACC_GAIN)


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
    i = (F.env_of[rows] * N)[:, None] + xp.arange(N)  # (K, N) every vehicle of j's env
    t_j = F.target_lane[j]
    dx = F.x[i] - F.x[j]
    close = (F.lane[i] != t_j) & (0 < dx) & (dx < desired_gap(F, j + 0 * i, i)) & (i != j)
    before = i < j
    pre = F.target_lane[i]
    for _ in range(N + 1):
        post = xp.where(deciding, decided, xp.where(changing & aborted, F.lane, F.target_lane))
        seen = xp.where(before, post[i], pre)
        new = xp.zeros(B * N, np.bool_)
        new[rows] = xp.any(close & (seen == t_j), axis=1)
        if xp.array_equal(new, aborted):
            break
        aborted = new
    return aborted


def road_act(s: SimState, params: SimParams):
    """Road.act(): every vehicle's act(); returns (steering, acceleration) commands (B, N)."""
    xp = params.xp
    B, N = s.x.shape
    L = params.lanes
    F = FrameView(xp, s)
    is_traffic = xp.arange(N)[None, :] > 0
    active = (is_traffic & ~s.crashed).reshape(-1)  # crashed IDM vehicles return at once
    front, rear = neighbour_tables(xp, s, L)
    # change_lane_policy
    changing = active & (F.lane != F.target_lane)
    deciding = active & ~changing & (LANE_CHANGE_DELAY < s.timer.reshape(-1))
    s.timer[:] = xp.where(deciding, 0.0, s.timer.reshape(-1)).reshape(B, N)
    decided = xp.copy(F.target_lane)
    me = xp.flatnonzero(deciding & (xp.abs(F.speed) >= 1))  # only change lane when moving
    x_me, y_me = F.x[me], F.y[me]
    for step in (-1, 1):  # side_lanes order: left (id - 1), then right (id + 1)
        candidate = F.lane[me] + step
        ok = (candidate >= 0) & (candidate < L)
        ok &= (xp.abs(y_me - LANE_WIDTH * candidate) <= 2 * LANE_WIDTH) & (0 <= x_me) & (x_me < LANE_LENGTH + V_LENGTH)
        ok &= _mobil(F, front, rear, me, candidate)
        decided[me[ok]] = candidate[ok]
    aborted = _aborts(F, changing, deciding, decided)
    s.target_lane[:] = xp.where(deciding, decided, xp.where(aborted, F.lane, F.target_lane)).reshape(B, N)
    F.target_lane = s.target_lane.reshape(-1)
    steering = steering_control(xp, s)
    # Longitudinal: ego speed control, traffic IDM (current lane, and target lane while changing)
    everyone = xp.arange(B * N)
    acc = idm_acceleration(F, F.delta, everyone, front[everyone, F.lane])
    moving_lane = xp.flatnonzero(F.lane != F.target_lane)
    acc_target = idm_acceleration(F, F.delta[moving_lane], moving_lane, front[moving_lane, F.target_lane[moving_lane]])
    acc[moving_lane] = xp.minimum(acc[moving_lane], acc_target)
    acc = xp.clip(acc, -ACC_MAX, ACC_MAX).reshape(B, N)
    acc[:, 0] = KP_A * (s.target_speed[:, 0] - s.speed[:, 0])
    return steering, acc


# ---------------------------------------------------------------- integration and collisions
def road_step(s: SimState, params: SimParams, steering, acc) -> None:
    """Road.step(dt): Vehicle.step for all (bicycle model), then handle_collisions."""
    xp = params.xp
    dt = params.dt
    s.timer[:, 1:] += dt
    steering = xp.where(s.crashed, 0.0, steering)
    acc = xp.where(s.crashed, -1.0 * s.speed, acc)
    acc = xp.where(s.speed > MAX_SPEED, xp.minimum(acc, 1.0 * (MAX_SPEED - s.speed)),
                   xp.where(s.speed < MIN_SPEED, xp.maximum(acc, 1.0 * (MIN_SPEED - s.speed)), acc))
    beta = xp.arctan(1 / 2 * xp.tan(steering))
    s.x += s.speed * xp.cos(s.heading + beta) * dt
    s.y += s.speed * xp.sin(s.heading + beta) * dt
    s.x += xp.where(s.has_impact, s.impact[..., 0], 0.0)
    s.y += xp.where(s.has_impact, s.impact[..., 1], 0.0)
    s.crashed |= s.has_impact
    s.has_impact[:] = False
    s.heading += s.speed * xp.sin(beta) / (V_LENGTH / 2) * dt
    s.speed += acc * dt
    s.lane[:] = closest_lane(xp, s.x, s.y, s.heading, params.lanes)
    handle_collisions(s, params)


def _polygons(xp, x, y, h):
    """RoadObject.polygon() of P vehicles, corner-major: (5, P) x and y of the closed rectangle."""
    local = ((-V_LENGTH / 2, -V_WIDTH / 2), (-V_LENGTH / 2, V_WIDTH / 2),
             (V_LENGTH / 2, V_WIDTH / 2), (V_LENGTH / 2, -V_WIDTH / 2))
    c, sn = xp.cos(h), xp.sin(h)
    px = xp.stack([c * lx - sn * ly + x for lx, ly in local])
    py = xp.stack([sn * lx + c * ly + y for lx, ly in local])
    return xp.concatenate([px, px[:1]]), xp.concatenate([py, py[:1]])


def _interval_distance(xp, min_a, max_a, min_b, max_b):
    return xp.where(min_a < min_b, min_b - max_a, min_a - max_b)


def polygons_intersecting(xp, a, b, disp_a, disp_b):
    """utils.are_polygons_intersecting for P pairs: (intersecting, will_intersect, translation).

    ``a``/``b`` are (xs, ys) corner-major polygons from :func:`_polygons`, ``disp_*`` (dx, dy).
    """
    (ax, ay), (bx, by) = a, b
    static_d, dyn_d, nxs, nys = [], [], [], []
    for px, py in ((ax, ay), (bx, by)):
        for k in range(4):
            nx, ny = -py[k + 1] + py[k], px[k + 1] - px[k]
            norm = xp.sqrt(nx * nx + ny * ny)
            nx, ny = nx / norm, ny / norm
            proj_a = ax[:4] * nx + ay[:4] * ny
            proj_b = bx[:4] * nx + by[:4] * ny
            min_a, max_a = xp.amin(proj_a, 0), xp.amax(proj_a, 0)
            min_b, max_b = xp.amin(proj_b, 0), xp.amax(proj_b, 0)
            static_d.append(_interval_distance(xp, min_a, max_a, min_b, max_b))
            vp = nx * (disp_a[0] - disp_b[0]) + ny * (disp_a[1] - disp_b[1])
            min_a = xp.where(vp < 0, min_a + vp, min_a)
            max_a = xp.where(vp < 0, max_a, max_a + vp)
            dyn_d.append(_interval_distance(xp, min_a, max_a, min_b, max_b))
            nxs.append(nx)
            nys.append(ny)
    static_d, dyn_d = xp.stack(static_d), xp.stack(dyn_d)
    nxs, nys = xp.stack(nxs), xp.stack(nys)
    intersecting = ~xp.any(static_d > 0, axis=0)
    will = ~xp.any(dyn_d > 0, axis=0)
    best = xp.argmin(xp.abs(dyn_d), axis=0)
    cols = xp.arange(best.shape[0])
    axis_x, axis_y = nxs[best, cols], nys[best, cols]
    centre_x = ax[:4].mean(0) - bx[:4].mean(0)
    centre_y = ay[:4].mean(0) - by[:4].mean(0)
    sign = xp.where(centre_x * axis_x + centre_y * axis_y > 0, 1.0, -1.0)
    distance = xp.abs(dyn_d[best, cols])
    translation = xp.stack([distance * (sign * axis_x), distance * (sign * axis_y)], axis=-1)
    return intersecting, will, translation


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


def handle_collisions(s: SimState, params: SimParams) -> None:
    """RoadObject.handle_collisions for pairs i < j in road order (ego-only unless traffic_collisions)."""
    xp = params.xp
    B, N = s.x.shape
    if params.traffic_collisions:
        pb, pi, pj = _near_pairs(xp, s, params.dt)
    else:
        dx = s.x[:, 1:] - s.x[:, :1]
        dy = s.y[:, 1:] - s.y[:, :1]
        near = xp.sqrt(dx * dx + dy * dy) <= DIAGONAL + s.speed[:, :1] * params.dt
        pb, pj = xp.nonzero(near)
        pj = pj + 1
        pi = pj * 0
    if pb.shape[0] == 0:
        return
    xa, ya, ha, va = s.x[pb, pi], s.y[pb, pi], s.heading[pb, pi], s.speed[pb, pi]
    xb, yb, hb, vb = s.x[pb, pj], s.y[pb, pj], s.heading[pb, pj], s.speed[pb, pj]
    dt = params.dt
    disp_a = (va * xp.cos(ha) * dt, va * xp.sin(ha) * dt)
    disp_b = (vb * xp.cos(hb) * dt, vb * xp.sin(hb) * dt)
    hit, will, translation = polygons_intersecting(
        xp, _polygons(xp, xa, ya, ha), _polygons(xp, xb, yb, hb), disp_a, disp_b)
    s.crashed[pb[hit], pi[hit]] = True
    s.crashed[pb[hit], pj[hit]] = True
    if bool(xp.any(will)):
        # impacts: self gets +t/2, other -t/2; the last write wins, in road order of the pairs
        wb, wi, wj, t = pb[will], pi[will], pj[will], translation[will]
        target = xp.stack([wb * N + wi, wb * N + wj], axis=1).reshape(-1)
        value = xp.stack([t / 2, -t / 2], axis=1).reshape(-1, 2)
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
    for frame in range(params.frames):
        if frame == 0:
            act_ego(s, params, meta)
        steering, acc = road_act(s, params)
        road_step(s, params, steering, acc)
        if on_frame is not None and frame < params.frames - 1:
            on_frame()
    s.time += 1 / params.policy_frequency

