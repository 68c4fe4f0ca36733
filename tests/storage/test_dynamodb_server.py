"""The integration tests talk to the DynamoDB implementation that DYNAMODB_TEST_SERVER names."""

from __future__ import annotations

import httpx

from tests.conftest import SERVER

LIST_TABLES = {
    "X-Amz-Target": "DynamoDB_20120810.ListTables",
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Date": "20260101T000000Z",
    "Authorization": "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host, Signature=0",
}


def test_the_session_server_is_the_one_asked_for(dynamodb_endpoint: str) -> None:
    response = httpx.post(dynamodb_endpoint, headers=LIST_TABLES, content=b"{}")
    assert response.status_code == 200, response.text
    assert "TableNames" in response.json()
    # moto's server runs on Werkzeug, which names itself; dynalite, on Node's http module, sends no Server.
    served_by = "moto" if "werkzeug" in response.headers.get("server", "").lower() else "dynalite"
    assert served_by == SERVER
