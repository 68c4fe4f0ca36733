"""What people type into the website's form gets through: stored as typed, listed escaped on the website's
routes and raw on the REST routes."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

import httpx
import pytest

from tests.support.helpers import FORM, count_items, raw_item

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient


class Typed(NamedTuple):
    """One form as a person fills it in, and the plate it is stored under (written out by hand)."""

    plate: str
    phone: str
    description: str
    stored_plate: str
    stored_description: str | None = None  # None: the description as typed, trimmed


FORMS = {
    "lab": Typed("8B1111", "208-444-5555", "Oil Change on a 2007 Saturn Outlook", "8B1111"),
    "extension": Typed("abc 123", "208-555-1234 ext 5", "Brakes squeal > 30 mph", "ABC 123"),
    "short extension": Typed(
        " 7c 2020 ", "208-555-0106 x12", "Check engine light <on> since Monday", "7C 2020"
    ),
    "a word": Typed("ab  12", "208.555.0101 cell", "Tyres & wipers", "AB 12"),
    "slashes": Typed("A.B.C-123", "208/555/0101", 'My "new" car makes a noise', "A.B.C-123"),
    "apostrophes": Typed("ID 1-2345", "(208) 555-0199", "It's the O'Reilly's truck", "ID 1-2345"),
    "full-width plate": Typed(
        "ｂｃ４５６", "+1 208 555 0100", "Ölwechsel und Bremsen prüfen – bitte schnell", "BC456"
    ),
    "umlauts": Typed("münchen 1", "+49 89 1234567", "Klimaanlage riecht muffig", "MÜNCHEN 1"),
    "chinese": Typed("京A·12345", "+86 10 1234 5678", "刹车有异响，请检查", "京A·12345"),
    "arabic": Typed("ب ج د 123", "+966 50 123 4567", "تغيير الزيت من فضلك", "ب ج د 123"),
    "arabic digits": Typed("قطر ١٢٣", "٠٥٥ ١٢٣ ٤٥٦٧", "فحص الفرامل", "قطر ١٢٣"),
    "greek": Typed("ΑΒΓ-1234", "+30 21 0123 4567", "Αλλαγή λαδιών", "ΑΒΓ-1234"),
    "cyrillic": Typed("мо 777", "+7 (495) 123-45-67", "Замена масла и фильтра", "МО 777"),
    "hindi": Typed("dl 3c ab 1234", "+91 98765 43210", "सर्विस चाहिए, ब्रेक की आवाज़", "DL 3C AB 1234"),
    "japanese": Typed(
        "品川 300 さ 12-34", "03-1234-5678", "オイル交換をお願いします 🚗", "品川 300 さ 12-34"
    ),
    "words around": Typed("NOPLATE", "call 208-555-0123 after 5pm", "Several\nlines\nof text", "NOPLATE"),
    "windows newlines": Typed(
        "temp tag 123",
        "208 555 0124 (work)",
        "Line one\r\nLine two\rLine three",
        "TEMP TAG 123",
        "Line one\nLine two\nLine three",
    ),
    "one character": Typed("x", "5", "x", "X"),
    "tab in plate": Typed("plate\twith tab", "208-555-0125", "Tab\tseparated\tnotes", "PLATE WITH TAB"),
    "emoji": Typed("🚗 1", "☎ 208-555-0126", "Emoji 🔧🛞 and a family 👨\u200d👩\u200d👧", "🚗 1"),
    "script tag": Typed("8b1111", "2085550127", "<script>alert('x')</script>", "8B1111"),
    "made-up element": Typed("blink 1", "208-555-0128", "<blinking>text</blinking>", "BLINK 1"),
    "entities": Typed("AB/123", "208 555 0129", "& &amp; &lt; stay as typed", "AB/123"),
    "long": Typed("q-1", "555-0130 ext. 22", "The noise starts when cold. " * 110, "Q-1"),
    "french": Typed("été 2024", "+33 1 23 45 67 89", "Vidange + pneus d'hiver — «urgent»", "ÉTÉ 2024"),
    "sharp s": Typed("straße 1", "+43 1 234567", "Reifenwechsel", "STRASSE 1"),
    "zero-width space": Typed("zwsp\u200b1", "208-555-0131", "A zero-width space in the plate", "ZWSP1"),
    "no-break space": Typed("ab 1\u00a0c", "208-555-0132", "A no-break space in the plate", "AB 1 C"),
    "two phones": Typed("nyc 4ever", "(212) 555-0132 / (212) 555-0133", "Two numbers", "NYC 4EVER"),
    "surrounding spaces": Typed("bc 456", "tel: +1-604-555-0134", "  trimmed  \n", "BC 456", "trimmed"),
    "letters in the number": Typed("ca 1", "1-800-FLOWERS", "Phone with letters", "CA 1"),
    "punctuation": Typed("ky 9", "+44 (0)20 7946 0958", "Backslash \\ percent % hash # braces {}", "KY 9"),
    "blank lines": Typed("or 123 abc", "555 0135 #2", "Tabs\tand\n\n\nblank lines", "OR 123 ABC"),
    "no number": Typed("jo 1", "none", "Please write to jo@example.com", "JO 1"),
    "a word for a number": Typed("jo 2", "e-mail only", "jo@example.com, no phone", "JO 2"),
    "dots and slashes": Typed("a/../b", "208-555-0136", "Dots inside a plate", "A/../B"),
    "percent": Typed("100%", "208-555-0137", "A percent sign", "100%"),
    "query and fragment": Typed("a?b#c", "208-555-0138", "Question mark and hash", "A?B#C"),
    "backslash": Typed("a\\b", "208-555-0139", "A backslash", "A\\B"),
    "greek with accents": Typed("\u03901", "208-555-0140", "Iota with dialytika and tonos", "\u03aa\u03011"),
}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
async def test_a_typed_form_is_stored_as_typed_and_listed(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, form: Typed
) -> None:
    body = {"service_description": form.description, "phone_number": form.phone, "license_plate": form.plate}
    response = await api.post("/service-request", json=body, headers={"Authorization": ""})
    assert response.status_code == 201, response.text
    assert response.json() == "Successfully added new service request"

    description = form.stored_description or form.description.strip()
    phone = form.phone.strip()
    # REST: raw, under the plate's one spelling.
    (item,) = (await api.get(f"/vehicles/{quote(form.stored_plate, safe='')}/requests")).json()["items"]
    assert (item["license_plate"], item["phone_number"], item["service_description"]) == (
        form.stored_plate,
        phone,
        description,
    )
    stored = await raw_item(dynamodb, table, form.stored_plate, item["service_id"])
    assert stored is not None
    assert stored["service_description"] == {"S": description}
    assert stored["phone_number"] == {"S": phone}
    # The website's routes: escaped, found by the plate as typed too.
    (row,) = (await api.get("/admin-service-request")).json()
    (history,) = (
        await api.get(f"/admin-service-request/vehicle-history/{quote(form.plate, safe='')}")
    ).json()
    for listed in (row, history):
        assert listed["service_description"] == html.escape(description)
        assert listed["phone_number"] == html.escape(phone)
        assert listed["license_plate"] == html.escape(form.stored_plate)


# Pairs that look the same (and are one vehicle by Unicode's rules), typed both ways.
LOOK_ALIKES = {
    "iota": ("\u03901", "\u03aa\u03011", "\u03aa\u03011"),
    "dotted i": ("i\u0307 23", "\u0130 23", "\u0130 23"),
    "sharp s": ("stra\u1e9ee 1", "STRASSE 1", "STRASSE 1"),
}


@pytest.mark.parametrize(("one", "other", "stored"), LOOK_ALIKES.values(), ids=LOOK_ALIKES.keys())
async def test_plates_that_look_the_same_are_one_vehicle(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, one: str, other: str, stored: str
) -> None:
    for plate in (one, other):
        body = {"service_description": f"typed as {plate!a}", "phone_number": "5", "license_plate": plate}
        assert (await api.post("/service-request", json=body)).status_code == 201
    keys = {item["license_plate"]["S"] for item in (await dynamodb.scan(TableName=table))["Items"]}
    assert keys == {stored}
    for plate in (one, other, stored):
        history = await api.get(f"/admin-service-request/vehicle-history/{quote(plate, safe='')}")
        assert len(history.json()) == 2, plate


DOTS = [".", "..", " . ", "...", "\uff0e\uff0e", "\u2025", ".\u200b."]


@pytest.mark.parametrize("plate", DOTS)
async def test_a_plate_of_dots_only_is_refused_saying_why(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, plate: str
) -> None:
    """A web address reads the path segment `.` or `..` as a step in the path: no link could name it."""
    form = {"service_description": "Dots", "phone_number": "208-555-0141", "license_plate": plate}
    for path in ("/service-request", "/requests"):
        response = await api.post(path, json=form)
        assert response.status_code == 422, path
        (field,) = response.json()["fields"]
        assert field["field"] == "license_plate"
        assert "dots" in field["message"]
    assert await count_items(dynamodb, table) == 0


# Plates a web address treats specially unless they are percent-encoded.
ADDRESSABLE = [
    "AB/12",
    "A?B",
    "A#B",
    "100%",
    "%2E%2E",
    "%2F",
    "A\\B",
    ".A",
    "A.",
    "A/../B",
    "../A",
    "/",
    ". .",
    "A;B",
]


@pytest.mark.parametrize("plate", ADDRESSABLE)
async def test_an_accepted_plate_is_reachable_by_its_location_and_every_route_that_takes_a_plate(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str, plate: str
) -> None:
    created = await api.post("/requests", json={**FORM, "license_plate": plate, "service_status": "Accepted"})
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["license_plate"] == plate
    location = created.headers["Location"]
    segment = quote(plate, safe="")
    assert location == f"http://localhost/requests/{segment}/{item['service_id']}"
    assert (await api.get(location)).json() == item
    assert [i["service_id"] for i in (await api.get(f"/vehicles/{segment}/requests")).json()["items"]] == [
        item["service_id"]
    ]
    history = await api.get(f"/admin-service-request/vehicle-history/{segment}")
    assert [i["service_id"] for i in history.json()] == [item["service_id"]]
    patched = await api.patch(location, json={"service_status": "Being Serviced"})
    assert patched.json()["service_status"] == "Being Serviced"
    updated = await api.put(
        f"/admin-service-request/{item['service_id']}",
        json={"license_plate": html.escape(plate), "service_status": "Waiting for Parts"},
    )
    assert updated.json() == "Successfully updated service request"
    assert (await api.delete(location)).status_code == 204
    assert await count_items(dynamodb, table) == 0
