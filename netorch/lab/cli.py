"""`netorch lab up|down|status|probe`: a typer sub-app (mounted by netorch.cli as `lab`).

It does not import netorch.cli: `lab probe` reads the workspace of the global options from
typer's context (ctx.obj, set by netorch's global callback)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperCommand, TyperGroup

from netorch.errors import LabError
from netorch.lab.lifecycle import default_topology_path, down, status, up
from netorch.lab.state import LabStatus, default_run_dir
from netorch.lab.topology import Topology, generate, load_topology
from netorch.service import Workspace
from netorch.util import bare_flags, narrow_help, nonempty_path, reflow


class _Command(TyperCommand):
    """A lab command: its flags show no value in --help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return bare_flags(super().get_params(ctx))

    def get_help(self, ctx: Any) -> str:
        return narrow_help(self, ctx, super().get_help)


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return bare_flags(super().get_params(ctx))

    def get_help(self, ctx: Any) -> str:
        return narrow_help(self, ctx, super().get_help)


app = typer.Typer(
    name="lab",
    help="A real network of FRR routers, end hosts and a NETCONF device in Linux namespaces (root).",
    no_args_is_help=True,
    cls=_Group,
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

RunDirOpt = Annotated[
    Path | None,
    typer.Option("--run-dir", envvar="NETORCH_LAB_DIR", show_envvar=True, show_default=False,
                 help="The lab's state folder (default: /run/netorch-lab).", parser=nonempty_path,
                 metavar="<path>"),
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output on stdout (`netorch schema` lists "
                                       "the JSON Schema of every output).")]


def _fail(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    return typer.Exit(code=1)


def _new_table(title: str, columns: tuple[str, ...]) -> Table:
    """Cells wrap, and fold a word longer than their column, in a narrow terminal: never cut."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _table(st: LabStatus) -> Table:
    table = _new_table(f"netorch lab: {st.state}  ({st.run_dir})", ("node", "kind", "namespace", "mgmt", "processes",
                                                                      "ok"))
    for node in st.nodes:
        procs = " ".join(f"{k}={v if v is not None else '-'}" for k, v in node.processes.items())
        mgmt = f"{node.mgmt}:{node.port}" if node.mgmt else ""
        table.add_row(node.name, node.kind, node.namespace, mgmt, procs,
                      "[green]yes[/]" if node.healthy else "[red]no[/]")
    return table


@app.command("up", cls=_Command)
def up_cmd(
    topology: Annotated[
        Path | None, typer.Option("--topology", "-t", help="Topology file (default: lab/topology.yaml).",
                                  parser=nonempty_path, metavar="<path>")
    ] = None,
    routers: Annotated[
        int | None,
        typer.Option("--routers", "-n", metavar="N", help="Instead of a topology file: a generated ring of N "
                     "routers."),
    ] = None,
    run_dir: RunDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Bring the lab up (idempotent); write its Nornir inventory and credentials."""
    rd = run_dir or default_run_dir()
    t0 = time.monotonic()
    try:
        if routers is not None and topology is not None:
            raise LabError("give either --topology or --routers, not both")
        topo: Topology = (
            generate(routers) if routers is not None
            else load_topology(topology or default_topology_path())
        )
        st = up(topo, rd)
    except LabError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(st.model_dump_json(indent=2))
        return
    console.print(_table(st))
    console.print(
        f"lab {st.state} in {time.monotonic() - t0:.1f}s; inventory: {st.inventory_dir}, "
        f"credentials: {st.credentials_file}, known_hosts: {st.known_hosts_file}", highlight=False,
    )


@app.command("down", cls=_Command)
def down_cmd(run_dir: RunDirOpt = None) -> None:
    """Remove every namespace, link, process and file of the lab."""
    rd = run_dir or default_run_dir()
    t0 = time.monotonic()
    try:
        down(rd)
    except LabError as exc:
        raise _fail(exc) from None
    console.print(f"lab down ({rd}) in {time.monotonic() - t0:.1f}s", highlight=False)


@app.command("status", cls=_Command)
def status_cmd(
    run_dir: RunDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the lab's nodes and processes; exit 1 unless it is fully up."""
    rd = run_dir or default_run_dir()
    try:
        st = status(rd)
    except LabError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(st.model_dump_json(indent=2))
    elif st.state == "down":
        console.print(f"no lab in {rd}", highlight=False)
    else:
        console.print(_table(st))
    if st.state != "up":
        raise typer.Exit(code=1)


def _workspace(ctx: typer.Context) -> Workspace:
    """The workspace of netorch's global options (--inventory, --intents, --templates): the
    object netorch's callback leaves on the context, which the lab's contexts inherit."""
    workspace = getattr(ctx.obj, "workspace", None)
    if not isinstance(workspace, Workspace):
        raise _fail(LabError("no workspace: run it as `netorch lab probe` (netorch's global options name it)"))
    return workspace


@app.command("probe", cls=_Command)
def probe_cmd(
    ctx: typer.Context,
    run_dir: RunDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send real traffic between the lab's hosts and compare it with what the intents allow.

    Exit 0 when every flow behaves as the intents say, 1 otherwise."""
    from netorch.lab.probe import ProbesJson, probe

    workspace = _workspace(ctx)
    try:
        results = probe(workspace, run_dir or default_run_dir())
    except LabError as exc:
        raise _fail(exc) from None
    if as_json:
        console.print_json(ProbesJson.model_validate([p.as_dict() for p in results]).model_dump_json())
    else:
        table = _new_table("netorch lab probe: real traffic against the intents",
                           ("flow", "intents say", "network does", "", "why (from the intents)"))
        for p in results:
            table.add_row(p.flow(), "allow" if p.expected else "deny",
                          "passes" if p.observed else "blocked",
                          "[green]ok[/]" if p.ok else "[bold red]MISMATCH[/]", p.reason)
        console.print(table)
        for p in results:  # whole lines, wrapped by the terminal: what to look at, never cut
            if not p.ok:
                console.print(f"MISMATCH {p.flow()}: the intents {'allow' if p.expected else 'deny'} it "
                              f"({p.reason}); the network {'passes' if p.observed else 'blocks'} it",
                              style="bold red", markup=False, highlight=False, soft_wrap=True)
        bad = sum(1 for p in results if not p.ok)
        console.print(f"{len(results) - bad}/{len(results)} flows behave as the intents say", highlight=False)
    if any(not p.ok for p in results):
        raise typer.Exit(1)


for _info in app.registered_commands:  # docstrings as help: one line per paragraph, wrapped by the display
    _info.help = reflow(_info.callback.__doc__ if _info.callback else "")
