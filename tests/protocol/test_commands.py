"""``neuroadapt schema`` and ``neuroadapt explain``."""

from __future__ import annotations

import json
import re
import tomllib

import pytest

from neuroadapt.cli import main
from neuroadapt.paths import PROJECT_ROOT
from neuroadapt.protocol import load_protocol
from neuroadapt.protocol.cli import explain, json_schema

SHIPPED = sorted((PROJECT_ROOT / "protocols").glob("*.toml"))


def _check(instance, schema: dict, root: dict, path: str = "") -> list[str]:
    """A small JSON Schema checker for the constructs pydantic emits (no jsonschema here)."""
    if "$ref" in schema:
        name = schema["$ref"].split("/")[-1]
        return _check(instance, root["$defs"][name], root, path)
    if "anyOf" in schema:
        tries = [_check(instance, s, root, path) for s in schema["anyOf"]]
        return [] if any(not t for t in tries) else [f"{path}: matches no alternative"]
    errs: list[str] = []
    typ = schema.get("type")
    types = {
        "object": dict,
        "array": list,
        "string": str,
        "boolean": bool,
        "null": type(None),
        "integer": int,
        "number": (int, float),
    }
    if (typ and not isinstance(instance, types[typ])) or (
        typ in ("integer", "number") and isinstance(instance, bool)
    ):
        return [f"{path}: not {typ}"]
    if "enum" in schema and instance not in schema["enum"]:
        errs.append(f"{path}: not in enum")
    if "const" in schema and instance != schema["const"]:
        errs.append(f"{path}: not const")
    if isinstance(instance, int | float) and not isinstance(instance, bool):
        for key, ok in (
            ("minimum", instance >= schema.get("minimum", instance)),
            ("maximum", instance <= schema.get("maximum", instance)),
            (
                "exclusiveMinimum",
                "exclusiveMinimum" not in schema or instance > schema["exclusiveMinimum"],
            ),
            (
                "exclusiveMaximum",
                "exclusiveMaximum" not in schema or instance < schema["exclusiveMaximum"],
            ),
        ):
            if not ok:
                errs.append(f"{path}: violates {key}")
    if (
        isinstance(instance, str)
        and "pattern" in schema
        and not re.search(schema["pattern"], instance)
    ):
        errs.append(f"{path}: does not match pattern")
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in instance:
                errs.append(f"{path}.{key}: required")
        for key, value in instance.items():
            if key in props:
                errs += _check(value, props[key], root, f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errs.append(f"{path}.{key}: not allowed")
    if isinstance(instance, list):
        if "minItems" in schema and len(instance) < schema["minItems"]:
            errs.append(f"{path}: too short")
        if "prefixItems" in schema:
            for i, (item, sub) in enumerate(zip(instance, schema["prefixItems"], strict=False)):
                errs += _check(item, sub, root, f"{path}[{i}]")
        elif "items" in schema:
            for i, item in enumerate(instance):
                errs += _check(item, schema["items"], root, f"{path}[{i}]")
    return errs


def test_schema_command_prints_a_json_schema(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert {"protocol", "features", "phases", "reward", "mappings", "artifacts"} <= set(
        schema["properties"]
    )
    assert set(schema["required"]) == {"protocol", "features", "phases"}


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_schema_accepts_every_shipped_protocol(path):
    schema = json_schema()
    assert _check(tomllib.loads(path.read_text()), schema, schema) == []


def test_schema_rejects_what_the_loader_rejects():
    schema = json_schema()
    data = tomllib.loads(SHIPPED[0].read_text())
    data["phases"][0]["duration"] = -1
    data["protocol"]["colour"] = "blue"
    errs = _check(data, schema, schema)
    assert any("phases" in e for e in errs) and any("colour" in e for e in errs)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_explain_mentions_phases_durations_and_rewards(path, capsys):
    p = load_protocol(path).protocol
    text = explain(p)
    for ph in p.phases:
        assert ph.name in text
        minutes = ph.duration / 60
        assert (
            (f"{minutes:g} min" in text) if ph.duration % 60 == 0 else f"{ph.duration:g} s" in text
        )
    assert "Rewarded" in text
    if p.reward is not None:
        for c in p.reward.conditions:
            assert f"{c.feature} is {c.direction}" in text
    assert main(["explain", str(path)]) == 0
    assert capsys.readouterr().out.strip() == text


def test_validate_reports_the_corpus_one_line_per_error(capsys):
    corpus = sorted((PROJECT_ROOT / "tests" / "protocol" / "malformed").glob("*.toml"))
    assert main(["validate", *map(str, corpus), str(SHIPPED[0])]) == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == f"{SHIPPED[0]}: ok"
    assert {ln.split(": ", 1)[0] for ln in lines[:-1]} == {str(p) for p in corpus}
    assert not any("Traceback" in ln for ln in lines)


def test_validate_every_shipped_protocol(capsys):
    assert main(["validate", *map(str, SHIPPED)]) == 0
    assert capsys.readouterr().out.count(": ok") == len(SHIPPED) >= 4
