"""Where each account has worked: the networks a decision may spare.

An account whose password was stolen is two people at once: the doctor at the
practice, and the attacker elsewhere. A decision that blocks the *account* with
``except_known_places`` refuses it everywhere except on the networks where it
was served on at least ``min_days`` different days before (its office, its
home): the attacker is stopped, the doctor keeps working, and the account is
still flagged for a password reset.

This is a memory of where requests were *served*, kept by the response stage
for that one purpose: no scoring, no alert. Networks are IPv4 /24 and IPv6 /48;
memory is bounded (accounts least recently seen go first, 32 networks per
account at most).
"""

from __future__ import annotations

import ipaddress
import threading
from collections import OrderedDict
from functools import lru_cache
from typing import Final

__all__ = ["KnownPlaces", "network_of"]

_PER_ACCOUNT: Final = 32


@lru_cache(maxsize=65_536)
def network_of(ip: str) -> str | None:
    """``82.64.12.7`` → ``82.64.12.0/24``; IPv6 → its /48; ``None`` if not an address."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


class KnownPlaces:
    """Per account: network → (distinct days served there, last day)."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._accounts: OrderedDict[tuple[str, str], dict[str, list[int]]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._accounts)

    def see(self, tenant: str, actor: str, ip: str | None, day: int) -> None:
        """A request of this account was served from ``ip`` on day number ``day``."""
        if not ip:
            return
        net = network_of(ip)
        if net is None:
            return
        key = (tenant, actor)
        nets = self._accounts.get(key)
        if nets is not None:  # the usual case: this place, already counted today
            entry = nets.get(net)
            if entry is not None and entry[1] == day:
                return
        with self._lock:
            nets = self._accounts.get(key)
            if nets is None:
                nets = self._accounts[key] = {}
                if len(self._accounts) > self.capacity:
                    self._accounts.popitem(last=False)
            else:
                self._accounts.move_to_end(key)
            entry = nets.get(net)
            if entry is None:
                if len(nets) >= _PER_ACCOUNT:
                    oldest = min(nets, key=lambda n: nets[n][1])
                    del nets[oldest]
                nets[net] = [1, day]
            elif entry[1] != day:
                entry[0] += 1
                entry[1] = day

    def known(self, tenant: str, actor: str, ip: str | None, min_days: int) -> bool:
        """True when the account was served from ``ip``'s network on ``min_days`` days or more."""
        if not ip:
            return False
        net = network_of(ip)
        nets = self._accounts.get((tenant, actor))
        if net is None or nets is None:
            return False
        entry = nets.get(net)
        return entry is not None and entry[0] >= min_days

    def networks(self, tenant: str, actor: str) -> dict[str, int]:
        """The account's networks and the days seen on each (for the API and the tests)."""
        return {n: e[0] for n, e in self._accounts.get((tenant, actor), {}).items()}
