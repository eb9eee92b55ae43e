"""What every comparer says: a Difference (missing, unexpected, changed, interfering) at a
path, and how a list of them reads. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["missing", "unexpected", "changed", "interfering"]


@dataclass(frozen=True)
class Difference:
    kind: Kind
    path: tuple[str, ...]
    detail: str = ""

    def __str__(self) -> str:
        where = " / ".join(self.path)
        return f"{self.kind}: {where}" + (f" ({self.detail})" if self.detail else "")

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "path": list(self.path), "detail": self.detail}




def render_diffs(diffs: list[Difference]) -> str:
    """A readable diff: '+' what is missing, '-' what is unexpected, '~' what changed."""
    lines = []
    last_parent: tuple[str, ...] = ()
    for d in diffs:
        sign = {"missing": "+", "unexpected": "-", "changed": "~", "interfering": "!"}[d.kind]
        if len(d.path) > 1:
            if d.path[:-1] != last_parent:
                lines.append(f"  {' / '.join(d.path[:-1])}")
                last_parent = d.path[:-1]
            lines.append(f"{sign}   {d.path[-1]}")
        else:
            last_parent = ()
            extra = f"    ({d.detail})" if d.detail else ""
            lines.append(f"{sign} {d.path[0]}{extra}")
    return "\n".join(lines)
