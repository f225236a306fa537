"""What a client machine's own resolver gets: glibc's stub, asked through getent.

    with Unbound(stubs, client_facing=True) as a, Unbound(stubs, client_facing=True) as b:
        result = lookup("ehr-db.region.internal", [a, b])   # or [(a.address, 53), ...]
        result.returncode, result.addresses, result.seconds  # 0, ("127.20.1.15",), 0.002

lookup() runs glibc's `getent ahostsv4 NAME` (getaddrinfo, as every program does) as a
child in private mount and UTS namespaces: `unshare -m -u`, then a private resolv.conf
is bind-mounted over /etc/resolv.conf and a private nsswitch.conf saying only
`hosts: dns` over /etc/nsswitch.conf, and the hostname is set to one without a domain.
So /etc/hosts, nscd, the host's nameservers and a search domain taken from the host's
name never take part, and the host's files are untouched: the mounts vanish with the
child's namespace when it exits. `seconds` is getent's own wall time, taken by the
shell around it inside the namespace (the namespace setup is not counted).

How glibc reaches servers on a test port: it cannot. A resolv.conf `nameserver` line
takes no port and glibc 2.36 asks port 53 only. So each server glibc asks listens on
port 53 of an address of its own in 127.80.0.0/16 (servers.claim_address, used by
Unbound/BindResolver(client_facing=True)), and dnsmon, which takes any port, asks it
at that same address and port 53. Chosen over the alternatives because:
- it needs only `ip` and root, both present; there is no iptables or nft here to DNAT
  port 53 to a high port, and a DNAT rule in the host's tables would be global state;
- a private network namespace (`unshare -n`) would hide the servers from glibc unless
  they (and dnsmon) ran in it too, or a veth pair joined the two;
- the address is added to lo (`ip addr add ADDR/32 dev lo`) even though Unbound, Knot
  and NSD could bind any 127/8 address without it: BIND listens only on interface
  addresses; the kernel then uses the destination itself as the source of packets to
  it (what a BIND view's match-clients sees); and the add is an atomic claim, failing
  if a concurrent test process holds the address. Each address is labelled with the
  claiming PID, removed when its server closes or at exit, and removed by the next
  claim if that PID is dead (a killed test run).

glibc asks without EDNS, so a UDP answer over 512 bytes comes back truncated and it
retries over TCP. At most three nameservers are used (MAXNS); lookup() refuses more.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from servers import CLIENT_PORT, Endpoint, find_binary

# getent's exit codes: 0 found, 2 not found (NXDOMAIN, SERVFAIL, timeouts, all alike).
FOUND = 0
NOT_FOUND = 2
MAXNS = 3  # glibc ignores nameserver lines after the third
TOOLS = {"unshare": "util-linux", "mount": "mount", "getent": "libc-bin", "bash": "bash"}
CLIENT_HOSTNAME = "dnsmon-client"  # no dot: no search domain from the hostname

# Inside the namespaces: the mounts, then getent timed by bash's clock.
_SCRIPT = r"""
set -e
mount --bind "$1" /etc/resolv.conf
mount --bind "$2" /etc/nsswitch.conf
echo "$5" > /proc/sys/kernel/hostname
set +e
start=$EPOCHREALTIME
getent "$3" "$4"
rc=$?
end=$EPOCHREALTIME
echo "$start $end" > "$6"
exit $rc
"""


@dataclass(frozen=True)
class Lookup:
    """One getent run: its exit code (FOUND, NOT_FOUND, ...), the addresses it printed
    (distinct, in order), getent's wall time, its stderr; and its stdout and the
    resolv.conf it was given, for failure messages."""

    returncode: int
    addresses: tuple[str, ...]
    seconds: float
    stderr: str
    stdout: str = ""
    resolv_conf: str = ""

    @property
    def found(self) -> bool:
        return self.returncode == FOUND


def require_getent() -> None:
    """Skip unless root (namespaces, mounts and lo addresses need it); fail, not skip,
    when a tool is missing: the test machine is meant to have them all."""
    if os.geteuid() != 0:
        pytest.skip("glibc client lookups need root (unshare -m, mount, ip addr add)")
    missing = [name for name in (*TOOLS, "ip") if _which(name) is None]
    if missing:
        packages = sorted({TOOLS.get(name, "iproute2") for name in missing})
        pytest.fail(
            f"glibc client lookups need {', '.join(missing)}; install the Debian packages "
            f"{' '.join(packages)}",
            pytrace=False,
        )


def _which(name: str) -> str | None:
    try:
        return find_binary(name)
    except Exception:
        return None


def _address(server: Endpoint | str) -> str:
    if isinstance(server, str):
        return server
    if isinstance(server, tuple):
        address, port = server
    else:
        address, port = server.address, server.port
    if port != CLIENT_PORT:
        raise ValueError(
            f"{address}@{port}: glibc asks port {CLIENT_PORT} only; start the server with "
            "client_facing=True (port 53 on an address of its own)"
        )
    return address


def resolv_conf(
    nameservers: Sequence[Endpoint | str],
    timeout: int = 5,
    attempts: int = 2,
    rotate: bool = False,
    options: Sequence[str] = (),
    search: Sequence[str] = (),
) -> str:
    """The resolv.conf text lookup() gives glibc."""
    addresses = [_address(server) for server in nameservers]
    if not 1 <= len(addresses) <= MAXNS:
        raise ValueError(f"glibc uses 1 to {MAXNS} nameservers, not {len(addresses)}")
    lines = [f"nameserver {address}" for address in addresses]
    if search:
        lines.append("search " + " ".join(search))
    words = [f"timeout:{timeout}", f"attempts:{attempts}", *(["rotate"] if rotate else [])]
    lines.append("options " + " ".join([*words, *options]))
    return "\n".join(lines) + "\n"


def lookup(
    name: str,
    nameservers: Sequence[Endpoint | str],
    timeout: int = 5,
    attempts: int = 2,
    rotate: bool = False,
    family: str = "ahostsv4",
    *,
    options: Sequence[str] = (),
    search: Sequence[str] = (),
) -> Lookup:
    """Resolve `name` with glibc's stub asking `nameservers` (addresses, or (address, 53)
    pairs, or servers with client_facing=True), as `getent family name`.

    timeout/attempts/rotate are resolv.conf's options (glibc's defaults 5, 2, off);
    `options` adds others (e.g. "edns0", "use-vc", "single-request"); `search` is the
    search list (none by default). family: ahostsv4 (A only), ahostsv6, ahosts, hosts.
    """
    conf = resolv_conf(nameservers, timeout, attempts, rotate, options, search)
    # glibc's worst case: every attempt waits on every server, the timeout doubling
    # per attempt; then some slack for the namespace setup.
    deadline = timeout * (2**attempts) * len(nameservers) + 10
    with tempfile.TemporaryDirectory(prefix="dnsmon-getent-") as tmp:
        folder = Path(tmp)
        (folder / "resolv.conf").write_text(conf)
        (folder / "nsswitch.conf").write_text("hosts: dns\n")
        timing = folder / "timing"
        command = [
            find_binary("unshare"),
            "--mount",
            "--uts",
            "--propagation",
            "private",
            find_binary("bash"),
            "-c",
            _SCRIPT,
            "getent-in-namespace",
            str(folder / "resolv.conf"),
            str(folder / "nsswitch.conf"),
            family,
            name,
            CLIENT_HOSTNAME,
            str(timing),
        ]
        # Nothing from the environment may steer the resolver (RES_OPTIONS,
        # LOCALDOMAIN, HOSTALIASES).
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin", "LANG": "C"}
        started = time.monotonic()
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=deadline)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            raise AssertionError(
                f"getent {family} {name} still running after {deadline} s; "
                f"resolv.conf:\n{conf}stderr: {stderr}"
            ) from None
        wall = time.monotonic() - started
        try:
            start, end = timing.read_text().split()
            seconds = float(end) - float(start)
        except (OSError, ValueError):
            # The namespace setup failed before getent ran: say so through stderr.
            seconds = wall
    addresses: list[str] = []
    for line in stdout.splitlines():
        words = line.split()
        if words and words[0] not in addresses:
            addresses.append(words[0])
    return Lookup(proc.returncode, tuple(addresses), seconds, stderr, stdout, conf)


def host_resolver_untouched() -> bool:
    """Whether this process still sees the host's own resolv.conf and nsswitch.conf
    (not a private copy mounted over them)."""
    mounts = Path("/proc/self/mountinfo").read_text()
    return not any(
        line.split()[4] in ("/etc/resolv.conf", "/etc/nsswitch.conf") and "dnsmon-getent-" in line
        for line in mounts.splitlines()
    )
