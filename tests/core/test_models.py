"""What callers may write: what people type, trimmed and bounded, plates canonical, known statuses only."""

from __future__ import annotations

import sys
import unicodedata
from itertools import chain
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from service.core import models
from service.core.models import (
    ACTIVE_STATUSES,
    ServiceRequestCreate,
    ServiceRequestUpdate,
    Status,
    canonical_plate,
    item_keys,
    phone_tail,
    plate_keys,
)
from tests.support.helpers import new_request


def _error_fields(exc: ValidationError) -> list[str]:
    return [".".join(str(p) for p in error["loc"]) for error in exc.errors()]


@pytest.mark.parametrize(
    ("field", "value", "stored"),
    [
        ("license_plate", " 8B1111 ", "8B1111"),
        ("license_plate", "ABC-123", "ABC-123"),
        ("license_plate", "abc 123", "ABC 123"),
        ("license_plate", "8B  1111", "8B 1111"),
        ("license_plate", "8B\n1111", "8B 1111"),
        ("license_plate", "8B\t1111", "8B 1111"),
        ("license_plate", "\t8B 1111\r\n", "8B 1111"),  # whitespace at the ends, controls too, is trimmed
        ("license_plate", "8B_1111", "8B_1111"),
        ("license_plate", "-8b.1111", "-8B.1111"),
        ("license_plate", "<img src=x>", "<IMG SRC=X>"),
        ("license_plate", "\u202e1111B8", "1111B8"),
        ("phone_number", "+1 (208) 444-5555", "+1 (208) 444-5555"),
        ("phone_number", "208.444.5555", "208.444.5555"),
        ("phone_number", "208-444-555x", "208-444-555x"),
        ("phone_number", "12345", "12345"),
        ("phone_number", "1234567890123456", "1234567890123456"),
        ("phone_number", "<b>2084445555</b>", "<b>2084445555</b>"),
        ("phone_number", "none", "none"),
        ("phone_number", " e-mail me instead ", "e-mail me instead"),
        ("license_plate", "a.", "A."),
        ("license_plate", "..a", "..A"),
        ("license_plate", ". .", ". ."),
        ("license_plate", "a/../b", "A/../B"),
        ("phone_number", " 208-555-1234 ext 5 ", "208-555-1234 ext 5"),
        ("service_description", "Line one\nLine two\twith a tab", "Line one\nLine two\twith a tab"),
        ("service_description", "  Brakes for a 08 Mazda 3  ", "Brakes for a 08 Mazda 3"),
        (
            "service_description",
            'Tyres > 30 psi, <b>bold</b> & "quoted"',
            'Tyres > 30 psi, <b>bold</b> & "quoted"',
        ),
        ("service_description", "one\r\ntwo\rthree", "one\ntwo\nthree"),
        ("service_id", "2", "2"),
        ("service_id", "job_2026-11.a", "job_2026-11.a"),
        ("service_status", " Completed ", Status.COMPLETED),
        ("service_status", "completed", Status.COMPLETED),
        ("service_status", "being  serviced", Status.BEING_SERVICED),
    ],
)
def test_typed_values_are_kept_trimmed_and_plates_canonical(field: str, value: str, stored: str) -> None:
    assert getattr(ServiceRequestCreate.model_validate(new_request(**{field: value})), field) == stored


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("license_plate", ""),
        ("license_plate", "   "),
        ("license_plate", "\u200b"),
        ("license_plate", "8B\x001111"),
        ("license_plate", "8B\r\n1111"),  # a carriage return is a line break only in a description
        ("license_plate", "8B\x1b1111"),
        ("license_plate", 8),
        ("license_plate", "."),
        ("license_plate", ".."),
        ("license_plate", " . "),
        ("license_plate", "..."),
        ("license_plate", "\uff0e\uff0e"),
        ("license_plate", "\u2025"),
        ("license_plate", ".\u200b."),
        ("phone_number", "   "),
        ("phone_number", "208\x07"),
        ("phone_number", 2084445555),
        ("service_description", "\x00"),
        ("service_description", "escape \x1b[31m"),
        ("service_description", "next\u0085line"),
        ("service_description", " \n\t "),
        ("service_description", ["Oil"]),
        ("service_id", ".hidden"),
        ("service_id", "a/b"),
        ("service_status", "Completed!"),
        ("service_status", "Done"),
    ],
)
def test_what_cannot_be_a_request_is_refused_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceRequestCreate.model_validate(new_request(**{field: value}))
    assert _error_fields(caught.value) == [field]


