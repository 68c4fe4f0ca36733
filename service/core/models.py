"""The service's own data types: service requests as stored, what callers may write, and list pages."""

from __future__ import annotations

import functools
import html
import re
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic.config import JsonDict


class Status(StrEnum):
    """The statuses the shop's website knows, in workflow order."""

    NEW_REQUEST = "New Request"
    QUOTED = "Quoted - Waiting for Approval"
    ACCEPTED = "Accepted"
    APPROVED = "Approved - Bring Vehicle In"
    WAITING_FOR_PARTS = "Waiting for Parts"
    BEING_SERVICED = "Being Serviced"
    READY_FOR_PICKUP = "Complete. Pick up Vehicle"
    COMPLETED = "Completed"
    REJECTED = "Service Rejected"


# Everything still to be decided or worked on: what the technicians' page lists.
OPEN_STATUSES: tuple[Status, ...] = tuple(s for s in Status if s not in {Status.COMPLETED, Status.REJECTED})
# What the original getServiceRequest Lambda listed: open work that is no longer new.
ACTIVE_STATUSES: tuple[Status, ...] = tuple(s for s in OPEN_STATUSES if s is not Status.NEW_REQUEST)

# What people may type, in characters; each bound is far above what a person types, and together they
# keep an item far below DynamoDB's 400 KB (tests/http/test_hostile_input.py adds it up).
PLATE_MAX = 40
PHONE_MAX = 100
DESCRIPTION_MAX = 10_000
# A request's status history keeps its latest entries, this many: a request goes through the website's
# nine statuses in about eight changes, and the bound keeps the history far below DynamoDB's 400 KB too.
HISTORY_MAX = 50
# Who changed a status, as the history names them: a technician's `sub` (Cognito's is a 36-character
# UUID), cut to this many characters, or PUBLIC_ACTOR for the public form.
ACTOR_MAX = 128
PUBLIC_ACTOR = "public"
# The most a key attribute can hold: license_plate is the sort key of StatusIndex, service_id of the table.
KEY_MAX_BYTES = 1024

_SERVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_ALLOWED_CONTROLS = frozenset("\n\t")
_LINE_BREAK = re.compile(r"\r\n?")
# A run of characters that reads as a phone number: it starts with a digit (of any script).
_PHONE_RUN = re.compile(r"\d[\d\s+().\-/]*")


