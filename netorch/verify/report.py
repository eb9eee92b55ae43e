"""What `netorch verify` found: failed promises and warnings, each with a concrete
counterexample flow, its hop-by-hop path and the rule or route that decides it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from netorch.errors import NetorchError
from netorch.verify.headerspace import Packet

Severity = Literal["fail", "warning"]

# the checks, in the order the report lists them
CHECKS = ("service", "rule", "isolation", "domain", "loop", "blackhole", "deny-shadowed", "shadowed")


@dataclass
class Finding:
    check: str  # one of CHECKS
    severity: Severity
    subject: str  # the promise: "service web from users", "users -> servers", "route r1-x on r1"
    message: str
    packet: Packet | None = None
    path: tuple[str, ...] = ()
    reply_path: tuple[str, ...] = ()
    decided_by: str = ""
    element: str = ""  # the failed link or router that breaks the promise ("" with everything up)
    flows: dict[str, str] = field(default_factory=dict)  # the failing set: sources, destinations, services
    count: int = 1  # (source, destination) address classes that fail this way

    def key(self) -> tuple[str, str, str, str]:
        return (self.check, self.subject, self.element, self.decided_by)

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "severity": self.severity, "subject": self.subject,
                "message": self.message, "packet": self.packet.as_dict() if self.packet else None,
                "path": list(self.path), "reply_path": list(self.reply_path), "decided_by": self.decided_by,
                "element": self.element or None, "flows": self.flows, "count": self.count}

    def lines(self) -> list[str]:
        where = f" [with {self.element} down]" if self.element else ""
        out = [f"{self.severity.upper()} {self.check}: {self.subject}{where}: {self.message}"]
        if self.packet is not None:
            out.append(f"    counterexample: {self.packet}")
        if self.path:
            out.append(f"    path: {' -> '.join(self.path)}")
        if self.reply_path:
            out.append(f"    reply path: {' -> '.join(self.reply_path)}")
        if self.decided_by:
            out.append(f"    decided by: {self.decided_by}")
        if self.flows and self.count > 1:
            out.append(f"    all such flows ({self.count} address classes): {self.flows.get('sources')} -> "
                       f"{self.flows.get('destinations')}: {self.flows.get('services')}")
        return out


@dataclass
class Report:
    findings: list[Finding]
    stats: dict[str, Any]
    duration: float = 0.0

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "fail"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def summary(self) -> str:
        s = self.stats
        verdict = "every promise holds" if self.ok else f"{len(self.failures)} promise(s) fail"
        return (f"verify: {verdict}, {len(self.warnings)} warning(s); {s.get('pairs', 0)} flow classes over "
                f"{s.get('routers', 0)} routers, {s.get('scenarios', 1)} scenario(s), in {self.duration:.2f}s")

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "summary": self.summary(), "stats": self.stats, "duration": round(self.duration, 3),
                "failures": [f.as_dict() for f in self.failures],
                "warnings": [f.as_dict() for f in self.warnings]}

    def lines(self) -> list[str]:
        out: list[str] = []
        order = {c: i for i, c in enumerate(CHECKS)}
        for f in sorted(self.findings, key=lambda f: (f.severity != "fail", order.get(f.check, 99), f.subject)):
            out += f.lines()
        out.append(self.summary())
        return out


class VerifyFailed(NetorchError):
    """A promise of the intents does not hold on the compiled network: nothing is pushed."""

    def __init__(self, report: Report) -> None:
        self.report = report
        first = report.failures[0]
        super().__init__(f"{len(report.failures)} promise(s) fail; first: {first.lines()[0]}"
                         + (f" ({first.packet})" if first.packet else ""))


class _Json(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PacketJson(_Json):
    src: str
    dst: str
    protocol: str
    port: int | None


class FindingJson(_Json):
    check: str = Field(description=f"one of {', '.join(CHECKS)}")
    severity: Severity
    subject: str = Field(description="the promise: a service and its consumers, a domain pair, a route")
    message: str
    packet: PacketJson | None = Field(description="a concrete counterexample flow")
    path: list[str]
    reply_path: list[str]
    decided_by: str = Field(description="the rule or route that decides the flow")
    element: str | None = Field(description="the failed link or router that breaks the promise (null: all up)")
    flows: dict[str, str]
    count: int


class VerifyReportJson(_Json):
    """The --json report of `netorch verify`."""

    ok: bool
    summary: str
    stats: dict[str, Any]
    duration: float
    failures: list[FindingJson]
    warnings: list[FindingJson]
