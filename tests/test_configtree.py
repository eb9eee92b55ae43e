"""Comparison by meaning, and the round trip: running + remediation == desired."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netorch.configtree import diff_frr, diff_nft, frr_remediation, parse_frr, render_diffs

RUNNING = """Building configuration...

Current configuration:
!
frr version 8.4.4
frr defaults traditional
hostname r1
log file /var/log/frr.log
no ipv6 forwarding
service integrated-vtysh-config
!
ip route 10.2.0.0/24 10.0.12.2
!
interface eth1
 description to r2
 ip address 10.0.12.1/30
exit
!
interface eth0
exit
!
end
"""

DESIRED = """frr defaults traditional
hostname r1
no ipv6 forwarding
service integrated-vtysh-config
!
ip route 10.2.0.0/24 10.0.12.2
!
interface eth1
 ip address 10.0.12.1/30
 description to r2
exit
!
end
"""


def test_order_and_unmanaged_lines_do_not_count() -> None:
    assert diff_frr(RUNNING, DESIRED) == []
    assert "log file /var/log/frr.log" in parse_frr(RUNNING).ignored


def test_classes() -> None:
    running = RUNNING.replace("ip route 10.2.0.0/24 10.0.12.2", "ip route 10.9.0.0/24 10.0.12.2\n"
                              "ip route 10.2.0.0/24 10.0.12.2 200")
    running = running.replace(" description to r2\n", "")
    diffs = {(d.kind, d.path) for d in diff_frr(running, DESIRED)}
    assert ("unexpected", ("ip route 10.9.0.0/24 10.0.12.2",)) in diffs
    assert ("changed", ("ip route 10.2.0.0/24 10.0.12.2",)) in diffs
    assert ("missing", ("interface eth1", "description to r2")) in diffs
    assert not any(d[1] == ("ip route 10.2.0.0/24 10.0.12.2 200",) for d in diffs)


def test_hostname_change_is_changed() -> None:
    diffs = diff_frr(RUNNING.replace("hostname r1", "hostname other"), DESIRED)
    assert [(d.kind, d.path, d.detail) for d in diffs] == [("changed", ("hostname r1",), "running: hostname other")]


NFT_RUNNING = """table inet netorch {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "eth3" jump a
	}

	chain a {
		ip saddr 10.1.0.0/24 accept comment "x"
		ip saddr 10.3.0.0/24 drop comment "y"
	}
}
"""


def test_nft_order_matters_and_missing_table() -> None:
    desired = "table inet netorch\ndelete table inet netorch\n" + NFT_RUNNING
    assert diff_nft(NFT_RUNNING, desired) == []
    swapped = NFT_RUNNING.replace('accept comment "x"\n\t\tip saddr 10.3.0.0/24 drop comment "y"',
                                  'drop comment "y"\n\t\tip saddr 10.1.0.0/24 accept comment "x"')
    swapped = swapped.replace("ip saddr 10.1.0.0/24 drop", "ip saddr 10.3.0.0/24 drop")
    assert diff_nft(swapped, desired)
    kinds = {d.kind for d in diff_nft(None, desired)}
    assert kinds == {"missing"}


def apply_vtysh(running: str, commands: list[str]) -> str:
    """A tiny model of what vtysh does with configuration commands, for the round trip."""
    config = parse_frr(running)
    leaves = list(config.leaves)
    blocks = {k: list(v) for k, v in config.blocks.items()}
    current: str | None = None
    for raw in commands:
        line = raw.strip()
        if line in ("exit", "exit-vrf"):
            current = None
            continue
        if raw.startswith(" ") and current is not None:
            if line.startswith("no description "):
                raise AssertionError(f"FRR refuses {line!r}: only a bare `no description` exists")
            if line == "no description":
                blocks[current] = [c for c in blocks[current] if not c.startswith("description ")]
            elif line.startswith("no "):
                blocks[current] = [c for c in blocks[current] if c != line[3:]]
            elif line.startswith("description "):  # single-valued: replaces
                blocks[current] = [c for c in blocks[current] if not c.startswith("description ")] + [line]
            elif line not in blocks[current]:
                blocks[current].append(line)
            continue
        if line.startswith("no interface "):
            raise AssertionError(f"FRR refuses {line!r} for an interface the kernel has")
        if line.split(" ", 1)[0] in ("interface", "vrf"):
            current = line
            blocks.setdefault(line, [])
            continue
        if line.startswith("no "):
            leaves = [x for x in leaves if x != line[3:]]
        elif line.startswith("hostname "):
            leaves = [x for x in leaves if not x.startswith("hostname ")] + [line]
        elif line not in leaves:
            leaves.append(line)
    text = "\n".join(leaves) + "\n"
    for header, children in blocks.items():
        text += header + "\n" + "".join(f" {c}\n" for c in children) + "exit\n"
    return text


route = st.builds(lambda a, b, hop: f"ip route 10.{a}.{b}.0/24 10.0.12.{hop}",
                  st.integers(0, 20), st.integers(0, 3), st.sampled_from([2, 6]))
desc = st.sampled_from(["to r2", "uplink", "users subnet", None])


def config(routes: list[str], description: str | None, hostname: str) -> str:
    text = f"frr defaults traditional\nhostname {hostname}\nno ipv6 forwarding\n!\n"
    text += "".join(f"{r}\n" for r in routes)
    text += "interface eth1\n" + (f" description {description}\n" if description else "")
    text += " ip address 10.0.12.1/30\nexit\n"
    return text


@settings(max_examples=200, deadline=None)
@given(st.lists(route, max_size=8, unique=True), st.lists(route, max_size=8, unique=True), desc, desc,
       st.sampled_from(["r1", "r9"]))
def test_round_trip_running_plus_remediation_is_desired(have: list[str], want: list[str], d1: str | None,
                                                        d2: str | None, host: str) -> None:
    running = config(have, d1, host)
    desired = config(want, d2, "r1")
    diffs = diff_frr(running, desired)
    fixed = apply_vtysh(running, frr_remediation(diffs))
    assert diff_frr(fixed, desired) == [], render_diffs(diff_frr(fixed, desired))
    assert (diffs == []) == (set(have) == set(want) and d1 == d2 and host == "r1")