def timestamp() -> str:
    """Now, as the service stores times: ISO 8601 in UTC, to the millisecond."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fold_status(text: str) -> str:
    """A status with case and spaces ignored: how people and the AWS console misspell the nine."""
    return "".join(text.split()).casefold()


_STATUS_BY_FOLD = {fold_status(s.value): s.value for s in Status}


def known_status(text: str) -> Status | None:
    """The status `text` means when case and spaces are ignored, if any."""
    value = _STATUS_BY_FOLD.get(fold_status(text))
    return Status(value) if value is not None else None


def _no_controls(value: str) -> str:
    for c in value:
        if unicodedata.category(c) in {"Cc", "Cs"} and c not in _ALLOWED_CONTROLS:
            raise ValueError(f"the control character U+{ord(c):04X} is not allowed (newlines and tabs are)")
    return value


def _one_line_break(value: Any) -> Any:
    # Windows and HTML forms send CRLF, some old clients a bare CR; both are the newline a person typed.
    return _LINE_BREAK.sub("\n", value) if isinstance(value, str) else value


# A canonical plate settles in one or two rounds of _plate_round; more rounds than this would mean a cycle,
# which no text is known to enter (tests/core/test_models.py tries every code point and arbitrary text).
_ROUNDS = 4
_DOTS_ONLY = re.compile(r"\.+")


def _plate_round(text: str) -> str:
    if text.isascii():
        # What people type most: NFKC leaves ASCII as it is, none of it is a format character, and its
        # case folding is lower casing, so only the spaces and the case change (tests/core/test_models.py).
        return " ".join(text.split()).upper()
    return _unicode_round(text)


def _unicode_round(text: str) -> str:
    # NFKC folds compatibility characters and composes what is canonically equivalent; case folding
    # before upper casing merges every case variant (`ß`, `ẞ` and `ss`); upper casing can decompose
    # (`ΐ` becomes three code points), so the result is normalized again.
    text = unicodedata.normalize("NFKC", text)
    text = " ".join("".join(c for c in text if unicodedata.category(c) != "Cf").split())
    text = unicodedata.normalize("NFKC", text.casefold())
    return unicodedata.normalize("NFKC", text.upper())


def canonical_plate(text: str) -> str:
    """One spelling per vehicle: compatibility characters folded and equivalent sequences composed
    (NFKC, e.g. full-width letters), invisible format characters dropped, whitespace trimmed and collapsed
    to single spaces, upper case, case variants merged (`straße` and `STRASSE`). A canonical plate is its
    own canonical plate. Raises ValueError for a text that does not settle (none is known)."""
    for _ in range(_ROUNDS):
        settled = _plate_round(text)
        if settled == text:
            return settled
        text = settled
    raise ValueError("this license plate does not settle in one spelling")


def _earlier_canonical(text: str) -> str:
    # The canonical form this service stored before it merged case variants and normalized after upper
    # casing: rows stored under it stay reachable by what was typed for them.
    if not text.isascii():  # ASCII holds no compatibility or format characters: both steps leave it as it is
        text = unicodedata.normalize("NFKC", text)
        text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(text.split()).upper()


def only_dots(plate: str) -> bool:
    """Whether `plate` is made of dots alone, which a web address reads as steps in its path (`.`, `..`,
    their encodings `%2E`, `%2E%2E` too): no link can name such a plate."""
    return _DOTS_ONLY.fullmatch(plate) is not None


def _plate(value: str) -> str:
    plate = canonical_plate(_no_controls(value))
    if not plate:
        raise ValueError("a license plate needs at least one visible character")
    if only_dots(plate):
        raise ValueError(
            "a license plate needs a character other than dots: a web address reads '.' and '..' as steps "
            "in its path, so no link could name this plate"
        )
    if len(plate) > PLATE_MAX:
        raise ValueError(f"a license plate has at most {PLATE_MAX} characters")
    return plate


def _service_id(value: str) -> str:
    if not _SERVICE_ID.fullmatch(value):
        raise ValueError(
            "a service id holds only letters, digits, '.', '_' and '-' and starts with one of the first two"
        )
    return value


def _key_text(value: str) -> str:
    # Keys look up items written anywhere (the AWS console, the lab's Node code stored what people
    # typed, spaces and all): anything DynamoDB could have stored under a key is accepted as it is.
    if len(value.encode("utf-8", "surrogatepass")) > KEY_MAX_BYTES:
        raise ValueError(f"a key has at most {KEY_MAX_BYTES} bytes in UTF-8")
    return value


def _status_spelling(value: Any) -> Any:
    if isinstance(value, str):
        status = known_status(value)
        return status.value if status is not None else value
    return value


def _typed(max_length: int) -> StringConstraints:
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


# Typed by people (the public form, technicians): accepted as typed, trimmed, refused only when empty, over
# the bound or holding control characters. Plates are stored in their canonical form.
LicensePlate = Annotated[str, _typed(PLATE_MAX), AfterValidator(_plate)]
PhoneNumber = Annotated[str, _typed(PHONE_MAX), AfterValidator(_no_controls)]
# (A before-validator listed after the constraints runs first, and the constraints stay in the str schema.)
Description = Annotated[
    str, _typed(DESCRIPTION_MAX), BeforeValidator(_one_line_break), AfterValidator(_no_controls)
]
# One of the nine, however its case and spaces are typed; stored as the website spells it.
StatusValue = Annotated[Status, BeforeValidator(_status_spelling)]
# Chosen by programs: held to a pattern.
ServiceId = Annotated[str, _typed(64), AfterValidator(_service_id)]
# A key to look up: exactly as given, whatever DynamoDB could hold.
KeyText = Annotated[str, StringConstraints(min_length=1, max_length=KEY_MAX_BYTES), AfterValidator(_key_text)]
# A status to look up: anything, since items written elsewhere may carry statuses the website lacks.
StatusText = Annotated[
    str, StringConstraints(min_length=1, max_length=KEY_MAX_BYTES), AfterValidator(_key_text)
]


def _unique(texts: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(texts))


# Where a plate's rows may be stored is worked out once per plate typed (about 9 us each time: canonical
# forms, HTML entities, key sizes) and kept for the next requests that name it: a day's requests name the
# same plates over and over. Both answers are tuples, so no caller can change what is kept. An entry holds
# at most a few texts of KEY_MAX_BYTES each, so both caches stay within a few MB whatever callers send.
_PLATES_KEPT = 256


@functools.lru_cache(maxsize=_PLATES_KEPT)
def plate_keys(plate: str, *, unescape: bool = False) -> tuple[str, ...]:
    """The partitions that rows of a plate named as `plate` may be stored under, in the order to look:
    the text exactly as given (the lab's code and the console stored plates as typed), then its canonical
    form (what this service stores), then the canonical form this service stored before. With `unescape`,
    also the text HTML-unescaped: the website's routes answer escaped text, which a page may send back as
    it got it. Keys DynamoDB cannot hold are left out."""
    return _partitions(_spellings(plate, unescape))


# A text as given, its canonical form (none for a text that never settles on one), the one stored before.
_Spellings = tuple[str, tuple[str, ...], str]


def _spellings(plate: str, unescape: bool) -> list[_Spellings]:
    given = _unique([plate, html.unescape(plate)] if unescape else [plate])
    return [(text, _canonical(text), _earlier_canonical(text)) for text in given]


def _partitions(spellings: list[_Spellings]) -> tuple[str, ...]:
    candidates = _unique(key for text, canonical, earlier in spellings for key in (text, *canonical, earlier))
    return tuple(k for k in candidates if k and len(k.encode("utf-8", "surrogatepass")) <= KEY_MAX_BYTES)


# (license_plate, service_id): where one request is stored.
ItemKey = tuple[str, str]


def item_keys(plate: str, service_id: str, *, unescape: bool = False) -> tuple[ItemKey, ...]:
    """The keys one request named as (`plate`, `service_id`) may be stored under, in the order to try: the
    plate's canonical form first (of the text unescaped, then as given), where this service stores it, so a
    plate typed in another case (the website's `1j1957`) reaches the service's row at the first try; then
    the other `plate_keys`, in their order."""
    ids = _unique([service_id, html.unescape(service_id)]) if unescape else (service_id,)
    return tuple((p, i) for i in ids for p in _item_plates(plate, unescape))


@functools.lru_cache(maxsize=_PLATES_KEPT)
def _item_plates(plate: str, unescape: bool) -> tuple[str, ...]:
    """item_keys' partitions, in its order."""
    spellings = _spellings(plate, unescape)
    firsts = _unique(key for _, canonical, _ in reversed(spellings) for key in canonical)
    plates = _partitions(spellings)
    return (*(key for key in firsts if key in plates), *(key for key in plates if key not in firsts))


def _canonical(text: str) -> tuple[str, ...]:
    """The canonical form of `text`, or none for a text that never settles on one."""
    try:
        return (canonical_plate(text),)
    except ValueError:
        return ()


def phone_tail(phone_number: str | None) -> str:
    """The last four digits of the number itself, as the public list shows them: in `208-555-1234 ext 5`
    or `call 208.555.1234` that is `1234`, not the extension's digits."""
    runs = _PHONE_RUN.findall(phone_number or "")
    digits = ["".join(c for c in run if c.isdecimal()) for run in runs]
    number = next((d for d in digits if len(d) >= 7), max(digits, key=len, default=""))
    return number[-4:]


LAB_EXAMPLE = {
    "license_plate": "8B1111",
    "phone_number": "208-444-5555",
    "service_description": "Oil Change on a 2007 Saturn Outlook",
    "service_status": "Being Serviced",
}


STORED_EXAMPLE: JsonDict = {
    **LAB_EXAMPLE,
    "service_id": "01JD8Y6V2ZK4M7Q9R3T5W8X0AB",
    "created_at": "2026-11-26T15:04:05.123Z",
    "updated_at": "2026-11-26T16:30:00.000Z",
    "version": 2,
    "status_history": [
        {"status": "New Request", "at": "2026-11-26T15:04:05.123Z", "by": "public"},
        {
            "status": "Being Serviced",
            "at": "2026-11-26T16:30:00.000Z",
            "by": "4f1c2b9e-7d3a-4e51-9c0b-2a6f8d1e3b57",
        },
    ],
}


PAGE_EXAMPLE: JsonDict = {
    "items": [{**LAB_EXAMPLE, "service_id": "1"}],
    "next_cursor": "eyJsaWNlbnNlX3BsYXRlIjoiOEIxMTExIn0.m2v5Jx0dA3nq0bLq3J8b3g",
}


def _absent_when_none(description: str | None = None) -> Any:
    # An attribute the item lacks is left out of the JSON, as DynamoDB leaves it out of the item.
    return Field(default=None, exclude_if=lambda value: value is None, description=description)


class StatusHistoryEntry(BaseModel):
    """One status a request was given: which, when, and by whom."""

    status: str
    at: str = Field(description="When, ISO 8601 in UTC.")
    by: str = Field(description=f"The technician's `sub` (their token's subject), or `{PUBLIC_ACTOR}`.")


def history_entry(status: Status, at: str, by: str) -> StatusHistoryEntry:
    """The entry of a status given at `at` by `by` (cut to ACTOR_MAX characters)."""
    return StatusHistoryEntry(status=status.value, at=at, by=by[:ACTOR_MAX])


class ServiceRequest(BaseModel):
    """A service request as stored. Every attribute but the key may be missing in items written elsewhere."""

    model_config = ConfigDict(json_schema_extra={"examples": [STORED_EXAMPLE]})

    license_plate: str
    service_id: str
    phone_number: str | None = _absent_when_none()
    service_description: str | None = _absent_when_none()
    service_status: str | None = _absent_when_none()
    completion_date: str | None = _absent_when_none("Set while the status is Completed: when it became so.")
    created_at: str | None = _absent_when_none()
    updated_at: str | None = _absent_when_none()
    version: int | None = _absent_when_none("Counts the writes to this request.")
    status_history: list[StatusHistoryEntry] | None = _absent_when_none(
        f"Each status given to this request, oldest first: its creation, then each change (its latest "
        f"{HISTORY_MAX}). Absent on items written elsewhere until their status is changed here."
    )


class ServiceRequestCreate(BaseModel):
    """A new service request. `service_id` is generated unless given; the status defaults to New Request."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{k: v for k, v in LAB_EXAMPLE.items() if k != "service_status"}]},
    )

    license_plate: LicensePlate
    phone_number: PhoneNumber
    service_description: Description
    service_status: StatusValue = Status.NEW_REQUEST
    service_id: ServiceId | None = None


class ServiceRequestUpdate(BaseModel):
    """A partial update: only the fields given change; at least one must be given."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"service_status": "Completed"}]},
    )

    # The fields an update may change.
    CHANGEABLE: ClassVar[tuple[str, ...]] = ("phone_number", "service_description", "service_status")

    phone_number: PhoneNumber | None = None
    service_description: Description | None = None
    service_status: StatusValue | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            nulls = sorted(k for k, v in data.items() if v is None and k in cls.CHANGEABLE)
            if nulls:
                raise ValueError(f"{', '.join(nulls)} may not be null; leave a field out to keep it")
        return data

    @model_validator(mode="after")
    def _something_to_change(self) -> Self:
        if not self.changes():
            raise ValueError(f"give at least one of {', '.join(self.CHANGEABLE)}")
        return self

    def changes(self) -> dict[str, str]:
        """The fields given, by name, as they are to be stored."""
        return {
            name: str(value)
            for name in self.CHANGEABLE
            if name in self.model_fields_set and (value := getattr(self, name)) is not None
        }


class ServiceRequestPage(BaseModel):
    """One page of a list; pass `next_cursor` back as `cursor` for the next page (null: no more)."""

    model_config = ConfigDict(json_schema_extra={"examples": [PAGE_EXAMPLE]})

    items: list[ServiceRequest]
    next_cursor: str | None = None


class Health(BaseModel):
    """A probe's answer."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: str