@pytest.mark.parametrize(
    ("field", "longest", "too_long"),
    [
        ("license_plate", "A" * 40, "A" * 41),
        ("phone_number", "2" * 100, "2" * 101),
        ("service_description", "d" * 10_000, "d" * 10_001),
        ("service_description", "\U0001f527" * 10_000, "\U0001f527" * 10_001),
        ("service_id", "i" * 64, "i" * 65),
    ],
)
def test_lengths_are_bounded(field: str, longest: str, too_long: str) -> None:
    assert getattr(ServiceRequestCreate.model_validate(new_request(**{field: longest})), field) == longest
    with pytest.raises(ValidationError) as caught:
        ServiceRequestCreate.model_validate(new_request(**{field: too_long}))
    assert _error_fields(caught.value) == [field]


def _tricky(character: str) -> bool:
    return (
        unicodedata.normalize("NFKD", character) != character
        or character.upper() != character
        or character.casefold() != character
        or unicodedata.category(character) in {"Mn", "Mc", "Cf", "Zs"}
    )


# The blocks where case, composition and compatibility characters live (Latin, Greek, Cyrillic, Armenian,
# combining marks, letterlike symbols, ligatures, full-width forms, Deseret, mathematical letters): what
# arbitrary text rarely hits, mixed into it.
_BLOCKS = chain(range(0x3000), range(0xA640, 0xAC00), range(0xFB00, 0x10000), range(0x10400, 0x10500))
TRICKY = [c for c in map(chr, chain(_BLOCKS, range(0x1D400, 0x1D800))) if _tricky(c)]
# Lone surrogates included: a JSON body can carry them to a lookup.
PLATE_TEXT = st.text(st.one_of(st.characters(exclude_categories=()), st.sampled_from(TRICKY)), max_size=12)
# Pairs that look the same (or are case variants) and were stored under two keys.
LOOK_ALIKES = [("\u03901", "\u03aa\u03011"), ("i\u0307 23", "\u0130 23"), ("\u1e9e 1", "ss 1")]


@given(PLATE_TEXT)
@example("\u03901")
@example("\u03aa\u03011")
@example("i\u0307 23")
@example("\u0130 23")
@example("\u1e9e\ufb03\u03c2\u0131\u01f0")
def test_a_canonical_plate_is_its_own_canonical_plate_and_one_per_equivalent_text(text: str) -> None:
    plate = canonical_plate(text)
    assert canonical_plate(plate) == plate
    assert unicodedata.normalize("NFKC", plate) == plate, "no two keys look the same"
    assert unicodedata.normalize("NFKC", plate.upper()) == plate, "stored in upper case"
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        assert canonical_plate(unicodedata.normalize(form, text)) == plate, form
    for variant in (text.upper(), text.lower(), text.casefold()):
        assert canonical_plate(variant) == plate, variant
    # What this service stored before names the same vehicle now.
    assert canonical_plate(models._earlier_canonical(text)) == plate


@pytest.mark.parametrize(("one", "other"), LOOK_ALIKES)
def test_texts_that_look_the_same_are_one_plate(one: str, other: str) -> None:
    assert canonical_plate(one) == canonical_plate(other)


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_an_ascii_plate_is_stored_as_before(text: str) -> None:
    """Upper case, spaces collapsed: the keys of the rows already stored stay their keys."""
    assert canonical_plate(text) == " ".join(text.split()).upper()


@given(st.text(st.characters(max_codepoint=0x7F, exclude_categories=()), max_size=40))
@example("\x1c a\tb\x1f\x00\x7f")
def test_ascii_takes_the_short_way_to_the_same_plate(text: str) -> None:
    """ASCII, control characters included, skips the Unicode steps, which would change nothing else."""
    assert models._plate_round(text) == models._unicode_round(text)
    assert models._earlier_canonical(text) == models._unicode_round(text)


def test_every_code_point_settles_in_one_round() -> None:
    # A character that no step changes settles at once; every other one is tried.
    changed = (
        c
        for c in map(chr, range(sys.maxunicode + 1))
        if _tricky(c) or c.isspace() or not unicodedata.is_normalized("NFKC", c)
    )
    unsettled = [hex(ord(c)) for c in changed if (p := models._plate_round(c)) != models._plate_round(p)]
    assert unsettled == []


