"""Which services, backups and client groups a client address belongs to. Pure.

A service's and a backup's ``hosts``, and a client group's ``networks``, are address
blocks. A query is attributed to every service and backup whose hosts hold its client;
only when none does, to the client groups whose networks hold it (a group's networks are
broad, and would repeat every finding of the services on them). A query from a DNS server
of the config that no hosts hold is that server's own (a sensor sees resolvers ask the
authorities). An address in none is foreign: counted, never kept.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from monitor.config import Config


@dataclass(frozen=True, slots=True)
class Owner:
    """A service, one of its backups, or a client group: who asked."""

    service: str | None = None
    backup: str | None = None
    client: str | None = None

    def sort_key(self) -> tuple[str, str, str]:
        return (self.service or "", self.backup or "", self.client or "")

    @property
    def label(self) -> str:
        if self.backup is not None:
            return f"backup {self.backup} of {self.service}"
        if self.service is not None:
            return f"service {self.service}"
        return f"client group {self.client}"


class Owners:
    """Attribution by the longest-prefix tables of each address family."""

    def __init__(self, config: Config) -> None:
        self._specific: list[tuple[ipaddress._BaseNetwork, Owner]] = []
        self._broad: list[tuple[ipaddress._BaseNetwork, Owner]] = []
        for service in config.services:
            for block in service.hosts:
                self._specific.append((ipaddress.ip_network(block), Owner(service.name)))
            for backup in service.backups:
                owner = Owner(service.name, backup.name)
                self._specific += [(ipaddress.ip_network(b), owner) for b in backup.hosts]
        for group in config.clients:
            self._broad += [(ipaddress.ip_network(b), Owner(client=group.name))
                            for b in group.networks]  # fmt: skip
        self._tables = (_table(self._specific), _table(self._broad))
        self._servers = {_address(s.address) for s in config.servers}
        self.of = lru_cache(maxsize=65536)(self._of)  # clients ask many times each

    @property
    def empty(self) -> bool:
        return not self._specific and not self._broad

    def _of(self, client: str) -> tuple[Owner, ...] | None:
        """The owners of a client address; () when it is in none (or not an address);
        None for a DNS server's own query."""
        try:
            address = _address(client)
        except ValueError:
            return ()
        specific, broad = (_lookup(table, address) for table in self._tables)
        if specific:
            return specific
        return None if address in self._servers else broad


def _address(text: str) -> ipaddress._BaseAddress:
    """An address, IPv4-mapped IPv6 as IPv4; ValueError when it is none."""
    address = ipaddress.ip_address(text)
    if address.version == 6 and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


Table = dict[tuple[int, int], dict[int, list[Owner]]]  # (version, prefix) → network → owners


def _table(blocks: list[tuple[ipaddress._BaseNetwork, Owner]]) -> Table:
    table: Table = {}
    for network, owner in blocks:
        slot = table.setdefault((network.version, network.prefixlen), {})
        owners = slot.setdefault(int(network.network_address), [])
        if owner not in owners:
            owners.append(owner)
    return table


def _lookup(table: Table, address: ipaddress._BaseAddress) -> tuple[Owner, ...]:
    found: list[Owner] = []
    bits = 32 if address.version == 4 else 128
    value = int(address)
    for (version, prefix), networks in table.items():
        if version != address.version:
            continue
        masked = value >> (bits - prefix) << (bits - prefix) if prefix else 0
        for owner in networks.get(masked, ()):
            if owner not in found:
                found.append(owner)
    return tuple(sorted(found, key=Owner.sort_key))
