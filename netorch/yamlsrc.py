"""YAML loading that keeps line numbers and refuses hostile input before building it.

Parsing uses libyaml (PyYAML's C parser) when present; construction records the
line of every mapping key and sequence item so that any later problem can be
reported with file and line. Duplicate keys are reported, not silently merged.

Scalars follow the YAML 1.2 core schema, narrowed so that nothing means one thing
to a YAML 1.1 reader and another to netorch: only `true`/`false` (any case of the
whole word: true, True, TRUE) are booleans; `yes`, `no`, `on`, `off` stay text.
Only plain decimals without a leading zero are integers: `0022` (octal 18 in
YAML 1.1), `1:30` (base 60, 90 in YAML 1.1), `0x1F`, `1_000` stay text, as do
dates. Text then fails the strict value types of the model with a clear message.
Explicit tags other than the core ones (`!!binary`, `!!set`, `!!timestamp`,
`!!python/...`) are refused.

Bounds, each refusal names the file and the line (Problem code "limit"):

- MAX_YAML_FILE_BYTES: the largest file read. Only regular files are read, and
  they are checked with stat before they are opened, so a FIFO or a device never
  blocks or floods the process.
- MAX_YAML_DEPTH: the deepest nesting of mappings and sequences.
- MAX_ALIAS_EXPANSION: how many nodes alias references (`*name`, `<<: *name`) may
  add to one document once expanded. The composed node graph (linear in the size of
  the file) is measured before anything is constructed, so a "billion laughs"
  document is refused before it expands, wherever the aliases are.
"""

from __future__ import annotations

import math
import os
import re
import stat
from collections.abc import Hashable, Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner

from netorch.errors import Problem, YamlSyntaxError
from netorch.util import paused_gc

MAX_YAML_FILE_BYTES = 64 * 1024 * 1024
"""Largest intent or inventory file netorch reads (bytes); a 5,000-device hosts.yaml is ~3 MB."""
MAX_YAML_DEPTH = 64
"""Deepest nesting of mappings and sequences in one document (netorch's own schema needs ~8)."""
MAX_ALIAS_EXPANSION = 100_000
"""Most nodes that alias references may add to one document once expanded."""


class _PyParser(Reader, Scanner, Parser, Composer):
    """PyYAML's pure-Python reader, scanner, parser and composer (when libyaml is missing)."""

    def __init__(self, stream: Any) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)


try:  # libyaml's parser and composer (yaml.CSafeLoader's), when present
    from yaml._yaml import CParser

    _Parser: type[Any] = CParser
except ImportError:  # pragma: no cover - libyaml missing
    _Parser = _PyParser


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


_BOOL_RE = re.compile(r"true|True|TRUE|false|False|FALSE")
_INT_RE = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_FLOAT_RE = re.compile(
    r"[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)


class _CoreResolver(BaseResolver):
    """Implicit scalar types: the YAML 1.2 core schema minus every YAML 1.1 look-alike."""


_CoreResolver.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(rf"^(?:{_BOOL_RE.pattern})$"),
                                    list("tTfF"))
_CoreResolver.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(rf"^(?:{_INT_RE.pattern})$"),
                                    list("-+0123456789"))
_CoreResolver.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(rf"^(?:{_FLOAT_RE.pattern})$"),
                                    list("-+0123456789."))
_CoreResolver.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                                    ["~", "n", "N", ""])
_CoreResolver.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_VALUE_TAG = "tag:yaml.org,2002:value"
assert None not in _CoreResolver.yaml_implicit_resolvers and not _CoreResolver.yaml_path_resolvers


