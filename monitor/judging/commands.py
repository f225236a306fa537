"""What to run on a server to end a fault sooner, by the software it runs. Pure.

A server's ``software:`` key says which (or, for a resolver without one, its answer to
``version.bind``); where neither says, every common form is given, and the operator runs
the one that fits. Each form is run on (or against) the
server named with it in the cause.
"""

from __future__ import annotations

from monitor.config import Server
from monitor.states import Software

# How each resolver forgets one name: every cached answer, or only the negative ones.
_FLUSH = {
    Software.UNBOUND: ("unbound-control flush {name}", "unbound-control flush_negative"),
    Software.BIND: ("rndc flushname {name}", "rndc flushname {name}"),
    Software.KNOT_RESOLVER: (
        "echo \"cache.clear('{name}', true)\" | socat - UNIX-CONNECT:/run/knot-resolver/control/1",
    )
    * 2,
    Software.POWERDNS: ("rec_control wipe-cache {name}",) * 2,
    Software.WINDOWS: ("Clear-DnsServerCache -ComputerName {server} -Force",) * 2,
}
# How a secondary fetches its zone from the primary now instead of at its next retry.
_RETRANSFER = {
    Software.BIND: ("rndc retransfer {zone}",),
    Software.POWERDNS: ("pdns_control retrieve {zone}",),
    Software.WINDOWS: ("Start-DnsServerZoneTransfer -ComputerName {server} -Name {zone}",),
}
_RETRANSFER_ANY = ("rndc retransfer {zone}", "nsd-control force_transfer {zone}",
                   "knotc zone-retransfer {zone}")  # fmt: skip


def flush(
    server: Server, name: str, negative: bool, software: Software | None = None
) -> tuple[str, ...]:
    """Commands that make ``server`` forget its cached answer for ``name`` (a negative
    one: NXDOMAIN, NODATA or SERVFAIL, where ``negative``); ``software`` is what the
    server said it runs, where its config does not say."""
    software = server.software or software
    found = _FLUSH.get(software) if software else None
    forms = (
        [found[1 if negative else 0]]
        if found
        else [f[1 if negative else 0] for f in _FLUSH.values()]
    )
    return tuple(dict.fromkeys(f.format(name=name, server=server.name) for f in forms))


def retransfer(server: Server, zone: str) -> tuple[str, ...]:
    """Commands that make secondary ``server`` transfer ``zone`` from its primary now."""
    forms = (
        _RETRANSFER.get(server.software, _RETRANSFER_ANY) if server.software else _RETRANSFER_ANY
    )
    return tuple(f.format(zone=zone, server=server.name) for f in forms)
