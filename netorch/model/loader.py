"""Load intents/*.yaml into an IntentSet, reporting every schema problem with file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netorch.errors import Problem, YamlSyntaxError
from netorch.model.intents import KINDS, IntentFile, IntentSet, Sourced
from netorch.yamlsrc import format_loc, line_of, load_file

INTENT_SUFFIXES = (".yaml", ".yml")


def intent_files(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    return sorted(p for p in directory.rglob("*") if p.suffix in INTENT_SUFFIXES and p.is_file())


def _message(err: Any) -> str:
    kind = err["type"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return f"unknown field {err['loc'][-1]!r}"
    if kind == "missing":
        return f"missing required field {err['loc'][-1]!r}"
    if kind == "enum":
        return f"{msg} (got {err.get('input')!r})"
    if kind in ("tuple_type", "list_type"):
        return f"expected a list, e.g. [a, b] (got {type(err.get('input')).__name__} {err.get('input')!r})"
    if kind == "dict_type":
        return f"expected a mapping (got {type(err.get('input')).__name__})"
    return msg


def _alias_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic reports by alias already for aliased fields; keep loc as the YAML keys."""
    return loc


def load_intents(directory: Path) -> tuple[IntentSet, list[Problem]]:
    problems: list[Problem] = []
    files = intent_files(directory)
    if not files:
        problems.append(Problem(str(directory), 0, "", "no intent files (*.yaml) found", "io"))
    collected: dict[str, list[Sourced[Any]]] = {kind: [] for kind in KINDS}
    for path in files:
        fname = str(path)
        try:
            data, found = load_file(path)
        except YamlSyntaxError as exc:
            problems.append(exc.problem)
            continue
        problems.extend(found)
        if data is None:
            continue
        if not isinstance(data, dict):
            problems.append(Problem(fname, getattr(data, "line", 1), "",
                                    "an intents file holds a mapping with routes, domains, rules or services"))
            continue
        try:
            IntentFile.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                # element-level type errors are reported per object below
                if len(loc) >= 2 and loc[0] in KINDS and isinstance(loc[1], int):
                    continue
                problems.append(Problem(fname, line_of(data, loc), format_loc(loc), _message(err), "schema"))
        for kind, model in KINDS.items():
            items = data.get(kind)
            if not isinstance(items, list):
                continue
            for index, item in enumerate(items):
                loc0 = (kind, index)
                if not isinstance(item, dict):
                    problems.append(Problem(fname, line_of(data, loc0), format_loc(loc0),
                                            f"each entry of {kind} must be a mapping", "schema"))
                    continue
                try:
                    value = model.model_validate(item)
                except ValidationError as exc:
                    for err in exc.errors():
                        loc = (*loc0, *err["loc"])
                        problems.append(Problem(fname, line_of(data, loc), format_loc(loc), _message(err), "schema"))
                    continue
                collected[kind].append(Sourced(value, fname, item, loc0))

    merged: dict[str, tuple[Sourced[Any], ...]] = {}
    for kind, items in collected.items():
        by_name: dict[str, Sourced[Any]] = {}
        for item in items:
            first = by_name.get(item.name)
            if first is not None:
                problems.append(Problem(item.file, item.line("name"), item.path("name"),
                                        f"duplicate {kind[:-1]} name {item.name!r} "
                                        f"(first declared at {first.file}:{first.line('name')})",
                                        "duplicate"))
                continue
            by_name[item.name] = item
        merged[kind] = tuple(by_name[n] for n in sorted(by_name))
    intents = IntentSet(
        routes=merged["routes"],
        domains=merged["domains"],
        rules=merged["rules"],
        services=merged["services"],
        files=tuple(str(p) for p in files),
    )
    return intents, problems
