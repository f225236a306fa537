"""Fixtures that run real DNS servers on loopback (see servers.py)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The helper modules live next to this file; make them importable as `servers` and
# `zones` however pytest imports the tests.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from exporter import Exporter, write_config  # noqa: E402
from servers import (  # noqa: E402
    PACKAGES,
    HostileMode,
    HostileResponder,
    Knot,
    S,
    Server,
    StartServer,
    TestRegion,
    Unbound,
    missing_binaries,
)
from zones import MANY_RECORDS, REGION, REVERSE, region_reverse_zone, region_zone  # noqa: E402

_SERVER_FIXTURES = {"region", "make_region", "start_server"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "integration: runs real DNS servers (Knot, BIND, Unbound) on loopback"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Anything that starts servers or hostile responders is an integration test.
    for item in items:
        if (_SERVER_FIXTURES | {"hostile"}) & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


def require_servers() -> None:
    """Fail, not skip: CI installs the servers, so a missing one is a broken setup."""
    missing = missing_binaries()
    if missing:
        packages = sorted({PACKAGES[name] for name in missing})
        pytest.fail(
            f"DNS server programs missing: {', '.join(missing)}; install the Debian "
            f"packages {' '.join(packages)} (scripts/test does)",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def region() -> Iterator[TestRegion]:
    """The standard topology (ns1 Knot, ns2 BIND, resolver-a/-b Unbound), shared by a
    module; a test that breaks it calls region.reset() when done."""
    require_servers()
    with TestRegion() as started:
        yield started


@pytest.fixture
def make_region() -> Iterator[Callable[..., TestRegion]]:
    """make_region(**TestRegion kwargs): a private, started region, closed after the test
    (e.g. make_region(ttl=5) for cache expiry)."""
    require_servers()
    made: list[TestRegion] = []

    def make(*args: Any, **kwargs: Any) -> TestRegion:
        made.append(TestRegion(*args, **kwargs).start())
        return made[-1]

    yield make
    for started in made:
        started.close()


@pytest.fixture
def start_server() -> Iterator[StartServer]:
    """start_server(Knot(...) | Bind(...) | Unbound(...)): started, closed after the test."""
    require_servers()
    started: list[Server] = []

    def start(server: S) -> S:
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.close()


@pytest.fixture
def hostile() -> Iterator[Callable[..., HostileResponder]]:
    """hostile(mode, tcp=False): a started HostileResponder, stopped after the test."""
    started: list[HostileResponder] = []

    def make(mode: HostileMode = "garbage", **kwargs: Any) -> HostileResponder:
        started.append(HostileResponder(mode, **kwargs).start())
        return started[-1]

    yield make
    for responder in started:
        responder.stop()


@pytest.fixture
def serve(region: TestRegion, tmp_path: Path) -> Iterator[Callable[..., Exporter]]:
    """serve(config=None, wait=True, **Exporter kwargs): a private ``dnsmon serve`` for one
    test, on the region's config unless given another; killed after the test."""
    started: list[Exporter] = []

    def make(config: Path | None = None, wait: bool = True, **kwargs: Any) -> Exporter:
        config = config or write_config(region, tmp_path / "probes.yaml")
        started.append(Exporter(config, tmp_path, **kwargs).start(wait=wait))
        return started[-1]

    yield make
    for running in started:
        running.stop(signal.SIGKILL)


@pytest.fixture
def authority(start_server: StartServer) -> Knot:
    """region.internal (with the 40-address wards-all) on Knot, 127.0.0.1, a high port."""
    zones = {REGION: region_zone(overrides=MANY_RECORDS), REVERSE: region_reverse_zone()}
    return start_server(Knot(zones))


@pytest.fixture
def resolver(start_server: StartServer, authority: Knot) -> Callable[..., Unbound]:
    """resolver(**Unbound options): a started Unbound on port 53 of its own address (where
    glibc's stub can ask it), stubbed to the authority."""

    def make(**options: Any) -> Unbound:
        stubs = {REGION: [authority], REVERSE: [authority]}
        return start_server(Unbound(stubs, client_facing=True, **options))

    return make