class _Loader(_Parser, SafeConstructor, _CoreResolver):  # type: ignore[misc]
    def __init__(self, stream: Any, filename: str) -> None:
        _Parser.__init__(self, stream)
        SafeConstructor.__init__(self)
        _CoreResolver.__init__(self)
        self.netorch_filename = filename
        self.netorch_problems: list[Problem] = []
        self.netorch_depth = 0

    # The two methods below are called once per node: short cuts for the common case that give
    # exactly what PyYAML's general code gives.
    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """BaseResolver.resolve for a resolver with neither wildcard nor path resolvers (asserted
        above): a plain scalar takes the tag of the first resolver for its first character whose
        expression matches, any other scalar is a string."""
        if kind is ScalarNode:
            if implicit[0]:
                for tag, regexp in self.yaml_implicit_resolvers.get(value[0] if value else "", ()):
                    if regexp.match(value):
                        return tag
            return self.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Scalars: straight to their constructor (they hold no other node, so they need no
        recursion guard; a string is its node's value). Collections: PyYAML's way (aliases share
        one object, recursion is refused)."""
        if node.__class__ is ScalarNode:
            tag = node.tag
            if tag == _STR_TAG:
                return node.value
            constructor = self.yaml_constructors.get(tag)
            if constructor is not None:
                return constructor(self, node)
        return super().construct_object(node, deep)


def _refuse(filename: str, line: int, message: str) -> YamlSyntaxError:
    return YamlSyntaxError(Problem(filename, line, "", message, "limit"))


def _enter(loader: _Loader, node: Node) -> None:
    loader.netorch_depth += 1
    if loader.netorch_depth > MAX_YAML_DEPTH:
        raise _refuse(loader.netorch_filename, node.start_mark.line + 1,
                      f"mappings and lists nested deeper than {MAX_YAML_DEPTH} levels (MAX_YAML_DEPTH)")


def _construct_mapping(loader: _Loader, node: MappingNode) -> LocatedDict:
    _enter(loader, node)
    result = LocatedDict(node.start_mark.line + 1)
    merged = 0
    if any(key_node.tag in (_MERGE_TAG, _VALUE_TAG) for key_node, _ in node.value):
        own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
        loader.flatten_mapping(node)
        merged = len(node.value) - own  # flatten_mapping puts the pairs of merged mappings first
    from_merge: set[Hashable] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key.__class__ is not str and not isinstance(key, Hashable):
            loader.netorch_problems.append(
                Problem(loader.netorch_filename, line, "", "a mapping key must be a plain value")
            )
            continue
        if key in result:
            if index < merged:
                continue  # of two merged mappings, the first one named wins
            if key in from_merge:
                from_merge.discard(key)  # a key of the mapping itself overrides a merged one
            else:
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
        elif index < merged:
            from_merge.add(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    loader.netorch_depth -= 1
    return result


def _construct_sequence(loader: _Loader, node: SequenceNode) -> LocatedList:
    _enter(loader, node)
    result = LocatedList(node.start_mark.line + 1)
    for child in node.value:
        result.append(loader.construct_object(child, deep=True))
        result.item_lines.append(child.start_mark.line + 1)
    loader.netorch_depth -= 1
    return result


def _scalar(loader: _Loader, node: Node) -> str:
    return str(loader.construct_scalar(node))  # type: ignore[arg-type]


def _construct_bool(loader: _Loader, node: Node) -> bool:
    value = _scalar(loader, node)
    if not _BOOL_RE.fullmatch(value):
        raise ConstructorError(None, None, f"!!bool takes true or false, not {value!r}", node.start_mark)
    return value.lower() == "true"


def _construct_int(loader: _Loader, node: Node) -> int:
    value = _scalar(loader, node)
    if not _INT_RE.fullmatch(value):
        raise ConstructorError(None, None, f"!!int takes a decimal without leading zeros, not {value!r}",
                               node.start_mark)
    return int(value)


def _construct_float(loader: _Loader, node: Node) -> float:
    value = _scalar(loader, node)
    if not _FLOAT_RE.fullmatch(value):
        raise ConstructorError(None, None, f"!!float takes a decimal number, not {value!r}", node.start_mark)
    lower = value.lower()
    if lower.endswith(".inf"):
        return -math.inf if lower.startswith("-") else math.inf
    if lower.endswith(".nan"):
        return math.nan
    return float(value)


# Only the core tags: everything else (binary, set, omap, pairs, timestamp, python/*) is refused.
_Loader.yaml_constructors = {
    "tag:yaml.org,2002:null": SafeConstructor.construct_yaml_null,
    "tag:yaml.org,2002:str": SafeConstructor.construct_yaml_str,
    "tag:yaml.org,2002:bool": _construct_bool,
    "tag:yaml.org,2002:int": _construct_int,
    "tag:yaml.org,2002:float": _construct_float,
    "tag:yaml.org,2002:seq": _construct_sequence,
    "tag:yaml.org,2002:map": _construct_mapping,
    None: SafeConstructor.construct_undefined,
}


def _check_aliases(root: Node, filename: str) -> None:
    """Refuse a node graph whose aliases would expand past MAX_ALIAS_EXPANSION nodes, or that
    refers to itself. Walks each distinct node once (iteratively): the cost is linear in the file."""
    size: dict[int, int] = {}  # id(collection node) -> nodes in it once expanded
    on_path: set[int] = {id(root)}
    added = 0
    # frames: a node, its children (node, line) still to visit, its expanded size so far
    stack: list[tuple[Node, Iterator[tuple[Node, int]], list[int]]] = [(root, _children(root), [1])]
    while stack:
        node, children, acc = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            on_path.discard(id(node))
            size[id(node)] = acc[0]
            if stack:
                stack[-1][2][0] += acc[0]
            continue
        child_node, line = child
        if not isinstance(child_node, (MappingNode, SequenceNode)):
            acc[0] += 1
            continue
        key = id(child_node)
        if key in on_path:
            raise _refuse(filename, line, "recursive alias: a node refers to itself")
        seen = size.get(key)
        if seen is not None:  # a second reference to a node: an alias
            added += seen
            if added > MAX_ALIAS_EXPANSION:
                raise _refuse(filename, line,
                              f"aliases here expand the document by more than {MAX_ALIAS_EXPANSION:,} nodes "
                              "(MAX_ALIAS_EXPANSION); refusing to expand it")
            acc[0] += seen
            continue
        on_path.add(key)
        stack.append((child_node, _children(child_node), [1]))


def _children(node: Node) -> Iterator[tuple[Node, int]]:
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            yield key_node, line
            yield value_node, line
    elif isinstance(node, SequenceNode):
        line = node.start_mark.line + 1
        for child in node.value:
            yield child, (line if child.start_mark.line < node.start_mark.line else child.start_mark.line + 1)


def load_text(text: str, filename: str) -> tuple[Any, list[Problem]]:
    """Parse one YAML document; return the data and the problems found while loading.

    Malformed YAML raises YamlSyntaxError with the line of the fault; so does a document
    past one of the bounds of this module (code "limit").
    """
    loader = _Loader(text, filename)
    with paused_gc():  # building many small objects triggers full collections that free nothing
        return _load(loader, filename, may_alias="&" in text)


def _load(loader: _Loader, filename: str, may_alias: bool) -> tuple[Any, list[Problem]]:
    try:
        node = loader.get_single_node()
        if node is None:
            return None, loader.netorch_problems
        if may_alias:  # aliases need anchors, anchors need '&': most files skip the walk
            _check_aliases(node, filename)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 0
        what = exc.problem or "malformed YAML"
        if exc.context:
            what = f"{exc.context}; {what}"
        kind = "unsupported YAML" if isinstance(exc, ConstructorError) else "YAML syntax error"
        raise YamlSyntaxError(Problem(filename, line, "", f"{kind}: {what}", "yaml")) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(Problem(filename, 0, "", f"YAML error: {exc}", "yaml")) from None
    except RecursionError:  # only without libyaml, whose composer stops at 1,000 levels itself
        raise _refuse(filename, 0, f"mappings and lists nested deeper than {MAX_YAML_DEPTH} levels") from None
    finally:
        loader.dispose()
    return data, loader.netorch_problems


_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _FILE_KINDS if test(mode)), "not a regular file")


def read_source(path: Path) -> str:
    """The text of an input file; refuses anything but a readable regular UTF-8 file of at most
    MAX_YAML_FILE_BYTES, without ever opening a FIFO or a device for a blocking read."""
    name = str(path)
    limit = MAX_YAML_FILE_BYTES

    def refuse(message: str, code: str = "io") -> YamlSyntaxError:
        return YamlSyntaxError(Problem(name, 0, "", message, code))

    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise refuse(f"dangling symbolic link (to {os.readlink(path)}): the file it names does not exist") \
                from None
        raise refuse("file not found") from None
    except OSError as exc:
        raise refuse(f"cannot read file: {exc.strerror or exc}") from None
    kind = _not_regular(info.st_mode)
    if kind is not None:
        raise refuse(f"{kind}, not a regular file: refusing to read it")
    if info.st_size > limit:
        raise refuse(f"file is {info.st_size:,} bytes, more than the {limit:,} bytes netorch reads "
                     "(MAX_YAML_FILE_BYTES)", "limit")
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the stat, open still returns
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise refuse(f"cannot read file: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        kind = _not_regular(os.fstat(handle.fileno()).st_mode)
        if kind is not None:
            raise refuse(f"{kind}, not a regular file: refusing to read it")
        try:
            data = handle.read(limit + 1)
        except OSError as exc:
            raise refuse(f"cannot read file: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise refuse(f"file is more than the {limit:,} bytes netorch reads (MAX_YAML_FILE_BYTES)", "limit")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"not UTF-8 text (byte {exc.start})") from None


def load_file(path: Path) -> tuple[Any, list[Problem]]:
    """Load a YAML file; special, unreadable, oversized or non-UTF-8 files raise YamlSyntaxError."""
    return load_text(read_source(path), str(path))


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
