"""What bench/latency.py found: each call's figures from its invocations and the proxy's exchanges, the table
and the targets as text, the plot, and the section of docs/performance.md that holds them."""

from __future__ import annotations

import bisect
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import ROOT
from bench.latency_calls import TYPED_PLATE, WEBSITE_ROWS, Call

DOC = ROOT / "docs" / "performance.md"
BEGIN = (
    "<!-- latency section: written by bench/latency.py (make bench-latency); edit the script, not here -->"
)
END = "<!-- end of the latency section -->"


@dataclass
class Invocation:
    """One timed invocation (ns on CLOCK_MONOTONIC) and the DynamoDB exchanges made within it."""

    started: int
    ended: int
    measured: bool
    exchanges: list[dict[str, Any]] = field(default_factory=list)

    @property
    def milliseconds(self) -> float:
        return (self.ended - self.started) / 1e6

    @property
    def waves(self) -> list[list[dict[str, Any]]]:
        """The exchanges in waves: each wave a run of exchanges that overlap in time (concurrent calls are
        one wave; a call made after another's answer starts the next)."""
        waves: list[list[dict[str, Any]]] = []
        wave_ends = -1
        for exchange in sorted(self.exchanges, key=lambda e: e["started"]):
            if exchange["started"] > wave_ends:
                waves.append([])
            waves[-1].append(exchange)
            wave_ends = max(wave_ends, exchange["ended"])
        return waves

    @property
    def round_trips(self) -> int:
        """Sequential round trips: the number of waves."""
        return len(self.waves)

    @property
    def write_units(self) -> float:
        return float(sum(e["write_units"] for e in self.exchanges))

    @property
    def server_milliseconds(self) -> float:
        """How long at least one of the invocation's requests was with the server (dynalite), queueing
        there included: the union of the times from each request's arrival to its answer's."""
        total, covered_to = 0, 0
        for exchange in sorted(self.exchanges, key=lambda e: e["sent"]):
            start, end = max(exchange["sent"], covered_to), exchange["answered"]
            if end > start:
                total += end - start
                covered_to = end
        return total / 1e6


@dataclass
class Figures:
    call: Call
    delay_ms: float
    invocations: list[Invocation] = field(default_factory=list)

    @property
    def measured(self) -> list[Invocation]:
        return [i for i in self.invocations if i.measured]

    @property
    def p50(self) -> float:
        return statistics.median(i.milliseconds for i in self.measured)

    @property
    def p99(self) -> float:
        times = sorted(i.milliseconds for i in self.measured)
        return times[max(0, math.ceil(0.99 * len(times)) - 1)]

    def _counts(self, values: Sequence[float]) -> tuple[float, float, float]:
        return statistics.median(values), min(values), max(values)

    @property
    def server(self) -> float:
        return statistics.median(i.server_milliseconds for i in self.measured)

    @property
    def calls(self) -> tuple[float, float, float]:
        return self._counts([len(i.exchanges) for i in self.measured])

    @property
    def round_trips(self) -> tuple[float, float, float]:
        return self._counts([i.round_trips for i in self.measured])

    @property
    def write_units(self) -> tuple[float, float, float]:
        return self._counts([i.write_units for i in self.measured])

    @property
    def new_connections(self) -> int:
        return sum(e["first_on_connection"] for i in self.measured for e in i.exchanges)

    @property
    def units_unreported(self) -> bool:
        return any(not e["units_reported"] for i in self.measured for e in i.exchanges)


def attribute(invocations: list[Invocation], exchanges: list[dict[str, Any]]) -> int:
    """Give each exchange to the invocation it happened within; the number that fell within none."""
    by_start = sorted(invocations, key=lambda i: i.started)
    starts = [i.started for i in by_start]
    stray = 0
    for exchange in exchanges:
        at = bisect.bisect_right(starts, exchange["started"]) - 1
        if at >= 0 and exchange["ended"] <= by_start[at].ended:
            by_start[at].exchanges.append(exchange)
        else:
            stray += 1
    return stray


def _count(figure: tuple[float, float, float]) -> str:
    median, low, high = figure
    text = f"{median:g}"
    return text if low == high else f"{text} ({low:g}-{high:g})"


def _row(figures: Figures, versus: str = "") -> str:
    side = figures.call.side
    return (
        f"  {side:8}{figures.call.label:52}{figures.p50:8.1f}{figures.p99:8.1f}{figures.server:10.1f}"
        f"{_count(figures.calls):>10}{_count(figures.round_trips):>11}{_count(figures.write_units):>10}"
        f"  {versus}"
    ).rstrip()


HEADER = (
    f"  {'':60}{'p50':>8}{'p99':>8}{'dynalite':>10}{'DynamoDB':>10}{'round':>11}{'write':>10}  p50 against\n"
    f"  {'':60}{'ms':>8}{'ms':>8}{'ms, p50':>10}{'calls':>10}{'trips':>11}{'units':>10}  the course's"
)


def _ratio(results: dict[str, Figures], key: str, versus: str) -> float:
    return results[key].p50 / results[versus].p50


def ordered(results: dict[str, Figures]) -> tuple[list[tuple[Figures, str]], list[Figures]]:
    """The website's rows (each with its comparison, if any) in the table's order, then the others."""
    website = []
    for row in WEBSITE_ROWS:
        if row.key not in results:
            continue
        versus = ""
        if row.versus in results:
            versus = f"{_ratio(results, row.key, row.versus):.2f}x"
            if row.target is not None:
                versus += f" (target {row.target:g}x)"
        website.append((results[row.key], versus))
    shown = {row.key for row in WEBSITE_ROWS}
    return website, [f for key, f in results.items() if key not in shown]


