"""Draw an attention network's ego-attention weights on rollout frames.

A line goes from the ego to each vehicle it attends to, thicker and more opaque with the
weight (mean over heads). The vehicles are matched to observation rows the way highway-env's
Kinematics observation picks them (``road.close_objects_to``, sorted by distance); the
weights are computed once per decision and the lines follow the vehicles through the
intermediate simulation frames. Drawn with Pillow (already a matplotlib dependency).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw


class AttentionOverlay(gym.Wrapper):
    """Wrap an env rendering ``rgb_array``; ``render()`` frames carry the attention lines."""

    def __init__(self, env: gym.Env, model: Any) -> None:
        super().__init__(env)
        self.model = model
        self.weights: np.ndarray | None = None  # one weight per observation row
        self.vehicles: list[Any] = []

    def _update(self, obs: Any) -> None:
        from agents.models.inference import attention_weights

        base = self.env.unwrapped
        obs_type = getattr(base, "observation_type", None)
        ego = getattr(base, "vehicle", None)
        if obs_type is None or ego is None or getattr(obs_type, "order", "sorted") != "sorted" \
                or getattr(obs_type, "absolute", False) or not hasattr(obs_type, "vehicles_count"):
            self.weights, self.vehicles = None, []
            return
        self.weights = attention_weights(self.model, obs)[0].mean(axis=0)
        close = base.road.close_objects_to(ego, base.PERCEPTION_DISTANCE, count=obs_type.vehicles_count - 1,
                                           see_behind=obs_type.see_behind, sort=True,
                                           vehicles_only=not obs_type.include_obstacles)
        self.vehicles = [ego, *close[-obs_type.vehicles_count + 1:]]

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._update(obs)
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._update(obs)
        return obs, reward, terminated, truncated, info

    def render(self):
        frame = self.env.render()
        viewer = getattr(self.env.unwrapped, "viewer", None)
        if frame is None or self.weights is None or viewer is None or len(self.vehicles) < 2:
            return frame
        return draw_attention(frame, viewer.sim_surface.pos2pix, self.vehicles, self.weights)


def draw_attention(frame: np.ndarray, pos2pix, vehicles: list[Any], weights: np.ndarray) -> np.ndarray:
    """Lines from ``vehicles[0]`` (the ego) to the others, width and opacity by weight."""
    image = Image.fromarray(frame).convert("RGBA")
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    ego_px = pos2pix(*vehicles[0].position)
    top = float(np.max(weights[1:len(vehicles)])) if len(vehicles) > 1 else 0.0
    for vehicle, w in zip(vehicles[1:], weights[1:]):
        if w <= 0.01 or top <= 0:
            continue
        strength = float(w) / top
        draw.line([ego_px, pos2pix(*vehicle.position)], fill=(220, 30, 30, int(60 + 195 * strength)),
                  width=max(1, int(round(1 + 4 * strength))))
    return np.asarray(Image.alpha_composite(image, layer).convert("RGB"))
