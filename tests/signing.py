"""Zones signed for the tests with BIND's own tools, with the signatures' lifetimes the
tests choose (dnssec-keygen and dnssec-signzone, from bind9-utils).

    signed = sign("region.internal", ZONE_TEXT, tmp, expires_in=150)
    Knot({"region.internal": signed.text})         # served as it is: no signing there
    Unbound(stubs, trust_anchors=[signed.anchor])  # validates it

``expires_at`` is the signatures' expiration, to the second, as written into every RRSIG.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from servers import find_binary

ALGORITHM = "ECDSAP256SHA256"  # small signatures: answers stay under 1232 bytes


@dataclass(frozen=True)
class Signed:
    text: str  # the signed zone file
    anchor: str  # the key-signing key's DS record, as a trust anchor
    expires_at: int  # every RRSIG's expiration, seconds since the epoch


def sign(origin: str, text: str, folder: Path, expires_in: int, *, started: int = 3600) -> Signed:
    """``text`` signed with a fresh KSK and ZSK; signatures valid from ``started`` seconds
    ago until ``expires_in`` seconds from now (negative: already expired)."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = [_keygen(origin, folder, ksk) for ksk in (True, False)]
    unsigned = folder / f"{origin}.zone"
    unsigned.write_text(text + "".join(f"$INCLUDE {k}.key\n" for k in keys))
    now = int(time.time())
    expires_at = now + expires_in
    _run(
        "dnssec-signzone", "-o", origin, "-K", str(folder), "-s", str(now - started),
        "-e", str(expires_at), "-f", str(folder / f"{origin}.signed"), "-d", str(folder),
        "-N", "keep", "-x", "-P", str(unsigned), *(str(folder / k) for k in keys), cwd=folder,
    )  # fmt: skip
    anchor = (folder / f"dsset-{origin}.").read_text().split("\n")[0]
    return Signed((folder / f"{origin}.signed").read_text(), " ".join(anchor.split()), expires_at)


def _keygen(origin: str, folder: Path, ksk: bool) -> str:
    flags = ["-f", "KSK"] if ksk else []
    return _run("dnssec-keygen", "-a", ALGORITHM, *flags, "-K", str(folder), origin,
                cwd=folder).strip()  # fmt: skip


def _run(program: str, *args: str, cwd: Path) -> str:
    done = subprocess.run([find_binary(program), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{program} failed: {done.stderr}")
    return done.stdout
