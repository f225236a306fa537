"""Zone content for the integration tests: a small hospital region under region.internal.

Every address points into 127.0.0.0/8 so nothing ever follows an answer off the machine.
"""

from __future__ import annotations

REGION = "region.internal"
REVERSE = "20.127.in-addr.arpa"
DEFAULT_SERIAL = 2026112601

# Expected answers, for tests that compare what servers say with what the zone holds.
EHR_DB = "127.20.1.15"
EHR_RO = "127.20.1.16"
DC1 = "127.20.2.10"
LAB = "127.20.3.20"
PACS = "127.20.3.30"
MAIL = "127.20.4.25"
V4ONLY = "127.20.5.1"

# A child zone delegated from region.internal to its own server (see delegation_records).
SUB = "sub.region.internal"
SUB_SERVER = "127.0.0.2"  # the child's server: same port as the parent, another address
SUB_APP = "127.20.9.1"  # app.sub.region.internal
# A second zone, reached from region.internal by a CNAME (see CROSS_ZONE_CNAME).
OTHER = "other.internal"
OTHER_APP = "127.30.1.10"  # app.other.internal

# Eight 200-byte strings: well over the 1232-byte EDNS payload both servers use by
# default, so a UDP answer comes back truncated and a client has to retry over TCP.
BIG_TXT_STRINGS = [f"chunk{i}-" + "x" * (200 - len(f"chunk{i}-")) for i in range(8)]

# One entry per owner (relative to the origin); a value is one record or a list of
# records, written as "TYPE RDATA" or "TTL TYPE RDATA".
Records = dict[str, str | list[str] | None]


def _region_records() -> Records:
    return {
        "@": ["NS ns1", "NS ns2", "MX 10 mail"],
        # Glue only: the resolvers are stubbed to the test servers' real ports.
        "ns1": "A 127.0.0.1",
        "ns2": "A 127.0.0.1",
        "ehr-db": f"A {EHR_DB}",
        "ehr-ro": f"A {EHR_RO}",
        "_ldap._tcp": "SRV 0 100 389 dc1.region.internal.",
        "_kerberos._udp": "SRV 0 100 88 dc1.region.internal.",
        "dc1": f"A {DC1}",
        "lab": f"A {LAB}",
        "pacs": f"A {PACS}",
        "mail": [f"A {MAIL}", "MX 10 mail"],
        "www": "CNAME ehr-db",
        "notes": 'TXT "ward notes are served from ehr-db"',
        "big": "TXT " + " ".join(f'"{s}"' for s in BIG_TXT_STRINGS),
        "v6host": "AAAA ::1",
        # A only: asking AAAA gives NODATA.
        "v4only": f"A {V4ONLY}",
    }


def _reverse_records() -> Records:
    return {
        "@": ["NS ns1.region.internal.", "NS ns2.region.internal."],
        "15.1": "PTR ehr-db.region.internal.",
        "16.1": "PTR ehr-ro.region.internal.",
        "10.2": "PTR dc1.region.internal.",
    }


def render_zone(
    origin: str,
    records: Records,
    serial: int,
    ttl: int,
    negative_ttl: int | None = None,
) -> str:
    """Zone file text; the SOA minimum (the negative-caching TTL) defaults to `ttl`."""
    minimum = ttl if negative_ttl is None else negative_ttl
    lines = [
        f"$ORIGIN {origin}.",
        f"$TTL {ttl}",
        f"@ SOA ns1.region.internal. hostmaster.region.internal. "
        f"{serial} 3600 600 1209600 {minimum}",
    ]
    for owner, value in records.items():
        if value is None:
            continue
        for record in [value] if isinstance(value, str) else value:
            lines.append(f"{owner} {record}")
    return "\n".join(lines) + "\n"


def region_zone(
    serial: int = DEFAULT_SERIAL,
    ttl: int = 300,
    overrides: Records | None = None,
    negative_ttl: int | None = None,
) -> str:
    """The region.internal zone.

    `overrides` replaces every record of an owner, e.g. {"ehr-db": "A 127.20.1.99"};
    None removes the owner (NXDOMAIN) and a new owner adds it. The SOA is not an
    override: it always carries `serial`.
    """
    return render_zone(
        REGION, {**_region_records(), **(overrides or {})}, serial, ttl, negative_ttl
    )


