"""The documentation says what the code does: the settings table is made from the settings class, the
README's layout names every package and docs/design.md every module, the README lists docs/'s pages, every
link between the pages finds its heading, and the figures that mirror the code (what CI runs, the benchmarks'
runs, the public form's DynamoDB calls) are the code's."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from fastapi import FastAPI

from bench import cold_start, request_path
from scripts.settings_doc import DOC, documented, table
from tests.support.calls import Calls
from tests.support.helpers import FORM

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


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _prose(page: Path) -> str:
    """A page without its code blocks, where `[x](y)` is code, not a link."""
    return re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


def _anchors(page: Path) -> set[str]:
    """The anchors of a page's headings, as GitHub makes them: lower case, punctuation dropped, spaces as
    hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", _prose(page), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_link_between_the_pages_finds_its_file_and_heading() -> None:
    broken = []
    for page in _pages():
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page)):
            if re.match(r"[a-z]+:", target):
                continue  # another site's page
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked)):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, f"links to nothing: {broken}"


def _ci() -> tuple[list[str], set[str]]:
    """The make commands CI runs, in order, and the Debian packages it installs when missing."""
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line for line in script.splitlines() if line.startswith("make ")]
    return commands, set(re.findall(r"missing\+=\((\S+)\)", script))


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_the_readme_names_every_command_ci_runs() -> None:
    commands, _ = _ci()
    ci = _flat((ROOT / "README.md").read_text(encoding="utf-8")).split("CI (`.ci/run`) runs", 1)[1]
    missing = [command for command in commands if f"`{command}`" not in ci]
    assert not missing, f"the README's CI sentence leaves out {missing}"


def test_the_operations_page_says_what_ci_runs_beside_make_check() -> None:
    commands, packages = _ci()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    check = set(re.findall(r"^check:([^#]*)##", makefile, flags=re.MULTILINE)[0].split())
    beside = {target for command in commands for target in command.split()[1:]} - check
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    line = operations.split("\nmake check ", 1)[1].split("\nmake ", 1)[0]
    said = set(re.findall(r"[\w-]+", line))
    assert beside <= said, f"make check's line in docs/operations.md leaves out {beside - said}"
    assert packages <= said, f"make check's line in docs/operations.md leaves out {packages - said}"
    assert "what CI runs" not in _flat(line)


def _performance() -> str:
    return _flat((ROOT / "docs" / "performance.md").read_text(encoding="utf-8"))


def test_the_request_path_figures_say_how_they_were_run_and_what_make_bench_runs() -> None:
    parser = request_path.arguments()
    rounds, requests, invocations = (parser.get_default(key) for key in ("rounds", "requests", "invocations"))
    assert "python -m bench.request_path\n" in (ROOT / "Makefile").read_text(encoding="utf-8"), "defaults"
    page = _performance()
    assert (
        f"`make bench` runs it with its defaults: {rounds} rounds of {requests:,} requests, "
        f"and {rounds} rounds of {invocations} invocations." in page
    ), "docs/performance.md states bench.request_path's defaults"
    ran = re.search(r"`\.venv/bin/python -m bench\.request_path --requests (\d+) --invocations (\d+)`", page)
    assert ran, "docs/performance.md names the command of its figures"
    run_requests, run_invocations = (int(figure) for figure in ran.groups())
    assert f"{rounds} rounds of {run_requests:,} requests, and {rounds} rounds of {run_invocations}" in page
    assert f"Warm Lambda GET /service-request (median of {rounds} x {run_invocations})" in page


def test_the_cold_start_figures_say_how_they_were_run() -> None:
    runs = cold_start.arguments().get_default("runs")
    page = _performance()
    assert f"make bench-cold-start # section 4's four processes, {runs} runs," in page, "the default"
    shown = page.split("## 4. The Lambda's cold start", 1)[1].split("## 5.", 1)[0]
    ran = re.search(r'run below\*\* is `(make bench-cold-start COLD_START_ARGS="--runs (\d+) [^"]*")`', shown)
    assert ran, "docs/performance.md names the command of its figures"
    command, run_runs = ran.group(1), int(ran.group(2))
    assert f"({run_runs} runs instead of the default {runs}," in shown
    assert f"Median of {run_runs} runs, ms" in shown
    assert f"section 4 from one run of `{command}`" in page
    readme = _flat((ROOT / "README.md").read_text(encoding="utf-8"))
    assert f"One run of `{command}` ({run_runs} runs," in readme


async def test_the_design_page_counts_the_calls_of_a_new_public_form(
    app: FastAPI, app_api: httpx.AsyncClient
) -> None:
    """docs/design.md says how many DynamoDB calls a new anonymous form makes, with and without a key."""
    anonymous = {"Authorization": ""}
    calls = await Calls.of(app)
    assert (await app_api.post("/service-request", json=FORM, headers=anonymous)).status_code == 201
    plain = sum(calls.answered.values())
    calls.answered.clear()
    keyed_form = {**FORM, "service_description": "Oil change"}
    keyed = await app_api.post(
        "/service-request",
        json=keyed_form,
        headers={**anonymous, "Idempotency-Key": "3f6c1f0e-8d7b-4a51-9f2e-0c1b2a3d4e5f"},
    )
    assert keyed.status_code == 201
    design = _flat((ROOT / "docs" / "design.md").read_text(encoding="utf-8"))
    keyed_calls = sum(calls.answered.values())
    said = f"the public form makes {plain} for a new request, in two round trips, {keyed_calls} with an"
    assert said in design
