"""The settings table of docs/operations.md, made from the settings class's own fields and descriptions.

python -m scripts.settings_doc           # rewrite the table in docs/operations.md
python -m scripts.settings_doc --check   # exit 1 when the table there is not the one the code gives
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from service.core.settings import Settings

DOC = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
BEGIN = "<!-- settings table: made by scripts/settings_doc.py from service/core/settings.py -->"
END = "<!-- end of settings table -->"


def _variables(name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return " or ".join(f"`{choice}`" for choice in alias.choices if isinstance(choice, str))
    return f"`{alias if isinstance(alias, str) else name.upper()}`"


def _default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("default_doc"), str):
        return str(extra["default_doc"])
    value = field.default
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        value = str(value).lower()
    if isinstance(value, float):
        value = f"{value:g}"
    return f"`{value}`"


def table() -> str:
    """The Markdown table: each variable, its default and its meaning, in the class's order."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        rows.append(f"| {_variables(name, field)} | {_default(field)} | {field.description} |")
    return "\n".join(rows)


def documented(text: str) -> str:
    """The table as it stands between the markers in `text`."""
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the table is current")
    args = parser.parse_args()
    text = DOC.read_text(encoding="utf-8")
    if documented(text) == table():
        return 0
    if args.check:
        print(f"{DOC} holds an outdated settings table: run `make docs`", file=sys.stderr)
        return 1
    before, rest = text.split(BEGIN, 1)
    DOC.write_text(f"{before}{BEGIN}\n{table()}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
