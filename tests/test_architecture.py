"""The house's rules, checked over the import graph of netorch (ARCHITECTURE.md):

- every module stands on a layer, and imports only from its own layer or the ones below;
- no import circle, between modules or between packages of one layer;
- only netorch/transport/ imports the device libraries (napalm, netmiko, ncclient, paramiko);
- no module imports a private name (one with a leading underscore) of another module.

Every import counts: at module top, inside functions, and under TYPE_CHECKING."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "netorch"

#: lowest first; a module belongs to the first entry its dotted name starts with
LAYERS: list[tuple[str, ...]] = [
    ("netorch.errors", "netorch.util", "netorch.defaults", "netorch.register", "netorch.platforms",
     "netorch.yamlsrc", "netorch.credentials"),
    ("netorch.model", "netorch.model.ownership"),
    ("netorch.rib",),
    ("netorch.configtree", "netorch.addressplan", "netorch.topology", "netorch.protocols", "netorch.simulate",
     "netorch.validate", "netorch.planechecks", "netorch.compile", "netorch.render"),
    ("netorch.service",),
    ("netorch.transport",),
    ("netorch.plans", "netorch.store"),
    ("netorch.device",),
    ("netorch.executor",),
    ("netorch.run",),
    ("netorch.verify",),
    ("netorch.daemon", "netorch.lab", "netorch.cli", "netorch.__main__"),
]
DEVICE_LIBRARIES = ("napalm", "netmiko", "ncclient", "paramiko", "nornir_napalm", "nornir_netmiko")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def resolve(name: str) -> str:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def imports(module: str) -> list[tuple[str, str, int]]:
    """(imported netorch module, name taken from it or '', line) for every import of module."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                if full in MODULES:
                    found.append((full, "", node.lineno))
                elif base.startswith("netorch"):
                    found.append((resolve(base), alias.name, node.lineno))
                else:
                    found.append((base, alias.name, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                found.append((resolve(alias.name) if alias.name.startswith("netorch") else alias.name, "",
                              node.lineno))
    return found


def layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    if module == "netorch":
        return 0
    raise AssertionError(f"{module} stands on no layer: add it to LAYERS (and to ARCHITECTURE.md)")


def graph() -> dict[str, set[str]]:
    return {m: {t for t, _, _ in imports(m) if t.startswith("netorch") and t != m and t != "netorch"}
            for m in MODULES}


def test_every_module_stands_on_a_layer() -> None:
    for module in MODULES:
        layer(module)


def test_no_import_runs_up_the_layers() -> None:
    upward = [f"{MODULES[m].relative_to(ROOT.parent)}:{line}: {m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
              for m in MODULES for t, _, line in imports(m)
              if t.startswith("netorch.") and layer(t) > layer(m)]
    assert upward == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_between_modules() -> None:
    assert cycles(graph()) == []


def test_no_import_circle_between_packages() -> None:
    def package(m: str) -> str:
        return ".".join(m.split(".")[:2])

    edges: dict[str, set[str]] = {}
    for m, targets in graph().items():
        edges.setdefault(package(m), set()).update(package(t) for t in targets if package(t) != package(m))
    assert cycles(edges) == []


def test_only_the_transport_imports_device_libraries() -> None:
    outside = [f"{m} imports {t}" for m in MODULES if not m.startswith("netorch.transport")
               for t, _, _ in imports(m) if t.split(".")[0] in DEVICE_LIBRARIES]
    assert outside == []


def test_no_private_name_leaves_its_module() -> None:
    private = [f"{m} imports {t}.{name}" for m in MODULES for t, name, _ in imports(m)
               if name.startswith("_") and not name.startswith("__") and t.startswith("netorch") and t != m]
    assert private == []


def test_the_checks_see_what_they_check() -> None:
    """The rules above would pass over an empty graph: make sure they read the real one."""
    edges = graph()
    assert len(MODULES) > 80 and sum(len(t) for t in edges.values()) > 200
    assert "netorch.executor.base" in edges["netorch.run.engine"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
