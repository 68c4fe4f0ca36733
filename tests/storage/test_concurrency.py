"""No lost updates: ETags from versions, If-Match on every write, and atomic updates without it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import httpx
import pytest

from service.core.models import HISTORY_MAX, Status
from tests.support.helpers import create, put_raw, raw_item

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

    from tests.support.cognito import UserPool

FIELDS = ("phone_number", "service_description", "service_status")
STATUSES = ("Accepted", "Waiting for Parts", "Being Serviced", "Quoted - Waiting for Approval")


def _value(field: str, n: int) -> str:
    if field == "phone_number":
        return f"208-555-{n:04d}"
    if field == "service_description":
        return f"Job note {n}"
    return STATUSES[n % len(STATUSES)]


async def test_every_single_item_answer_carries_its_versions_etag(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/requests",
        json={"license_plate": "E1", "phone_number": "208-444-5555", "service_description": "Brakes"},
    )
    assert created.headers["etag"] == '"1"'
    path = f"/requests/E1/{created.json()['service_id']}"
    assert (await api.get(path)).headers["etag"] == '"1"'
    patched = await api.patch(path, json={"service_status": "Accepted"})
    assert patched.headers["etag"] == '"2"'
    assert (await api.get(path)).headers["etag"] == '"2"'


async def test_a_stale_if_match_is_412_and_changes_nothing(api: httpx.AsyncClient) -> None:
    item = await create(api)
    path = f"/requests/8B1111/{item['service_id']}"
    fresh = await api.patch(path, json={"service_status": "Accepted"}, headers={"If-Match": '"1"'})
    assert fresh.status_code == 200
    for method, body in (("PATCH", {"service_status": "Completed"}), ("DELETE", None)):
        stale = await api.request(method, path, json=body, headers={"If-Match": '"1"'})
        assert stale.status_code == 412, method
        assert stale.json()["code"] == "precondition_failed"
    admin = await api.put(
        f"/admin-service-request/{item['service_id']}",
        json={"license_plate": "8B1111", "service_status": "Completed"},
        headers={"If-Match": '"1"'},
    )
    assert admin.status_code == 412
    now = (await api.get(path)).json()
    assert (now["service_status"], now["version"]) == ("Accepted", 2)
    assert (await api.delete(path, headers={"If-Match": '"2"'})).status_code == 204


@pytest.mark.parametrize(
    ("header", "status"),
    [("*", 200), ('"7", "1"', 200), ('W/"1"', 412), ('"abc"', 412), ("1", 422), ('"1', 422)],
)
async def test_if_match_forms(api: httpx.AsyncClient, header: str, status: int) -> None:
    item = await create(api)
    response = await api.patch(
        f"/requests/8B1111/{item['service_id']}",
        json={"service_status": "Accepted"},
        headers={"If-Match": header},
    )
    assert response.status_code == status, response.text
    if status == 422:
        assert response.json()["fields"][0]["field"] == "If-Match"


@pytest.mark.parametrize("tag", [b'"\xb2"', b'"\xb9\xb3"', b'"1\xb2"', b'"1", "\xb2"'])
async def test_if_match_counts_only_ascii_digits(api: httpx.AsyncClient, tag: bytes) -> None:
    """'²' (a latin-1 byte that str.isdigit accepts) names no version: 412, never a 500."""
    item = await create(api)
    path = f"/requests/8B1111/{item['service_id']}"
    answers = [
        await api.patch(path, json={"service_status": "Accepted"}, headers={b"If-Match": tag}),
        await api.delete(path, headers={b"If-Match": tag}),
        await api.put(
            f"/admin-service-request/{item['service_id']}",
            json={"license_plate": "8B1111", "service_status": "Completed"},
            headers={b"If-Match": tag},
        ),
    ]
    expected = 200 if tag.startswith(b'"1",') else 412
    assert [r.status_code for r in answers] == [expected, 412, 412], [r.text for r in answers]
    now = (await api.get(path)).json()
    assert now["version"] == (2 if expected == 200 else 1)


async def test_if_match_on_a_missing_request_is_404(api: httpx.AsyncClient) -> None:
    response = await api.patch(
        "/requests/8B1111/none", json={"service_status": "Accepted"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 404


async def test_an_item_written_elsewhere_has_etag_0_and_gets_a_version_on_its_first_update(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    await put_raw(dynamodb, table, license_plate="CON1", service_id="5", service_status="Accepted")
    read = await api.get("/requests/CON1/5")
    assert read.headers["etag"] == '"0"'
    updated = await api.patch(
        "/requests/CON1/5", json={"service_status": "Being Serviced"}, headers={"If-Match": '"0"'}
    )
    assert (updated.status_code, updated.headers["etag"]) == (200, '"1"')
    again = await api.patch(
        "/requests/CON1/5", json={"service_status": "Completed"}, headers={"If-Match": '"0"'}
    )
    assert again.status_code == 412


@pytest.mark.atomic_writes("moto checks a write's condition and applies it to the item without a lock")
async def test_fifty_concurrent_patches_with_one_if_match_give_one_success(api: httpx.AsyncClient) -> None:
    item = await create(api)
    path = f"/requests/8B1111/{item['service_id']}"
    responses = await asyncio.gather(
        *(
            api.patch(path, json={"service_description": f"Attempt {n}"}, headers={"If-Match": '"1"'})
            for n in range(50)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [412] * 49
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    final = (await api.get(path)).json()
    assert final == winner
    assert final["version"] == 2


@pytest.mark.atomic_writes("moto checks a write's condition and applies it to the item without a lock")
async def test_fifty_concurrent_patches_without_if_match_all_land(
    api: httpx.AsyncClient, dynamodb: DynamoDBClient, table: str
) -> None:
    """Every write lands and is counted once; each attribute ends with a value written to it, and
    attributes that another writer (the console) sets at the same time survive too."""
    item = await create(api)
    path = f"/requests/8B1111/{item['service_id']}"
    patches = [{FIELDS[n % 3]: _value(FIELDS[n % 3], n)} for n in range(50)]
    console_writes = [
        dynamodb.update_item(
            TableName=table,
            Key={"license_plate": {"S": "8B1111"}, "service_id": {"S": item["service_id"]}},
            UpdateExpression=f"SET console_note_{n} = :v",
            ExpressionAttributeValues={":v": {"S": f"note {n}"}},
        )
        for n in range(10)
    ]
    results = await asyncio.gather(*(api.patch(path, json=body) for body in patches), *console_writes)
    responses = [r for r in results if isinstance(r, httpx.Response)]
    assert [r.status_code for r in responses] == [200] * 50

    final = await raw_item(dynamodb, table, "8B1111", item["service_id"])
    assert final is not None
    assert final["version"] == {"N": "51"}, "each of the 50 writes is counted once"
    for field in FIELDS:
        assert final[field]["S"] in {body[field] for body in patches if field in body}
    for n in range(10):
        assert final[f"console_note_{n}"] == {"S": f"note {n}"}

    versions = sorted(r.json()["version"] for r in responses)
    assert versions == list(range(2, 52)), "the writes happened in one order"
    by_version = {r.json()["version"]: body for r, body in zip(responses, patches, strict=True)}
    for field in FIELDS:
        last = max(v for v, body in by_version.items() if field in body)
        assert final[field] == {"S": by_version[last][field]}, f"{field} lost its last write"


@pytest.mark.atomic_writes("moto checks a write's condition and applies it to the item without a lock")
@pytest.mark.parametrize("writers", [20, 50])
async def test_concurrent_status_changes_on_a_full_history_all_land_in_order(
    api: httpx.AsyncClient, user_pool: UserPool, writers: int
) -> None:
    """Every change lands; the history is its latest HISTORY_MAX entries, in the order of the writes,
    holding the entry of every write that changed the status; nothing but the oldest entries is lost."""
    item = await create(api)
    path = f"/requests/8B1111/{item['service_id']}"
    for n in range(HISTORY_MAX - 1):
        assert (await api.patch(path, json={"service_status": STATUSES[n % 2]})).status_code == 200
    full = (await api.get(path)).json()
    assert len(full["status_history"]) == HISTORY_MAX

    statuses = [status.value for status in Status]
    changes = [(f"technician-{n}", statuses[n % len(statuses)]) for n in range(writers)]
    responses = await asyncio.gather(
        *(
            api.patch(
                path,
                json={"service_status": status},
                headers={"Authorization": f"Bearer {user_pool.token(sub=sub)}"},
            )
            for sub, status in changes
        )
    )
    assert [r.status_code for r in responses] == [200] * writers, [r.text for r in responses]

    # The writes in the order they happened, and the entry each added (none for the status it found).
    answers = [(r.json(), sub) for r, (sub, _) in zip(responses, changes, strict=True)]
    assert [body["service_status"] for body, _ in answers] == [status for _, status in changes]
    written = sorted(answers, key=lambda answer: answer[0]["version"])
    first = full["version"] + 1
    assert [body["version"] for body, _ in written] == list(range(first, first + writers))
    expected = list(full["status_history"])
    status = full["service_status"]
    for body, sub in written:
        if body["service_status"] != status:
            entry = {"status": body["service_status"], "at": body["updated_at"], "by": sub}
            assert body["status_history"][-1] == entry, "each answer shows its own entry last"
            expected.append(entry)
        status = body["service_status"]
    assert len(expected) > HISTORY_MAX + writers // 2, "most writes changed the status"

    final = (await api.get(path)).json()
    assert final["version"] == full["version"] + writers
    assert final["status_history"] == expected[-HISTORY_MAX:]


@pytest.mark.atomic_writes("moto checks a write's condition and applies it to the item without a lock")
async def test_concurrent_status_changes_on_a_full_history_with_one_if_match_give_one_success(
    api: httpx.AsyncClient,
) -> None:
    item = await create(api)
    path = f"/requests/8B1111/{item['service_id']}"
    for n in range(HISTORY_MAX - 1):
        await api.patch(path, json={"service_status": STATUSES[n % 2]})
    full = (await api.get(path)).json()
    tag = f'"{full["version"]}"'
    responses = await asyncio.gather(
        *(
            api.patch(path, json={"service_status": status.value}, headers={"If-Match": tag})
            for status in Status
            if status.value != full["service_status"]
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [412] * (len(responses) - 1)
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    final = (await api.get(path)).json()
    assert final == winner
    assert final["status_history"] == [
        *full["status_history"][1:],
        {
            "status": winner["service_status"],
            "at": winner["updated_at"],
            "by": full["status_history"][0]["by"],
        },
    ]
