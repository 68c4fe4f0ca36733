"""The versions a module that relies on another library's internals was written for: its `WRITTEN_FOR` and its
docstring name them, and these must be the ones installed."""

from __future__ import annotations

from importlib.metadata import version
from types import ModuleType


def assert_installed_as_written_for(module: ModuleType, library: str) -> None:
    written_for: dict[str, str] = module.WRITTEN_FOR
    installed = version(library)
    assert installed == written_for[library], (
        f"{library} is {installed}, {module.__name__} was written for {written_for[library]}: check that "
        "what it relies on still holds (its tests), then name the new version in it"
    )
    assert f"{library} {written_for[library]}" in (module.__doc__ or "")
