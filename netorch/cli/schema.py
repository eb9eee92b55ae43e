"""`netorch schema`: the JSON Schema of every file netorch reads (intents, inventory, the
daemon's configuration) and of every --json output, and the reference of the intent and
inventory fields (Markdown, generated from the models: docs/reference.md)."""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import textwrap
import typing
from collections.abc import Callable
from typing import Annotated, Any

import typer
from pydantic import BaseModel, ConfigDict, create_model

from netorch.cli.output import err, out, table


def _attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """field -> the docstring written under it in the model's class or a base class of netorch's.
    Read here, from the source, rather than by every model at import (pydantic's
    use_attribute_docstrings would parse every model's source at every start of netorch)."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not cls.__module__.startswith("netorch."):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        node = tree.body[0]
        body = node.body if isinstance(node, ast.ClassDef) else []
        for field, doc in itertools.pairwise(body):
            if isinstance(field, ast.AnnAssign) and isinstance(field.target, ast.Name) \
                    and isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) \
                    and isinstance(doc.value.value, str):
                docs[field.target.id] = inspect.cleandoc(doc.value.value)
    return docs


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model a model's fields refer to (itself included), by the name its schema gives it."""
    found: dict[str, type[BaseModel]] = {}

    def walk(annotation: object) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation.__name__ not in found:
            found[annotation.__name__] = annotation
            for info in annotation.model_fields.values():
                walk(info.annotation)
        for argument in typing.get_args(annotation):
            walk(argument)

    walk(root)
    return found


def _describe(model: type[BaseModel], schema: dict[str, Any]) -> dict[str, Any]:
    """The model's JSON Schema with each field's docstring as its description (where the field
    has none of its own)."""
    models = _models(model)
    for name, part in [(model.__name__, schema), *schema.get("$defs", {}).items()]:
        cls = models.get(name)
        if cls is None:
            continue
        docs = _attribute_docs(cls)
        for field, info in cls.model_fields.items():
            prop = part.get("properties", {}).get(info.alias or field)
            if prop is not None and field in docs and "description" not in prop:
                prop["description"] = docs[field]
    return schema


def _intents() -> dict[str, Any]:
    from netorch.model.intents import KINDS

    fields: dict[str, Any] = {kind: (tuple[model, ...], ()) for kind, model in KINDS.items()}  # type: ignore[valid-type]
    model: type[BaseModel] = create_model("IntentFile", __doc__="One intents file: lists of intents by kind.",
                                          __config__=ConfigDict(extra="forbid"), **fields)
    return _describe(model, model.model_json_schema(by_alias=True))


def _inventory() -> dict[str, Any]:
    from netorch.model.inventory import HostEntry

    entry = _describe(HostEntry, HostEntry.model_json_schema(by_alias=True))
    defs = entry.pop("$defs", {})
    if "HostData" in defs:
        defs["HostData"]["additionalProperties"] = True  # other tools' keys are kept, never rendered
    return {"title": "hosts.yaml", "description": "Nornir SimpleInventory hosts file: host name -> entry "
            "(groups.yaml has the same entries; defaults.yaml is one entry).",
            "type": "object", "additionalProperties": entry, "$defs": defs}


def _model(path: str, name: str) -> Callable[[], dict[str, Any]]:
    def schema() -> dict[str, Any]:
        import importlib

        model: type[BaseModel] = getattr(importlib.import_module(path), name)
        return _describe(model, model.model_json_schema(by_alias=True))

    return schema


#: what `netorch schema KIND` prints
SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "intents": _intents,
    "inventory": _inventory,
    "daemon-config": _model("netorch.daemon.config", "DaemonConfig"),
    "validate": _model("netorch.cli.offline", "ValidationJson"),
    "plan": _model("netorch.run.report", "RunReportJson"),
    "apply": _model("netorch.run.report", "RunReportJson"),
    "rollback": _model("netorch.run.report", "RunReportJson"),
    "recover": _model("netorch.run.report", "RunReportJson"),
    "drift": _model("netorch.run.drift", "DriftReport"),
    "verify": _model("netorch.verify.report", "VerifyReportJson"),
    "verify-against": _model("netorch.cli.models", "DifferentialJson"),
    "render": _model("netorch.cli.models", "RenderJson"),
    "diff": _model("netorch.cli.models", "RevisionDiffJson"),
    "history": _model("netorch.cli.models", "HistoryJson"),
    "history-run": _model("netorch.cli.models", "RunJson"),
    "history-verify": _model("netorch.cli.models", "VerificationsJson"),
    "schema": _model("netorch.cli.models", "SchemaListJson"),
    "lab-up": _model("netorch.lab.state", "LabStatus"),
    "lab-status": _model("netorch.lab.state", "LabStatus"),
    "lab-probe": _model("netorch.lab.probe", "ProbesJson"),
}

