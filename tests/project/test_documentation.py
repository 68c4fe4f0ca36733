"""The documentation says what the code does: the settings table is made from the settings class, and the
README's layout map names every module."""

from __future__ import annotations

from pathlib import Path

from scripts.settings_doc import DOC, documented, table

ROOT = Path(__file__).resolve().parents[2]


def test_the_settings_table_is_the_one_the_settings_class_gives() -> None:
    assert documented(DOC.read_text(encoding="utf-8")) == table(), "run `make docs`"


def test_the_readme_layout_names_every_module() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    modules = [p for p in (ROOT / "service").rglob("*.py") if p.name not in {"__init__.py", "__main__.py"}]
    missing = [str(p.relative_to(ROOT)) for p in modules if p.name not in layout]
    assert not missing, f"the README's layout does not name {missing}"
