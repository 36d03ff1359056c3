"""JSON Schemas (draft 2020-12) of the documents scripts and CI depend on (docs/json.md).

``cost@1.json``, ``prediction@1.json`` and ``check@1.json`` ship as package data; ``check@1``
refers to ``prediction@1`` by its ``$id`` (``urn:green-estimate:schema:prediction@1``), so a
validator needs both (see docs/json.md for a ``jsonschema`` example).
"""
from __future__ import annotations

import json
from importlib import resources

from green_estimate.errors import UsageError

NAMES = ("cost@1", "prediction@1", "check@1")


def load_schema(name: str) -> dict:
    """The JSON Schema of a document: ``"prediction@1"`` or ``"green-estimate/prediction@1"``.

    Raises:
        UsageError: no schema of that name.
    """
    key = name.removeprefix("green-estimate/").removesuffix(".json")
    if key not in NAMES:
        raise UsageError(f"no JSON Schema named {name!r}: use one of {', '.join(NAMES)}")
    return json.loads(resources.files(__name__).joinpath(f"{key}.json").read_text(encoding="utf-8"))


def all_schemas() -> dict[str, dict]:
    """Every shipped schema by its ``$id`` (what a ``$ref`` between them names)."""
    return {s["$id"]: s for s in (load_schema(n) for n in NAMES)}
