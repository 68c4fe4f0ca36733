"""The repository's CloudFormation templates as the tests read them: decoded with their short tags, expanded
by the SAM transform as CloudFormation runs it, and cut down to what a stack creates for given parameters."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import boto3
from cfnlint.api import lint
from cfnlint.decode import cfn_yaml
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

ROOT = Path(__file__).resolve().parents[2]
NO_VALUE = {"Ref": "AWS::NoValue"}
_DROPPED = object()


def load(name: str) -> dict[str, Any]:
    """A template of the repository as plain dicts and lists (cfn-lint's reader knows `!Ref`, `!If`, ...)."""
    decoded = cfn_yaml.loads((ROOT / name).read_text(encoding="utf-8"))
    template: dict[str, Any] = json.loads(json.dumps(decoded))
    return template


def _no_managed_policies() -> dict[str, str]:
    """Stands in for the loader that asks IAM for the ARNs of managed policies named in `Policies`: no call
    leaves the machine, and a name the template used would fail the transform, naming it."""
    return {}


def expand_sam(template: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    """`template` as CloudFormation's SAM transform turns it into plain CloudFormation, after `sam deploy` has
    uploaded the code (the transform takes an S3 object where the template names a local folder)."""
    packaged = copy.deepcopy(dict(template))
    for resource in packaged["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://artifacts/getServiceRequest.zip"
    session = boto3.session.Session(region_name="us-east-1")
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    translator = Translator(None, Parser(), boto_session=session, metrics=metrics)
    expanded: dict[str, Any] = translator.translate(
        packaged, dict(parameters), get_managed_policy_map=_no_managed_policies
    )
    metrics.publish()  # to nowhere; unpublished, the transform's metrics complain when collected
    return expanded


def lint_findings(template: Mapping[str, Any], *, ignore: frozenset[str] = frozenset()) -> list[str]:
    """What cfn-lint finds in `template` (errors and warnings), less the rules in `ignore`."""
    return [str(match) for match in lint(json.dumps(template)) if match.rule.id not in ignore]


def created(template: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """What a stack of `template` (plain CloudFormation) creates with the parameter values `given`: the
    resources and outputs whose conditions hold, each `Fn::If` decided, `AWS::NoValue` left out and every
    parameter's `Ref` replaced by its value. Fails, as CloudFormation does, on a reference to a resource the
    stack does not create."""
    parameters = template.get("Parameters", {})
    unknown = set(given) - set(parameters)
    assert not unknown, f"no such parameters: {unknown}"
    values = {name: given.get(name, declared.get("Default")) for name, declared in parameters.items()}
    missing = [name for name, value in values.items() if value is None]
    assert not missing, f"parameters without a value: {missing}"
    conditions = template.get("Conditions", {})

    def holds(name: str) -> bool:
        return evaluate(conditions[name])

    def evaluate(expression: Any) -> bool:
        ((function, arguments),) = expression.items()
        if function == "Fn::Equals":
            left, right = (resolve(argument) for argument in arguments)
            return str(left) == str(right)
        if function == "Fn::Not":
            return not evaluate(arguments[0])
        if function == "Fn::And":
            return all(evaluate(argument) for argument in arguments)
        if function == "Fn::Or":
            return any(evaluate(argument) for argument in arguments)
        if function == "Condition":
            return holds(arguments)
        raise AssertionError(f"not a condition: {expression}")

    def resolve(value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in map(resolve, value) if item is not _DROPPED]
        if not isinstance(value, dict):
            return value
        if value == NO_VALUE:
            return _DROPPED
        if list(value) == ["Fn::If"]:
            name, then, otherwise = value["Fn::If"]
            return resolve(then if holds(name) else otherwise)
        if list(value) == ["Ref"] and value["Ref"] in values:
            return values[value["Ref"]]
        resolved = {key: resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not _DROPPED}

    def kept(section: str) -> dict[str, Any]:
        entries = template.get(section, {}).items()
        return {name: resolve(entry) for name, entry in entries if holds_for(entry)}

    def holds_for(entry: Mapping[str, Any]) -> bool:
        return "Condition" not in entry or holds(entry["Condition"])

    stack = {"Resources": kept("Resources"), "Outputs": kept("Outputs")}
    for name, entry in (*stack["Resources"].items(), *stack["Outputs"].items()):
        dangling = set(references(entry)) - set(stack["Resources"]) - set(values)
        assert not dangling, f"{name} refers to {dangling}, which the stack does not create"
    return stack


def references(value: Any) -> Iterator[str]:
    """The logical ids that `value` names in `Ref`, `Fn::GetAtt`, `Fn::Sub` and `DependsOn` (pseudo
    parameters left out)."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key == "Ref":
                name = item
            elif key == "Fn::GetAtt":
                name = item[0] if isinstance(item, list) else item.split(".", 1)[0]
            elif key == "Fn::Sub":
                text, variables = (item, {}) if isinstance(item, str) else item
                for found in re.findall(r"\$\{([^!}][^}.]*)", text):
                    if found not in variables and not found.startswith("AWS::"):
                        yield found
                yield from references(variables)
                continue
            elif key == "DependsOn":
                yield from [item] if isinstance(item, str) else item
                continue
            else:
                yield from references(item)
                continue
            if not name.startswith("AWS::"):
                yield name


def of_type(stack: Mapping[str, Any], kind: str) -> dict[str, Any]:
    """The resources of `stack` of type `kind` (`AWS::IAM::` matches every IAM type), by logical id."""
    return {
        name: resource
        for name, resource in stack["Resources"].items()
        if resource["Type"] == kind or (kind.endswith("::") and resource["Type"].startswith(kind))
    }
