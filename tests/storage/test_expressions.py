"""DynamoDB expressions with placeholders, checked without a server."""

from __future__ import annotations

from typing import TYPE_CHECKING

from service.storage.expressions import Parameters, as_read, projection, version_is

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb.type_defs import AttributeValueTypeDef


def test_names_and_values_get_numbered_placeholders_and_a_name_keeps_its_own() -> None:
    parameters = Parameters()
    assert (parameters.name("version"), parameters.name("service_status"), parameters.name("version")) == (
        "#n0",
        "#n1",
        "#n0",
    )
    assert (parameters.text("Completed"), parameters.number(1), parameters.value({"S": "x"})) == (
        ":v0",
        ":v1",
        ":v2",
    )
    assert parameters.request() == {
        "ExpressionAttributeNames": {"#n0": "version", "#n1": "service_status"},
        "ExpressionAttributeValues": {":v0": {"S": "Completed"}, ":v1": {"N": "1"}, ":v2": {"S": "x"}},
    }


def test_a_request_without_placeholders_sends_neither_map() -> None:
    """DynamoDB refuses an empty ExpressionAttributeNames or ExpressionAttributeValues."""
    assert Parameters().request() == {}
    names_only = Parameters()
    names_only.name("license_plate")
    assert names_only.request() == {"ExpressionAttributeNames": {"#n0": "license_plate"}}


def test_version_conditions_name_the_versions_and_zero_means_no_version_yet() -> None:
    parameters = Parameters()
    assert version_is(parameters, {3, 1}) == "#n0 IN (:v0, :v1)"
    assert parameters.request()["ExpressionAttributeValues"] == {":v0": {"N": "1"}, ":v1": {"N": "3"}}
    assert version_is(Parameters(), {0}) == "attribute_not_exists(#n0)"
    assert version_is(Parameters(), {0, 2}) == "#n0 IN (:v0) OR attribute_not_exists(#n0)"


def test_as_read_holds_an_attribute_to_what_was_read_or_to_its_absence() -> None:
    parameters = Parameters()
    item: dict[str, AttributeValueTypeDef] = {"service_status": {"S": "accepted"}}
    assert as_read(parameters, item, "service_status") == "#n0 = :v0"
    assert as_read(parameters, item, "version") == "attribute_not_exists(#n1)"
    assert parameters.request()["ExpressionAttributeValues"] == {":v0": {"S": "accepted"}}


def test_a_projection_reads_each_attribute_once_in_a_stable_order() -> None:
    parameters = Parameters()
    assert projection(parameters, {"service_status", "license_plate"}) == "#n0, #n1"
    assert parameters.request()["ExpressionAttributeNames"] == {
        "#n0": "license_plate",
        "#n1": "service_status",
    }
