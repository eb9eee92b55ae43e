"""Staged rollouts: canary devices first, then waves, each committed confirmed, verified
(post-checks and health probes), then confirmed before the next one starts.

    netorch apply --canary r1 --wave-size 25% --max-failures 1 [--pause 30] [--keep-completed]

Past the failure budget (--max-failures, counted over the whole rollout) the rollout stops:
the current wave is rolled back and, unless --keep-completed, every earlier wave too; the
waves after it are never touched. The report and the store show the rollout wave by wave.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netorch.errors import NetorchError

if TYPE_CHECKING:
    from netorch.run.transaction import Transaction


class RolloutError(NetorchError):
    """Rollout options that cannot be satisfied."""


@dataclass(frozen=True)
class Rollout:
    canary: tuple[str, ...] = ()
    canary_count: int = 0
    wave_size: int = 0        # devices per wave (0: all the rest in one wave)
    wave_percent: float = 0.0  # or a share of the devices to change
    max_failures: int = 0
    pause: float = 0.0
    keep_completed: bool = False

    @classmethod
    def parse(cls, canary: str | None, wave_size: str | None, max_failures: int = 0, pause: float = 0.0,
              keep_completed: bool = False) -> Rollout:
        names: tuple[str, ...] = ()
        count = 0
        if canary is not None:
            text = canary.strip()
            if not text:
                raise RolloutError("--canary is empty")
            if text.isdecimal() or (text.startswith("-") and text[1:].isdecimal()):
                count = int(text)
                if count < 1:
                    raise RolloutError("--canary N needs N >= 1")
            else:
                names = tuple(n.strip() for n in text.split(",") if n.strip())
                if not names:
                    raise RolloutError(f"--canary {canary!r} names no device")
        size, percent = 0, 0.0
        if wave_size is not None:
            found = re.fullmatch(r"\s*(\d+)(%?)\s*", wave_size)
            if found is None:
                raise RolloutError(f"--wave-size {wave_size!r}: a number of devices (5) or a share (20%)")
            value = int(found.group(1))
            if found.group(2):
                if not 0 < value <= 100:
                    raise RolloutError("--wave-size P% needs 0 < P <= 100")
                percent = value / 100
            elif value < 1:
                raise RolloutError("--wave-size N needs N >= 1")
            else:
                size = value
        if max_failures < 0 or pause < 0:
            raise RolloutError("--max-failures and --pause cannot be negative")
        return cls(names, count, size, percent, max_failures, pause, keep_completed)

    def as_dict(self) -> dict[str, Any]:
        return {"canary": list(self.canary) or self.canary_count or None,
                "wave_size": f"{round(self.wave_percent * 100)}%" if self.wave_percent else (self.wave_size or None),
                "max_failures": self.max_failures, "pause": self.pause, "keep_completed": self.keep_completed}

    def check(self, selected: list[str]) -> None:
        """The canary devices are devices of the run (`selected`): apply asks before touching any."""
        unknown = [n for n in self.canary if n not in selected]
        if unknown:
            raise RolloutError(f"--canary names device(s) not in this run: {', '.join(unknown)}")

    def waves(self, hosts: list[str], selected: list[str]) -> list[list[str]]:
        """The waves over the devices that change (hosts), canary first; every device once."""
        todo = sorted(hosts)
        self.check(selected)
        first = [h for h in todo if h in self.canary] if self.canary else todo[:self.canary_count]
        rest = [h for h in todo if h not in first]
        size = self.wave_size or (math.ceil(len(todo) * self.wave_percent) if self.wave_percent else len(rest))
        size = max(1, size)
        out = [first] if first else []
        out += [rest[i:i + size] for i in range(0, len(rest), size)]
        return out


def run_rollout(tx: Transaction, hosts: set[str], selected: list[str], rollout: Rollout,
                gate: Callable[[set[str]], dict[str, str]] | None = None,
                stop: Callable[[], bool] | None = None) -> list[dict[str, Any]]:
    """Run the waves; returns the record of each wave (what it held, what became of it)."""
    waves = rollout.waves(sorted(hosts), selected)
    record: list[dict[str, Any]] = []
    failures = 0
    done: list[set[str]] = []
    for index, wave in enumerate(waves, start=1):
        if stop is not None and stop():
            record.append({"wave": index, "hosts": wave, "status": "not started (stopped)"})
            continue
        if index > 1 and rollout.pause:
            time.sleep(rollout.pause)  # the operator's pause between waves, not a wait for a condition
        for host in wave:
            tx.outcomes[host].wave = index
        failed = tx.run_wave(set(wave), all_or_nothing=False, gate=gate)
        failures += len(failed)
        entry: dict[str, Any] = {"wave": index, "hosts": wave, "failed": sorted(failed)}
        if failures > rollout.max_failures:
            entry["status"] = f"stopped: {failures} failure(s), budget {rollout.max_failures}"
            tx.rollback(set(wave) - failed, f"the rollout stopped in wave {index}")
            if not rollout.keep_completed:
                for earlier in done:
                    tx.rollback(earlier, f"the rollout stopped in wave {index}")
                for item in record:
                    item["status"] += ", rolled back"
            record.append(entry)
            for later, rest in enumerate(waves[index:], start=index + 1):
                record.append({"wave": later, "hosts": rest, "status": "not started"})
            break
        entry["status"] = "completed" + (f" with {len(failed)} failure(s)" if failed else "")
        record.append(entry)
        done.append(set(wave) - failed)
    return record
