"""The questions a round asks the way clients ask them. Pure.

A client group's stub asks its resolvers in its own shape: glibc and musl without EDNS
(answers over 512 bytes come truncated and must be fetched over TCP), and a group with a
``source`` from that address (a split-horizon resolver may answer it from another view).
dnsmon's own questions are asked with EDNS from the monitoring host, so where a group's
shape differs, its names are asked again its way — each distinct (resolver, shape) once,
however many groups share it:

- from a group's own source address: always, since the view may differ in anything;
- without EDNS from the host's own address: only where dnsmon's own answer could not
  have come whole in 512 bytes (a reply that large, or truncated even with EDNS). A
  smaller reply reaches a client without EDNS unchanged, so asking again would double
  the round's load on every resolver to learn nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from monitor.config import ClientGroup, Server
from monitor.probing.plan import OWN, Layout, NameKey, Purpose, Query, Shape
from monitor.probing.results import ProbeResult
from monitor.states import Stub

# Whether each stub puts an OPT record in its queries (see README: "How clients look
# names up" for the sources). systemd-resolved's upstream queries carry EDNS (with its
# own fallback); the local clients' 512-byte limit stops at its stub listener. No
# Microsoft text says whether Windows sends EDNS: taken as not, the reading that can
# only make a verdict worse (a truncated answer is fetched over TCP either way).
SENDS_EDNS = {
    Stub.GLIBC: False,  # only with "options edns0" in resolv.conf
    Stub.MUSL: False,
    Stub.WINDOWS: False,
    Stub.SYSTEMD_RESOLVED: True,
}
# How many of its resolvers each stub uses, in order: glibc's MAXNS and musl's are 3.
MAX_SERVERS = {Stub.GLIBC: 3, Stub.MUSL: 3, Stub.WINDOWS: 256, Stub.SYSTEMD_RESOLVED: 256}
PLAIN_DNS_LIMIT = 512  # bytes a reply over UDP may have without EDNS (RFC 1035 4.2.1)

Asked = tuple[NameKey, str, Shape]  # a name, a resolver's view key, a shape


def shape_of(group: ClientGroup) -> Shape:
    """How ``group``'s stub asks: with EDNS or not, from its source or any address."""
    return Shape(SENDS_EDNS[group.stub], group.source)


def servers_used(group: ClientGroup) -> tuple[str, ...]:
    """The resolvers the group's stub uses, in order: glibc and musl stop at three (the
    stand-in group, which nobody described, uses every one)."""
    return group.resolvers if group.stand_in else group.resolvers[: MAX_SERVERS[group.stub]]


def too_large_for_plain_dns(own: ProbeResult) -> bool:
    """Whether dnsmon's own answer could have been cut short for a client without EDNS:
    larger than 512 bytes, or truncated even with EDNS (asked over TCP on purpose,
    with ``transport: tcp``, says nothing)."""
    return own.truncated or (own.size or 0) > PLAIN_DNS_LIMIT


@dataclass
class ClientPlan:
    """Which names each client group looks up, of which resolvers, in which shape."""

    layout: Layout
    groups: tuple[ClientGroup, ...]
    needs: Mapping[str, Iterable[NameKey]]  # group name → the names its services need
    _always: list[Query] = field(init=False, default_factory=list)
    _resolvers: dict[str, list[Server]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._names = {(n.name, n.type): n for n in self.layout.config.names}
        self._needs = {group: frozenset(keys) for group, keys in self.needs.items()}
        self._always = self._queries(self._must_ask())

    def _must_ask(self) -> Iterator[tuple[Asked, str]]:
        """The client questions no answer of dnsmon's own can stand for: from a group's
        own source, and of a group's resolver that dnsmon's own plan does not ask for
        that name (a name's ``servers:`` leaves it out, yet the clients ask it)."""
        for group in self.groups:
            shape = shape_of(group)
            for key in self._needs.get(group.name, ()):
                name = self._names[key]
                own = {s.key for s in self.layout.servers_for(name)}
                for server in self.resolvers(group):
                    if shape.source is not None or server.key not in own:
                        yield (key, server.key, shape), group.name

    def _queries(self, asks: Iterable[tuple[Asked, str]]) -> list[Query]:
        """One question per name, resolver and shape, however many groups ask it so."""
        groups: dict[Asked, list[str]] = {}
        for asked, group in asks:
            groups.setdefault(asked, []).append(group)
        views = {s.key: s for s in self.layout.recursive}
        return [
            Query(
                key[0],
                key[1],
                views[server],
                True,
                self._names[key].expect,
                Purpose.CLIENT,
                None,
                shape,
                ", ".join(names),
            )  # fmt: skip
            for (key, server, shape), names in groups.items()
        ]

    def resolvers(self, group: ClientGroup) -> list[Server]:
        """The resolvers the group's stub asks, in its order, for every name: whatever a
        name's ``servers:`` says, its clients ask their own resolvers."""
        found = self._resolvers.get(group.name)
        if found is None:
            found = self._resolvers[group.name] = [self.layout.view(r) for r in servers_used(group)]
        return found

    def always(self) -> list[Query]:
        """The client questions every round asks."""
        return list(self._always)

    def where_large(self, own: Iterable[ProbeResult]) -> list[Query]:
        """The questions without EDNS, from the host's own address, of the answers in
        ``own`` that were too large for plain DNS and so may reach such clients
        truncated. Worked out from the large answers alone: they are few."""
        plain = [g for g in self.groups if g.source is None and shape_of(g) != OWN]
        return self._queries(
            ((key, r.query.server.key, shape_of(group)), group.name)
            for r in own
            if r.query.purpose is Purpose.NAME and r.recursive and too_large_for_plain_dns(r)
            for key in [(r.query.name, r.query.type)]
            for group in plain
            if key in self._needs.get(group.name, ()) and r.query.server in self.resolvers(group)
        )
