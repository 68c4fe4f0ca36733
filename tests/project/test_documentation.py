"""The documentation says what the code does: the settings table is made from the settings class, the
README's layout names every package and docs/design.md every module, and the README lists docs/'s pages."""

from __future__ import annotations

from pathlib import Path

from scripts.settings_doc import DOC, documented, table

ROOT = Path(__file__).resolve().parents[2]


def test_the_settings_table_is_the_one_the_settings_class_gives() -> None:
    assert documented(DOC.read_text(encoding="utf-8")) == table(), "run `make docs`"


def _readme_layout() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("## Layout", 1)[1].split("\n## ", 1)[0]


def test_the_readme_layout_names_every_package() -> None:
    packages = [p.parent for p in (ROOT / "service").glob("*/__init__.py")]
    missing = [f"service/{p.name}/" for p in packages if f"service/{p.name}/" not in _readme_layout()]
    assert not missing, f"the README's layout does not name {missing}"


def test_the_design_page_names_every_module() -> None:
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    section = design.split("## How the code is layered", 1)[1]
    modules = [
        p
        for package in ("service", "lambda_adapter")
        for p in (ROOT / package).rglob("*.py")
        if p.name not in {"__init__.py", "__main__.py", "cli.py"}
    ]
    missing = [str(p.relative_to(ROOT)) for p in modules if f"`{p.stem}`" not in section]
    assert not missing, f"docs/design.md's module map does not name {missing}"


def test_the_readme_lists_every_page_of_docs() -> None:
    pages = sorted(p.name for p in (ROOT / "docs").glob("*.md"))
    listed = _readme_layout().split("\ndocs/", 1)[1].split("\n", 1)[0]
    assert sorted(name.strip() for name in listed.split(",")) == pages
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"(docs/{page})" in readme for page in pages), "Further reading links every page"


def test_the_readme_stays_a_front_door() -> None:
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 160


def test_make_help_names_everything_ci_runs_beside_check() -> None:
    """`make check`'s help names what CI runs that `check` does not."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    check = next(line for line in makefile.splitlines() if line.startswith("check:"))
    prerequisites, help_text = check.split(":", 1)[1].split("##", 1)
    ci_targets = {
        target
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.startswith("make ")
        for target in line.split()[1:]
    }
    assert ci_targets - set(prerequisites.split()) == {
        target for target in ci_targets if target in help_text and target not in prerequisites.split()
    }
    assert "everything CI runs" not in help_text
