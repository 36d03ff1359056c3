"""Validating documents against the shipped JSON Schemas (green_estimate/schemas) in tests."""
from __future__ import annotations

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from green_estimate.schemas import all_schemas, load_schema


def validator(name: str) -> Draft202012Validator:
    """A validator for ``cost@1``, ``prediction@1`` or ``check@1`` that resolves refs between them."""
    registry = Registry().with_resources((sid, Resource.from_contents(s)) for sid, s in all_schemas().items())
    return Draft202012Validator(load_schema(name), registry=registry)


def errors(document: dict, name: str) -> list[str]:
    """Every way ``document`` breaks schema ``name``, as ``path: message`` lines (empty when valid)."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator(name).iter_errors(document)]


def assert_valid(document: dict, name: str | None = None) -> None:
    """Fail with every error when ``document`` does not match its schema (named by its own ``schema`` key)."""
    name = name or document["schema"]
    found = errors(document, name)
    assert not found, f"{name}: " + "; ".join(found[:10])
