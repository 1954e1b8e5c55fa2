"""Name -> object registries whose lookup errors list the valid names."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from agents.errors import UserError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """A dict of named entries; ``get`` raises a :class:`UserError` naming the valid ones."""

    def __init__(self, kind: str, config_key: str) -> None:
        self.kind = kind
        self.config_key = config_key
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T) -> T:
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        if name not in self._entries:
            valid = ", ".join(sorted(self._entries))
            raise UserError(
                f"{self.config_key}: unknown {self.kind} '{name}'"
                f"{did_you_mean(name, self._entries)}; valid names: {valid}"
            )
        return self._entries[name]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))
