"""What people type into the website's form gets through: stored as typed, listed escaped on the website's
routes and raw on the REST routes."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote

import httpx
import pytest

from tests.helpers import raw_item

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