def table(results: dict[str, Figures], heading: str) -> list[str]:
    """Every call measured at one delay: the website's calls beside the course's, then the REST routes."""
    website, rest = ordered(results)
    lines = [heading, HEADER]
    if website:
        lines.append("  The website's calls")
        lines += [_row(figures, versus) for figures, versus in website]
    if rest:
        lines.append("  The REST routes (technicians)")
        lines += [_row(figures) for figures in rest]
    return lines


def _failure(error: str) -> str:
    if not error:
        return ""
    return " (refused)" if error == "ConditionalCheckFailedException" else f" ({error})"


def sequences(results: dict[str, Figures]) -> list[str]:
    """What each of the service's calls sends, wave by wave, in its first measured invocation."""
    lines = []
    for figures in results.values():
        if figures.call.side != "service" or not figures.measured:
            continue
        waves = []
        for wave in figures.measured[0].waves:
            names = [e["operation"] + _failure(e["error"]) for e in wave]
            waves.append(
                " + ".join(f"{names.count(n)} {n}" if names.count(n) > 1 else n for n in dict.fromkeys(names))
            )
        lines.append(f"  {figures.call.label:52}{' | '.join(waves)}")
    return lines


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def targets(results: dict[str, Figures], slow: dict[str, Figures], slow_delay: float) -> list[str]:
    """Each target of the delay's run and of the longer delay's, with its figure; reported, not enforced."""
    lines = []
    for row in WEBSITE_ROWS:
        if row.target is not None and row.versus is not None and row.key in results and row.versus in results:
            ratio = _ratio(results, row.key, row.versus)
            text = f"{row.name}: p50 within {row.target:g}x the course's function's"
            lines.append(f"  {text:86}{ratio:6.2f}x  {_verdict(ratio <= row.target)}")

    def at_most(label: str, figure: float, limit: float, unit: str) -> None:
        text = f"{label}: at most {limit:g} {unit}"
        lines.append(f"  {text:86}{figure:6g}   {_verdict(figure <= limit)}")

    if "form" in results:
        at_most("public form", results["form"].round_trips[0], 2, "sequential round trips")
        at_most("public form", results["form"].write_units[0], 3, "write units")
    if "form-key" in results:
        at_most("public form with an Idempotency-Key", results["form-key"].round_trips[0], 3, "round trips")
    # The typed plate's round trips at the longer delay, where one more stands out; else at this one.
    source, where = (slow, f" ({slow_delay:g} ms each way)") if slow else (results, "")
    for key, label in (
        ("update-typed", f"status update, plate {TYPED_PLATE} (stored 1J1957){where}"),
        ("history-typed", f"vehicle history of {TYPED_PLATE}{where}"),
        ("rest-vehicle-typed", f"GET /vehicles/{TYPED_PLATE}/requests{where}"),
    ):
        if key in source:
            at_most(label, source[key].round_trips[0], 1, "round trip")
    return lines


def plot(path: Path, results: dict[str, Figures], delay_ms: float, load: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.artist import Artist
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    website, rest = ordered(results)
    rows = [figures for figures, _ in website] + rest
    colours = {"service": "#1f77b4", "course": "#ff7f0e"}
    fig, ax = plt.subplots(figsize=(9, 0.3 * len(rows) + 1.9), dpi=100)
    positions = list(range(len(rows)))[::-1]
    ax.barh(positions, [f.p50 for f in rows], color=[colours[f.call.side] for f in rows], height=0.7)
    # What the round trips alone cost: two delays each.
    floors = [f.round_trips[0] * 2 * delay_ms for f in rows]
    ax.barh(positions, floors, height=0.7, fill=False, hatch="///", edgecolor="white", linewidth=0)
    ax.scatter([f.p99 for f in rows], positions, marker="|", color="black", s=120, zorder=3)
    for position, figures in zip(positions, rows, strict=True):
        ax.annotate(
            f" {_count(figures.round_trips)} RT",
            (max(figures.p99, figures.p50), position),
            va="center",
            fontsize=7,
        )
    ax.set_xlim(0, max(max(f.p99, f.p50) for f in rows) * 1.15)
    ax.set_yticks(positions, [f"{f.call.side}: {f.call.label}" for f in rows], fontsize=7)
    ax.set_xlabel("invocation time (ms)")
    handles: list[Artist] = [Patch(color=colour, label=f"{side}, p50") for side, colour in colours.items()]
    handles.append(Patch(facecolor="grey", hatch="///", edgecolor="white", label="round trips x 2 delays"))
    handles.append(Line2D([], [], color="black", marker="|", linestyle="none", markersize=10, label="p99"))
    ax.legend(handles=handles, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=4)
    fig.suptitle(
        f"Warm invocations, {delay_ms:g} ms each way on every DynamoDB message, dynalite on 127.0.0.1\n"
        f"(load average {load}); RT: sequential round trips, median",
        fontsize=9,
    )
    ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def write_section(body: str) -> None:
    """Put `body` between the section's markers in docs/performance.md (at its end, the first time)."""
    text = DOC.read_text(encoding="utf-8")
    section = f"{BEGIN}\n{body.strip()}\n{END}"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        text = before + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.write_text(text, encoding="utf-8")
