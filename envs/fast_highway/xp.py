"""Array operations FastHighway needs, for numpy and for torch (CPU or CUDA).

The simulator is written once against these names (numpy's, where numpy has one); each
backend maps them to its library. Floats are float64 and indices int64 on both backends, so
numpy and torch give the same results up to the last bits of their math libraries.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class NumpyOps:
    name = "numpy"
    float64, int64, bool_ = np.float64, np.int64, np.bool_
    pi = np.pi
    # Arrays live in host memory: reading a value back (bool(any(...)), float(amin(...))) is
    # cheap, so the simulator may test a condition to skip work that would change nothing.
    host = True

    # creation / conversion
    def asarray(self, x: Any, dtype=None):
        return np.asarray(x, dtype=dtype)

    def to_numpy(self, x) -> np.ndarray:
        return np.asarray(x)

    def zeros(self, shape, dtype=np.float64):
        return np.zeros(shape, dtype)

    def full(self, shape, value, dtype=np.float64):
        return np.full(shape, value, dtype)

    def arange(self, n):
        return np.arange(n, dtype=np.int64)

    def copy(self, x):
        return x.copy()

    def astype(self, x, dtype):
        return x.astype(dtype)

    # elementwise
    where = staticmethod(np.where)
    maximum = staticmethod(np.maximum)
    minimum = staticmethod(np.minimum)
    clip = staticmethod(np.clip)
    abs = staticmethod(np.abs)
    floor = staticmethod(np.floor)
    round = staticmethod(np.round)
    sqrt = staticmethod(np.sqrt)
    power = staticmethod(np.power)
    cos, sin, tan = staticmethod(np.cos), staticmethod(np.sin), staticmethod(np.tan)
    arctan, arcsin = staticmethod(np.arctan), staticmethod(np.arcsin)
    remainder = staticmethod(np.remainder)

    # shape
    concatenate = staticmethod(np.concatenate)
    stack = staticmethod(np.stack)

    def flip1(self, x):
        return x[:, ::-1]

    def repeat(self, x, n):
        return np.repeat(x, n)

    # reductions / search
    def any(self, x, axis=None):
        return np.any(x, axis=axis)

    def all(self, x):
        return np.all(x)

    def amin(self, x, axis):
        return x.min(axis)

    def amax(self, x, axis):
        return x.max(axis)

    def argmin(self, x, axis):
        return np.argmin(x, axis=axis)

    def argsort_stable(self, x, axis=-1):
        return np.argsort(x, axis=axis, kind="stable")

    def flatnonzero(self, x):
        return np.flatnonzero(x)

    def nonzero(self, x):
        if x.ndim == 2 and x.shape[1]:
            # the same indices in the same (row-major) order; numpy's own 2-D nonzero takes
            # several times longer on the simulator's sparse masks
            return np.divmod(np.flatnonzero(x), x.shape[1])
        return np.nonzero(x)

    def array_equal(self, a, b) -> bool:
        return bool(np.array_equal(a, b))

    def take_along_axis(self, x, idx, axis):
        return np.take_along_axis(x, idx, axis=axis)


class TorchOps:
    name = "torch"

    def __init__(self, device: str = "cpu") -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.float64, self.int64, self.bool_ = torch.float64, torch.int64, torch.bool
        self.pi = float(np.pi)
        self.host = self.device.type == "cpu"  # see NumpyOps.host; on CUDA a read-back is a sync

    def _dtype(self, dtype):
        t = self.torch
        mapping = {np.float64: t.float64, np.int64: t.int64, np.int16: t.int16, np.int8: t.int8,
                   np.bool_: t.bool, bool: t.bool, float: t.float64, int: t.int64}
        return mapping.get(dtype, dtype)

    def asarray(self, x: Any, dtype=None):
        if isinstance(x, np.ndarray) and dtype is None:
            return self.torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
        return self.torch.as_tensor(x, dtype=self._dtype(dtype) if dtype is not None else None, device=self.device)

    def to_numpy(self, x) -> np.ndarray:
        return x.detach().cpu().numpy() if isinstance(x, self.torch.Tensor) else np.asarray(x)

    def zeros(self, shape, dtype=np.float64):
        return self.torch.zeros(shape, dtype=self._dtype(dtype), device=self.device)

    def full(self, shape, value, dtype=np.float64):
        return self.torch.full(shape, value, dtype=self._dtype(dtype), device=self.device)

    def arange(self, n):
        return self.torch.arange(n, dtype=self.torch.int64, device=self.device)

    def copy(self, x):
        return x.clone()

    def astype(self, x, dtype):
        return x.to(self._dtype(dtype))

    def _t(self, x, like):
        return x if isinstance(x, self.torch.Tensor) else self.torch.as_tensor(x, dtype=like.dtype, device=like.device)

    def where(self, c, a, b):
        t = self.torch
        if not isinstance(a, t.Tensor) and not isinstance(b, t.Tensor):
            a = t.as_tensor(a, dtype=t.float64 if isinstance(a, float) or isinstance(b, float) else None,
                            device=c.device)
        return t.where(c, a, b)

    def maximum(self, a, b, out=None):
        if out is not None:
            return self.torch.maximum(a, b, out=out)
        if not isinstance(b, self.torch.Tensor):
            return self.torch.clamp(a, min=b)
        if not isinstance(a, self.torch.Tensor):
            return self.torch.clamp(b, min=a)
        return self.torch.maximum(a, b)

    def minimum(self, a, b, out=None):
        if out is not None:
            return self.torch.minimum(a, b, out=out)
        if not isinstance(b, self.torch.Tensor):
            return self.torch.clamp(a, max=b)
        if not isinstance(a, self.torch.Tensor):
            return self.torch.clamp(b, max=a)
        return self.torch.minimum(a, b)

    def clip(self, x, lo, hi):
        return self.torch.clamp(x, lo, hi)

    def abs(self, x):
        return self.torch.abs(x)

    def floor(self, x):
        return self.torch.floor(x)

    def round(self, x):
        return self.torch.round(x)

    def sqrt(self, x):
        return self.torch.sqrt(x)

    def power(self, a, b):
        return self.torch.pow(a, b)

    def cos(self, x):
        return self.torch.cos(x)

    def sin(self, x):
        return self.torch.sin(x)

    def tan(self, x):
        return self.torch.tan(x)

    def arctan(self, x):
        return self.torch.arctan(x)

    def arcsin(self, x):
        return self.torch.arcsin(x)

    def remainder(self, a, b):
        return self.torch.remainder(a, b)

    def concatenate(self, xs, axis=0):
        return self.torch.cat(list(xs), dim=axis)

    def stack(self, xs, axis=0):
        return self.torch.stack(list(xs), dim=axis)

    def flip1(self, x):
        return self.torch.flip(x, dims=(1,))

    def repeat(self, x, n):
        return self.torch.repeat_interleave(x, n)

    def any(self, x, axis=None):
        return self.torch.any(x) if axis is None else self.torch.any(x, dim=axis)

    def all(self, x):
        return self.torch.all(x)

    def amin(self, x, axis):
        return self.torch.amin(x, dim=axis)

    def amax(self, x, axis):
        return self.torch.amax(x, dim=axis)

    def argmin(self, x, axis):
        return self.torch.argmin(x, dim=axis)

    def argsort_stable(self, x, axis=-1):
        return self.torch.sort(x, dim=axis, stable=True).indices

    def flatnonzero(self, x):
        return self.torch.nonzero(x.reshape(-1)).reshape(-1)

    def nonzero(self, x):
        return self.torch.nonzero(x, as_tuple=True)

    def array_equal(self, a, b) -> bool:
        return bool(self.torch.equal(a, b))

    def take_along_axis(self, x, idx, axis):
        return self.torch.gather(x, axis, idx)


def make_ops(backend: str, device: str = "cpu") -> NumpyOps | TorchOps:
    if backend == "numpy":
        return NumpyOps()
    if backend == "torch":
        return TorchOps(device)
    raise ValueError(f"config['backend']: unknown backend {backend!r}; valid: numpy, torch")
