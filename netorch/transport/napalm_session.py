"""DeviceSession over NAPALM: core drivers (ios, eos, junos) and netorch's FRR driver."""

from __future__ import annotations

import contextlib
from typing import Any

from napalm.base.exceptions import (
    CommitConfirmException,
    CommitError,
    ConnectionException,
    MergeConfigException,
    NapalmException,
    ReplaceConfigException,
)

from netorch.configtree.frr import KernelInterface
from netorch.errors import ConfirmExpired, DeviceRejected, DeviceUnreachable, TransportError
from netorch.protocols.state import ProtocolCheck, has_protocols, parse_state, protocol_checks
from netorch.transport.base import DeviceSession, InterfaceState, RouteCheck, Snapshot
from netorch.transport.napalm_frr.driver import FrrDriver


class NapalmSession(DeviceSession):
    connection_name = "napalm"
    checks_commit = True
    native_confirm = True

    def _candidate(self) -> str:
        """The candidate text: netorch's FRR driver joins the artifacts itself; a core driver
        takes the platform's one artifact."""
        arts = self.job.artifacts
        if self._frr():
            return str(self.connection.netorch_candidate(arts))
        return next(iter(arts.values()))

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ConnectionException as exc:
            raise DeviceUnreachable(self.host, f"{what}: {exc}") from None
        except (ReplaceConfigException, MergeConfigException, CommitError) as exc:
            raise DeviceRejected(self.host, f"{what}: {exc}") from None
        except (CommitConfirmException, NapalmException) as exc:
            raise TransportError(self.host, f"{what}: {exc}") from None
        except NotImplementedError:
            raise TransportError(self.host, f"{what} is not supported by this NAPALM driver") from None
        except TimeoutError:
            timeout = getattr(self.connection, "timeout", None)
            raise DeviceUnreachable(self.host, f"{what}: timed out" + (f" after {timeout} s" if timeout else "")) \
                from None
        except OSError as exc:
            raise DeviceUnreachable(self.host, f"{what}: {exc}") from None

    def _frr(self) -> bool:
        return isinstance(self.connection, FrrDriver)

    def load(self) -> None:
        if self._frr():
            run = self.job.options.get("run_id")
            # every file this run leaves on the device carries the run's id
            self.connection.run_tag = f"run{run}-{self.job.options.get('run_nonce', '')}" if run else ""
        self._call("load", self.connection.load_replace_candidate, config=self._candidate())

    def diff(self) -> str:
        return str(self._call("compare", self.connection.compare_config) or "").strip()

    def commit(self, revert_in: int | None = None) -> None:
        if revert_in:
            self._call("commit", self.connection.commit_config, revert_in=revert_in)
        else:
            self._call("commit", self.connection.commit_config)

    def confirm(self) -> None:
        try:
            self._call("confirm", self.connection.confirm_commit)
        except TransportError as exc:
            if "timer fired" in exc.message:
                raise ConfirmExpired(self.host, exc.message) from None
            raise

    def extend(self, revert_in: int) -> bool:
        extend = getattr(self.connection, "extend_commit", None)
        if extend is None:
            return True  # a core driver's own timer: the controller cannot re-arm it
        return bool(self._call("re-arm", extend, revert_in))

    def before(self) -> dict[str, str]:
        checkpoint = getattr(self.connection, "checkpoint", None)
        if checkpoint is None:
            return {}
        frr, nft = checkpoint
        return dict(self.connection.netorch_artifacts(frr, nft))

    def journal_data(self) -> dict[str, Any]:
        if not self._frr():
            return {}
        return {"tag": self.connection.tag, "persisted": bool(self.connection.persisted)}

    def recover(self, data: dict[str, Any]) -> str:
        if not self._frr() or not data.get("tag"):
            raise TransportError(self.host, "this device keeps no checkpoint netorch can restore from another run")
        tag = str(data["tag"])
        self._call("recover", self.connection.recover_run, tag, bool(data.get("persisted")) or
                   bool(data.get("confirming")))
        return f"restored the checkpoint of {tag}"

    def rollback(self) -> None:
        self._call("rollback", self.connection.rollback)

    def discard(self) -> None:
        with contextlib.suppress(Exception):  # best effort on a possibly dead session
            self.connection.discard_config()

    def live_config(self) -> dict[str, str]:
        running = str(self._call("get_config", self.connection.get_config, retrieve="running")["running"])
        if self._frr():
            return dict(self.connection.netorch_running(running))
        name = next(iter(self.job.artifacts), "config.txt")
        return {name: running}

    def check_routes(self) -> list[RouteCheck]:
        table: dict[str, list[dict[str, Any]]] = self._call("get_route_to", self.connection.get_route_to)
        return route_checks(self.job.desired.routes, table)

    def protocol_checks(self) -> list[ProtocolCheck]:
        getter = getattr(self.connection, "get_protocol_state", None)
        if getter is None or not has_protocols(self.job.desired):
            return []
        outputs: list[str] = self._call("get_protocol_state", getter)
        return protocol_checks(self.job.desired, parse_state(outputs))

    def rib(self) -> dict[str, list[dict[str, Any]]] | None:
        if not self._frr():
            return None  # the core drivers' get_route_to wants a destination
        table: dict[str, list[dict[str, Any]]] = self._call("get_route_to", self.connection.get_route_to)
        return table

    def interfaces(self) -> dict[str, InterfaceState]:
        data: dict[str, dict[str, Any]] = self._call("get_interfaces", self.connection.get_interfaces)
        return {name: InterfaceState(name, bool(v.get("is_up")), bool(v.get("is_enabled")))
                for name, v in data.items()}

    def reach(self, destination: str, protocol: str = "icmp", port: int | None = None,
              source: str | None = None) -> bool | None:
        probe_tcp = getattr(self.connection, "probe_tcp", None)
        if protocol == "tcp" and port is not None and probe_tcp is not None:
            answer = str(self._call("probe_tcp", probe_tcp, destination, port, source=source or "", timeout=2))
            return answer in ("open", "refused")
        result: dict[str, Any] = self._call("ping", self.connection.ping, destination, source=source or "",
                                            count=2, timeout=1)
        ok = result.get("success")
        if not ok:
            return False
        return int(ok.get("packet_loss", 1)) < int(ok.get("probes_sent", 0))

    def snapshot(self) -> Snapshot:
        bundle = getattr(self.connection, "get_snapshot", None)
        if bundle is None:
            return super().snapshot()
        data: dict[str, Any] = self._call("snapshot", bundle)
        config = dict(self.connection.netorch_artifacts(data["frr"], data["nft"]))
        interfaces = {name: InterfaceState(name, bool(v["is_up"]), bool(v["is_enabled"]))
                      for name, v in data["interfaces"].items()}
        kernel = {name: KernelInterface(tuple(v["addresses"]), bool(v["admin_up"]))
                  for name, v in (data.get("kernel") or {}).items()} or None
        return Snapshot(config, route_checks(self.job.desired.routes, data["routes"]), interfaces,
                        kernel=kernel, daemons=data.get("daemons"), ruleset=data.get("ruleset"))