def test_a_text_that_never_settled_would_be_refused_not_looped_over(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_plate_round", lambda text: text + "I")
    with pytest.raises(ValueError, match="spelling"):
        canonical_plate("A")
    with pytest.raises(ValidationError) as caught:
        ServiceRequestCreate.model_validate(new_request(license_plate="A"))
    assert _error_fields(caught.value) == ["license_plate"]
    assert plate_keys("a") == ("a", "A")


def test_a_plate_of_dots_only_is_refused_saying_why() -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceRequestCreate.model_validate(new_request(license_plate=" .. "))
    (error,) = caught.value.errors()
    assert error["loc"] == ("license_plate",)
    assert "dots" in error["msg"]


@pytest.mark.parametrize(
    ("typed", "keys"),
    [
        ("8B1111", ("8B1111",)),
        ("abc 123 ", ("abc 123 ", "ABC 123")),
        (" ab  12", (" ab  12", "AB 12")),
        # 900 bytes as given; NFKC spells each character out in 18, more than a key can hold.
        ("\ufdfa" * 300, ("\ufdfa" * 300,)),
        # The canonical form this service stored before, after the canonical form it stores now.
        ("\u03901", ("\u03901", "\u03aa\u03011", "\u0399\u0308\u03011")),
        ("\u1e9e 1", ("\u1e9e 1", "SS 1")),
    ],
)
def test_plate_keys_are_the_plate_as_given_then_its_canonical_form(typed: str, keys: tuple[str, ...]) -> None:
    assert plate_keys(typed) == keys


def test_the_website_looks_up_escaped_text_as_given_and_unescaped() -> None:
    """The canonical forms first, where the service stores a request: the unescaped text's, then the text's
    as given; then what the lab and the console may have stored."""
    assert item_keys("a&amp;b", "x&lt;1&gt;", unescape=True) == (
        ("A&B", "x&lt;1&gt;"),
        ("A&AMP;B", "x&lt;1&gt;"),
        ("a&amp;b", "x&lt;1&gt;"),
        ("a&b", "x&lt;1&gt;"),
        ("A&B", "x<1>"),
        ("A&AMP;B", "x<1>"),
        ("a&amp;b", "x<1>"),
        ("a&b", "x<1>"),
    )
    assert item_keys("8B1111", "1", unescape=True) == (("8B1111", "1"),)


def test_a_request_is_looked_for_under_its_plates_canonical_form_first() -> None:
    """The website sends the plate as typed: `1j1957` reaches the stored `1J1957` at the first write."""
    assert item_keys("1j1957", "2")[0] == ("1J1957", "2")
    assert item_keys("1j1957", "2", unescape=True)[0] == ("1J1957", "2")
    assert ("1j1957", "2") in item_keys("1j1957", "2"), "a row the console stored as typed stays reachable"


def test_a_plate_named_again_is_looked_for_where_it_was_the_first_time() -> None:
    """Where a plate's rows may be is kept per plate typed: a later request naming it, for another id or
    with the website's unescaping or without, gets what working it out anew would give."""
    first = item_keys("a&amp;b", "1", unescape=True)
    as_given = item_keys("a&amp;b", "2")
    again = item_keys("a&amp;b", "3", unescape=True)
    assert [plate for plate, _ in again] == [plate for plate, _ in first]
    assert {service_id for _, service_id in again} == {"3"}
    assert [plate for plate, _ in as_given] != [plate for plate, _ in first[: len(as_given)]]
    assert "a&b" not in plate_keys("a&amp;b")
    assert "a&b" in plate_keys("a&amp;b", unescape=True)


@pytest.mark.parametrize(
    ("phone", "tail"),
    [
        ("208-444-5555", "5555"),
        ("208-555-1234 ext 5", "1234"),
        ("208-555-0106 x12", "0106"),
        ("call 208.555.0101 after 5", "0101"),
        ("+1 (208) 867-5309", "5309"),
        ("(212) 555-0132 / (212) 555-0133", "0133"),
        ("\u0660\u0665\u0665 \u0661\u0662\u0663 \u0664\u0665\u0666\u0667", "\u0664\u0665\u0666\u0667"),
        ("5", "5"),
        ("no digits", ""),
        (None, ""),
    ],
)
def test_the_public_list_shows_the_numbers_last_four_digits(phone: str | None, tail: str) -> None:
    assert phone_tail(phone) == tail


def test_status_defaults_to_new_request() -> None:
    assert ServiceRequestCreate.model_validate(new_request()).service_status is Status.NEW_REQUEST


def test_the_nine_statuses_are_the_websites_in_workflow_order() -> None:
    assert [s.value for s in Status] == [
        "New Request",
        "Quoted - Waiting for Approval",
        "Accepted",
        "Approved - Bring Vehicle In",
        "Waiting for Parts",
        "Being Serviced",
        "Complete. Pick up Vehicle",
        "Completed",
        "Service Rejected",
    ]
    assert Status.NEW_REQUEST not in ACTIVE_STATUSES
    assert Status.COMPLETED not in ACTIVE_STATUSES
    assert Status.REJECTED not in ACTIVE_STATUSES
    assert len(ACTIVE_STATUSES) == 6


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, [""]),
        ({"service_status": None}, [""]),
        ({"phone_number": "208\x07"}, ["phone_number"]),
        ({"license_plate": "X1"}, ["license_plate"]),
    ],
)
def test_update_needs_something_valid_to_change(body: dict[str, Any], fields: list[str]) -> None:
    with pytest.raises(ValidationError) as caught:
        ServiceRequestUpdate.model_validate(body)
    assert _error_fields(caught.value) == fields


def test_update_remembers_which_fields_were_given() -> None:
    update = ServiceRequestUpdate.model_validate({"service_status": "Completed"})
    assert update.model_fields_set == {"service_status"}
    assert update.service_status is Status.COMPLETED
