"""An update of a stored request planned: what it assumes of the stored item, the conditions that check it,
and the update expression that applies the changes and appends to the status history."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from service.core.models import HISTORY_MAX, ServiceRequestUpdate, Status, history_entry, timestamp
from service.storage.expressions import Parameters, as_read
from service.storage.items import Item, history_length, history_value, text
from service.storage.tables import HISTORY, STATUS_CHANGED

if TYPE_CHECKING:
    pass

# What an update assumes of the stored item, which its condition checks: `edit` changes no status;
# `change` gives a new status and appends to a history with room left; `full` gives a new status to an
# item whose history is exactly full, dropping its oldest entry; `over` gives a new status to an item
# whose history is longer than that (written elsewhere), as read; `same` gives the status it has already.
Plan = Literal["edit", "change", "full", "over", "same"]


def plan_for(changes: ServiceRequestUpdate, old: Item) -> Plan:
    """What to assume of the item as it was."""
    if changes.service_status is None:
        return "edit"
    if text(old.get("service_status")) == changes.service_status.value:
        return "same"
    length = history_length(old)
    return "change" if length < HISTORY_MAX else "full" if length == HISTORY_MAX else "over"


def plan_conditions(parameters: Parameters, plan: Plan, old: Item | None, status: Status | None) -> list[str]:
    """The conditions under which `plan`'s assumption holds."""
    if plan == "edit" or status is None:
        return []
    if plan == "over":
        # The history is rewritten from the item as read: only while nobody has written it since
        # (every write here changes both; comparing the lists themselves is not portable).
        assert old is not None
        return [as_read(parameters, old, "version"), as_read(parameters, old, "updated_at")]
    current, given = parameters.name("service_status"), parameters.text(status.value)
    if plan == "same":
        return [f"{current} = {given}"]
    history = parameters.name(HISTORY)
    # Whatever else other writers did, the history still has the length this write's trim needs.
    room = (
        f"size({history}) = {parameters.number(HISTORY_MAX)}"
        if plan == "full"
        else f"(attribute_not_exists({history}) OR size({history}) < {parameters.number(HISTORY_MAX)})"
    )
    return [f"({current} <> {given} OR attribute_not_exists({current}))", room]


def update_expression(
    parameters: Parameters, changes: ServiceRequestUpdate, by: str, plan: Plan, old: Item | None
) -> str:
    """SET the changes, `updated_at`, the status-change mark and, for a new status, the history;
    ADD one to `version`; REMOVE `completion_date` when the status moves away from Completed, and
    the oldest entry of a full history."""
    now = timestamp()
    at = parameters.text(now)
    assignments = [f"{parameters.name('updated_at')} = {at}"]
    removals: list[str] = []
    for field, value in changes.changes().items():
        assignments.append(f"{parameters.name(field)} = {parameters.text(value)}")
    status = changes.service_status
    changed = plan in ("change", "full", "over")
    assignments.append(f"{parameters.name(STATUS_CHANGED)} = {parameters.value({'BOOL': changed})}")
    if status is not None:
        completion = parameters.name("completion_date")
        if status is Status.COMPLETED:
            assignments.append(f"{completion} = if_not_exists({completion}, {at})")
        else:
            removals.append(completion)
        entry = history_value(history_entry(status, now, by))
        history = parameters.name(HISTORY) if changed else ""
        if plan == "change":
            empty = parameters.value({"L": []})
            appended = parameters.value({"L": [entry]})
            assignments.append(f"{history} = list_append(if_not_exists({history}, {empty}), {appended})")
        elif plan == "full":
            # One entry out at the front, one in past the end (SET at an index beyond a list appends,
            # and the two paths do not overlap): the same whichever DynamoDB applies first, and true
            # of whatever list of that length other writers left, so concurrent changes all land.
            assignments.append(f"{history}[{HISTORY_MAX}] = {parameters.value(entry)}")
            removals.append(f"{history}[0]")
        elif plan == "over":
            assert old is not None
            kept = old[HISTORY]["L"][-(HISTORY_MAX - 1) :]
            assignments.append(f"{history} = {parameters.value({'L': [*kept, entry]})}")
    expression = f"SET {', '.join(assignments)} ADD {parameters.name('version')} {parameters.number(1)}"
    if removals:
        expression += f" REMOVE {', '.join(removals)}"
    return expression