def route_checks(routes: Any, table: dict[str, list[dict[str, Any]]]) -> list[RouteCheck]:
    """Match intended routes against a NAPALM get_route_to table."""
    out = []
    best: dict[tuple[str, str], int] = {}
    for route in routes:
        key = (route.vrf or "", str(route.prefix))
        best[key] = min(best.get(key, 256), route.distance)
    for route in routes:
        if route.vrf:
            continue  # VRF tables are not read here
        entries = [e for e in table.get(str(route.prefix), []) if str(e.get("protocol", "")).lower() == "static"]
        match = [e for e in entries
                 if (route.next_hop is None or e.get("next_hop") == str(route.next_hop))
                 and (route.interface is None or e.get("outgoing_interface") in ("", route.interface))
                 and int(e.get("preference", route.distance)) == route.distance]
        present = bool(match)
        active = any(e.get("current_active") for e in match)
        detail = ""
        preferred = route.distance == best[(route.vrf or "", str(route.prefix))]
        via = route.next_hop or route.interface
        if not present and preferred:
            detail = f"static route {route.prefix} via {via} is not in the RIB"
        elif not present:
            # a backup whose next hop is down is legitimately absent: drift reports it as state
            detail = (f"backup static route {route.prefix} via {via} (distance {route.distance}) is not in "
                      f"the RIB: its next hop is not reachable, so it cannot take over")
        elif present and not active and preferred:
            detail = f"static route {route.prefix} via {route.next_hop or route.interface} is not active"
        out.append(RouteCheck(route=route, present=present, active=active, detail=detail))
    return out