def region_reverse_zone(
    serial: int = DEFAULT_SERIAL,
    ttl: int = 300,
    overrides: Records | None = None,
) -> str:
    """The 20.127.in-addr.arpa zone: PTRs for the region's main hosts."""
    return render_zone(REVERSE, {**_reverse_records(), **(overrides or {})}, serial, ttl)


def region_zones(
    serial: int = DEFAULT_SERIAL, ttl: int = 300, overrides: Records | None = None
) -> dict[str, str]:
    """Both zones as {origin: text}, ready for an authoritative server."""
    return {
        REGION: region_zone(serial, ttl, overrides),
        REVERSE: region_reverse_zone(serial, ttl),
    }


def delegation_records(child: str = "sub", server: str = SUB_SERVER) -> Records:
    """region_zone overrides that delegate `child`.region.internal to `server`: an NS
    record and its glue, e.g. region_zone(overrides=delegation_records())."""
    return {child: f"NS ns.{child}", f"ns.{child}": f"A {server}"}


def sub_zone(
    serial: int = DEFAULT_SERIAL,
    ttl: int = 300,
    overrides: Records | None = None,
    server: str = SUB_SERVER,
) -> str:
    """The sub.region.internal child zone, served at `server`."""
    records: Records = {"@": "NS ns", "ns": f"A {server}", "app": f"A {SUB_APP}"}
    return render_zone(SUB, {**records, **(overrides or {})}, serial, ttl)


# A region.internal override whose answer needs another zone: ehr-app's A record
# comes from other.internal, so its chain breaks when that zone's server is gone.
CROSS_ZONE_CNAME: Records = {"ehr-app": f"CNAME app.{OTHER}."}


def other_zone(
    serial: int = DEFAULT_SERIAL, ttl: int = 300, overrides: Records | None = None
) -> str:
    """The other.internal zone: app.other.internal A OTHER_APP."""
    records: Records = {"@": "NS ns", "ns": "A 127.0.0.1", "app": f"A {OTHER_APP}"}
    return render_zone(OTHER, {**records, **(overrides or {})}, serial, ttl)


# A name with MANY_COUNT A records: answered without EDNS (as glibc asks) it needs
# 12 + 36 + 40 x 16 = 688 bytes, over the 512-byte UDP limit, so it comes truncated
# and needs TCP; with EDNS (1232 bytes) it fits. Use as region_zone(overrides=...).
MANY = "wards-all"  # wards-all.region.internal
MANY_COUNT = 40
MANY_A = [f"127.20.6.{i}" for i in range(1, MANY_COUNT + 1)]
MANY_RECORDS: Records = {MANY: [f"A {address}" for address in MANY_A]}

# An Active Directory style zone, served by the resolver itself (a domain controller's
# DNS: authoritative for its AD zone, recursive for everything else).
AD = "ad.region.internal"
AD_DC = "127.20.2.11"  # dc1.ad.region.internal


def ad_zone(serial: int = DEFAULT_SERIAL, ttl: int = 300, overrides: Records | None = None) -> str:
    """The ad.region.internal zone: dc1 and the LDAP/Kerberos SRV records pointing at it."""
    records: Records = {
        "@": "NS dc1",
        "dc1": f"A {AD_DC}",
        "_ldap._tcp": f"SRV 0 100 389 dc1.{AD}.",
        "_kerberos._udp": f"SRV 0 100 88 dc1.{AD}.",
    }
    return render_zone(AD, {**records, **(overrides or {})}, serial, ttl)


def broken_zone(origin: str) -> str:
    """Zone file text no server loads: records but no SOA (a damaged zone file)."""
    return f"$ORIGIN {origin.rstrip('.')}.\n$TTL 300\n@ NS ns\nns A 127.0.0.1\n"
