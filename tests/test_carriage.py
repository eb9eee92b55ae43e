"""Carriage answers "does OSPF carry this prefix" by prefix length look-ups: the same answer as
asking every advertised network whether the prefix is its subnet."""

from __future__ import annotations

import random
from ipaddress import IPv4Network

from netorch.protocols.compile import Carriage


def test_covers_is_subnet_of_any_advertised_network() -> None:
    rng = random.Random(7)

    def net(lengths: tuple[int, ...]) -> IPv4Network:
        plen = rng.choice(lengths)
        return IPv4Network((rng.choice([10 << 24, (10 << 24) | (1 << 16), 192 << 24]) | rng.getrandbits(16), plen),
                           strict=False)

    advertised = sorted({net((8, 16, 23, 24, 31, 32)) for _ in range(300)},
                        key=lambda n: (int(n.network_address), n.prefixlen))
    carriage = Carriage(component={"a": ("p", 1), "b": ("p", 1), "c": ("p", 2)}, advertised={"p": advertised})
    probes = [net((0, 8, 12, 16, 20, 24, 28, 30, 32)) for _ in range(2000)] + advertised
    hits = 0
    for prefix in probes:
        expected = any(prefix.subnet_of(n) for n in advertised)
        hits += expected
        assert carriage.carries("a", "b", prefix) is expected, prefix
        assert carriage.carries("a", "b", prefix) is expected, prefix  # memoised answer
        assert carriage.carries("a", "c", prefix) is False  # another component
    assert 0 < hits < len(probes)
