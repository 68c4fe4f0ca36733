"""The error catalogue: every code the service answers is defined once, with its status and description."""

from __future__ import annotations

import ast
from pathlib import Path

from service.core.errors import ERRORS, ErrorBody, ServiceError

SERVICE = Path(__file__).resolve().parents[2] / "service"


def _subclasses(cls: type[ServiceError]) -> set[type[ServiceError]]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_subclasses(direct)}}


def test_the_catalogue_holds_every_error_class_once_each_with_its_own_code() -> None:
    assert set(ERRORS) == _subclasses(ServiceError)
    codes = [error.code for error in ERRORS]
    assert len(codes) == len(set(codes))
    for error in ERRORS:
        assert error.__doc__, error
        assert error.description, error


def test_the_error_body_documents_every_code() -> None:
    description = ErrorBody.model_fields["code"].description or ""
    assert all(error.code in description for error in ERRORS)


def test_no_module_but_the_catalogue_spells_a_code() -> None:
    codes = {error.code for error in ERRORS}
    for path in sorted(SERVICE.rglob("*.py")):
        if path.name == "errors.py":
            continue
        literals = {
            node.value for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
        }
        assert not literals & codes, f"{path.name} spells {literals & codes}"