#: what each schema is of, as `netorch schema` lists them
WHAT = {
    "intents": "an intents file (intents/*.yaml)",
    "inventory": "the inventory's hosts.yaml and groups.yaml",
    "daemon-config": "the daemon's configuration file (netorch daemon --config)",
    "validate": "validate --json",
    "plan": "plan --json",
    "apply": "apply --json",
    "rollback": "rollback --json",
    "recover": "recover --json",
    "drift": "drift --json",
    "verify": "verify --json",
    "verify-against": "verify --against live|RUN|REV --json",
    "render": "render --json",
    "diff": "diff REV_A REV_B --json",
    "history": "history --json (the latest runs)",
    "history-run": "history RUN --json (one run in full), recover --abandon RUN --json",
    "history-verify": "history --kind verify --json (the latest verifications)",
    "schema": "schema --json (this list)",
    "lab-up": "lab up --json",
    "lab-status": "lab status --json",
    "lab-probe": "lab probe --json",
}


def _type(prop: dict[str, Any]) -> str:
    """A field's type in words, from its JSON Schema."""
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        kinds = [_type(p) for p in prop["anyOf"] if p.get("type") != "null"]
        return " or ".join(kinds) + (" (optional)" if len(kinds) < len(prop["anyOf"]) else "")
    if "enum" in prop:
        return " | ".join(str(v) for v in prop["enum"])
    if "const" in prop:
        return str(prop["const"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"mapping to {_type(prop['additionalProperties'])}"
    return str(kind)


def _section(name: str, schema: dict[str, Any], lines: list[str]) -> None:
    lines += [f"### {name}", ""]
    if schema.get("description"):
        lines += [" ".join(schema["description"].split()), ""]
    if "enum" in schema:
        lines += ["One of: " + ", ".join(f"`{v}`" for v in schema["enum"]) + ".", ""]
        return
    required = set(schema.get("required", ()))
    lines += ["| field | type | required / default | meaning |", "|---|---|---|---|"]
    for field, prop in schema.get("properties", {}).items():
        if field in required:
            need = "required"
        elif "default" in prop:
            need = f"default `{json.dumps(prop['default'])}`"
        else:
            need = "optional"
        meaning = " ".join(str(prop.get("description", "")).split()).replace("|", "\\|")
        lines.append(f"| `{field}` | {_type(prop).replace('|', '/')} | {need} | {meaning} |")
    lines.append("")


def reference() -> str:
    """The reference of every intent and inventory field, generated from the models."""
    lines = ["# netorch: reference of the intent and inventory fields", "",
             "Generated from netorch's models by `netorch schema --reference` (a test checks it is current).",
             "Every intents file holds lists of intents by kind; unknown fields are errors.", "",
             "## Intents", ""]
    intents = _intents()
    defs = intents.get("$defs", {})
    for kind, prop in intents["properties"].items():
        item = prop.get("items", {}).get("$ref", "").rsplit("/", 1)[-1]
        lines.append(f"- `{kind}:` a list of {item}")
    lines.append("")
    for name in sorted(defs):
        _section(name, defs[name], lines)
    inventory = _inventory()
    lines += ["## Inventory", "", " ".join(inventory["description"].split()), ""]
    _section("HostEntry", inventory["additionalProperties"], lines)
    for name in sorted(inventory["$defs"]):
        _section(name, inventory["$defs"][name], lines)
    return "\n".join(lines).rstrip() + "\n"


def schema_list() -> BaseModel:
    from netorch.cli.models import SchemaListJson

    return SchemaListJson.model_validate([{"name": name, "description": WHAT[name]} for name in SCHEMAS])


def schema_cmd(
    kind: Annotated[str | None, typer.Argument(metavar="KIND", help="The schema to print: one of "
                                               + ", ".join(SCHEMAS) + ". Without it: the list of them.",
                                               show_default=False)] = None,
    as_reference: Annotated[bool, typer.Option("--reference", help="Print the reference of the intent and "
                                               "inventory fields (Markdown) instead.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The list of schemas as JSON (without KIND).")] = False,
) -> None:
    """Print the JSON Schema of an input file (intents, inventory, daemon-config) or of a command's
    --json output, the list of them, or the field reference."""
    if as_reference:
        out.print(reference(), markup=False, highlight=False, soft_wrap=True, end="")
        return
    if kind is None:
        listing = schema_list()
        if as_json:
            out.print_json(listing.model_dump_json())
            return
        shown = table("netorch schema KIND prints the JSON Schema of", ("KIND", "what"))
        for name, what in WHAT.items():
            shown.add_row(name, what)
        out.print(shown)
        return
    if kind not in SCHEMAS:
        err.print(f"error: schema {kind!r} unknown: use one of {', '.join(SCHEMAS)}", markup=False,
                  highlight=False)
        raise typer.Exit(1)
    out.print_json(json.dumps(SCHEMAS[kind]()))
