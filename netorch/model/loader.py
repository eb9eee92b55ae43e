"""Load intents/*.yaml into an IntentSet, reporting every schema problem with file and line.

The intents folder is walked with bounds, so that a wrong `--intents /` stops early
instead of walking the whole machine (Problem code "limit"):

- MAX_INTENT_TREE_ENTRIES: directory entries of any kind looked at while walking;
- MAX_INTENT_FILES: intent files (*.yaml, *.yml) found;
- MAX_INTENT_BYTES: their total size (each file also obeys yamlsrc.MAX_YAML_FILE_BYTES).

Nothing is skipped silently: a dangling, unreadable or special (FIFO, device) file named
*.yaml, and a symbolic link to a folder, are errors, since a missing intents file would
otherwise read as fewer intents and apply would remove them from the devices.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from netorch.errors import Problem, YamlSyntaxError
from netorch.model.intents import KINDS, SINGULAR, IntentFile, IntentSet, Sourced
from netorch.model.types import Frozen, unknown_field
from netorch.yamlsrc import format_loc, line_of, load_file

INTENT_SUFFIXES = (".yaml", ".yml")
MAX_INTENT_TREE_ENTRIES = 100_000
"""Most directory entries (files, folders, anything) looked at under the intents folder."""
MAX_INTENT_FILES = 10_000
"""Most intent files under the intents folder."""
MAX_INTENT_BYTES = 256 * 1024 * 1024
"""Most bytes of intent files under the intents folder, all files together."""


def intent_files(directory: Path) -> tuple[list[Path], list[Problem]]:
    """The intent files under `directory` (or `directory` itself if it is not a folder), sorted,
    and the problems of the walk. Past a bound the walk stops and returns no files."""
    name = str(directory)
    try:
        is_dir = stat.S_ISDIR(os.stat(directory).st_mode)
    except OSError:
        is_dir = False
    if not is_dir:
        # a file, or something that is not one: the reader refuses what it cannot read
        return ([directory], []) if os.path.lexists(directory) else \
            ([], [Problem(name, 0, "", "intents folder or file not found", "io")])
    files: list[Path] = []
    problems: list[Problem] = []
    entries = 0
    total = 0
    pending = [directory]
    while pending:
        folder = pending.pop()
        try:
            listing = os.scandir(folder)
        except OSError as exc:
            problems.append(Problem(str(folder), 0, "", f"cannot read folder: {exc.strerror or exc}", "io"))
            continue
        with listing:
            for entry in listing:
                entries += 1
                if entries > MAX_INTENT_TREE_ENTRIES:
                    return [], [_too_many(name, f"more than {MAX_INTENT_TREE_ENTRIES:,} entries",
                                          "MAX_INTENT_TREE_ENTRIES")]
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    pending.append(path)
                    continue
                if not entry.name.endswith(INTENT_SUFFIXES):
                    if entry.is_symlink() and os.path.isdir(path):
                        problems.append(Problem(entry.path, 0, "", "symbolic link to a folder: not followed; "
                                                "name the folder itself, or move its files here", "io"))
                    continue
                files.append(path)
                if len(files) > MAX_INTENT_FILES:
                    return [], [_too_many(name, f"more than {MAX_INTENT_FILES:,} intent files",
                                          "MAX_INTENT_FILES")]
                try:
                    info = entry.stat()
                except OSError:
                    continue  # the reader reports it (dangling link, no permission)
                if stat.S_ISREG(info.st_mode):
                    total += info.st_size
                if total > MAX_INTENT_BYTES:
                    return [], [_too_many(name, f"more than {MAX_INTENT_BYTES:,} bytes of intent files",
                                          "MAX_INTENT_BYTES")]
    return sorted(files), problems


def _too_many(name: str, what: str, bound: str) -> Problem:
    return Problem(name, 0, "", f"{what} under {name} ({bound}): is this the intents folder?", "limit")


def _message(err: Any, model: type[Frozen] | None = None) -> str:
    kind = err["type"]
    msg = str(err["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        return unknown_field(tuple(err["loc"]), model) if model is not None else f"unknown field {err['loc'][-1]!r}"
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


def _causes(errors: list[Any]) -> list[Any]:
    """pydantic's errors without its follow-ons: a list whose entry is invalid is also reported
    too short (the invalid entry does not count); that is the entry's problem, reported once."""
    locs = [tuple(e["loc"]) for e in errors]
    return [e for e in errors if not (e["type"] in ("too_short", "too_long") and any(
        len(other) > len(tuple(e["loc"])) and other[:len(e["loc"])] == tuple(e["loc"]) for other in locs))]


def load_intents(directory: Path) -> tuple[IntentSet, list[Problem]]:
    files, problems = intent_files(directory)
    if not files and not problems:
        problems.append(Problem(str(directory), 0, "", "no intent files (*.yaml) found", "io"))
    collected: dict[str, list[Sourced[Any]]] = {kind: [] for kind in KINDS}
    broken: set[tuple[str, str]] = {("", p.file) for p in problems}
    for path in files:
        fname = str(path)
        try:
            data, found = load_file(path)
        except YamlSyntaxError as exc:
            problems.append(exc.problem)
            broken.add(("", fname))
            continue
        problems.extend(found)
        if found:
            broken.add(("", fname))
        if data is None:
            continue
        if not isinstance(data, dict):
            broken.add(("", fname))
            problems.append(Problem(fname, getattr(data, "line", 1), "",
                                    "an intents file holds a mapping with routes, domains, rules, services, "
                                    "ospf, bgp or vrfs"))
            continue
        try:
            IntentFile.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = tuple(err["loc"])
                # element-level type errors are reported per object below
                if len(loc) >= 2 and loc[0] in KINDS and isinstance(loc[1], int):
                    continue
                broken.add(("", fname))
                problems.append(Problem(fname, line_of(data, loc), format_loc(loc), _message(err, IntentFile),
                                        "schema"))
        for kind, model in KINDS.items():
            items = data.get(kind)
            if not isinstance(items, list):
                continue
            for index, item in enumerate(items):
                loc0 = (kind, index)
                if not isinstance(item, dict):
                    problems.append(Problem(fname, line_of(data, loc0), format_loc(loc0),
                                            f"each entry of {kind} must be a mapping", "schema"))
                    broken.add((kind, f"{kind}[{index}]"))
                    continue
                try:
                    value = model.model_validate(item)
                except ValidationError as exc:
                    for err in _causes(exc.errors()):
                        loc = (*loc0, *err["loc"])
                        problems.append(Problem(fname, line_of(data, loc), format_loc(loc),
                                                _message(err, model), "schema"))
                    name = item.get("name")
                    broken.add((kind, name if isinstance(name, str) else f"{kind}[{index}]"))
                    continue
                collected[kind].append(Sourced(value, fname, item, loc0))

    merged: dict[str, tuple[Sourced[Any], ...]] = {}
    for kind, items in collected.items():
        by_name: dict[str, Sourced[Any]] = {}
        for item in items:
            first = by_name.get(item.name)
            if first is not None:
                problems.append(Problem(item.file, item.line("name"), item.path("name"),
                                        f"duplicate {SINGULAR[kind]} name {item.name!r} "
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
        ospf=merged["ospf"],
        bgp=merged["bgp"],
        vrfs=merged["vrfs"],
        files=tuple(str(p) for p in files),
        broken=frozenset(broken),
    )
    return intents, problems
