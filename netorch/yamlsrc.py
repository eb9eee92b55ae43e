"""YAML loading that keeps line numbers.

Parsing uses libyaml (PyYAML's C parser) when present; construction records the
line of every mapping key and sequence item so that any later problem can be
reported with file and line. Duplicate keys are reported, not silently merged.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any

import yaml

from netorch.errors import Problem, YamlSyntaxError
from netorch.util import paused_gc

try:
    _BaseLoader: type[Any] = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - libyaml missing
    _BaseLoader = yaml.SafeLoader


class LocatedDict(dict[Any, Any]):
    """A mapping that remembers the source line of itself and of each key."""

    __slots__ = ("key_lines", "line")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.key_lines: dict[Hashable, int] = {}


class LocatedList(list[Any]):
    """A sequence that remembers the source line of itself and of each item."""

    __slots__ = ("item_lines", "line")

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.item_lines: list[int] = []


class _Loader(_BaseLoader):  # type: ignore[misc]
    def __init__(self, stream: Any, filename: str) -> None:
        super().__init__(stream)
        self.netorch_filename = filename
        self.netorch_problems: list[Problem] = []


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> LocatedDict:
    result = LocatedDict(node.start_mark.line + 1)
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, Hashable):
            loader.netorch_problems.append(
                Problem(loader.netorch_filename, line, "", "a mapping key must be a plain value")
            )
            continue
        if key in result:
            loader.netorch_problems.append(
                Problem(
                    loader.netorch_filename,
                    line,
                    str(key),
                    f"duplicate key {key!r} (first at line {result.key_lines[key]})",
                    "duplicate",
                )
            )
            continue
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(node.start_mark.line + 1)
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.item_lines.append(child.start_mark.line + 1)
    return result


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def load_text(text: str, filename: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML document; return the data and the problems found while loading.

    Malformed YAML raises YamlSyntaxError with the line of the fault.
    """
    loader = _Loader(text, filename)
    with paused_gc():  # building many small objects triggers full collections that free nothing
        return _load(loader, filename)


def _load(loader: _Loader, filename: str) -> tuple[Any, list[Problem]]:
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = exc.problem or "malformed YAML"
        if exc.context:
            what = f"{exc.context}; {what}"
        raise YamlSyntaxError(Problem(filename, line, "", f"YAML syntax error: {what}", "yaml")) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Problem(filename, 0, "", f"YAML error: {exc}", "yaml")) from None
    finally:
        loader.dispose()
    return data, loader.netorch_problems


def load_file(path: Path) -> tuple[Any, list[Problem]]:
    """Load a YAML file; unreadable or non-UTF-8 files raise YamlSyntaxError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlSyntaxError(Problem(str(path), 0, "", f"cannot read file: {exc}", "io")) from None
    return load_text(text, str(path))


def line_of(root: Any, loc: Iterable[Any]) -> int:
    """The source line of the deepest located node along a path of keys/indices."""
    node = root
    line = getattr(root, "line", 0)
    for part in loc:
        if isinstance(node, LocatedDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LocatedList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line


def format_loc(loc: Iterable[Any]) -> str:
    """A readable field path: routes[3].prefix"""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
