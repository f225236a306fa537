"""The status page in a real browser (Debian's headless Chromium), as people read it.

A nurse opens ``/`` on a phone during an outage: the first screen must say what broke,
since when, and what to do — the backups that still work, with their instructions,
before the ones that do not — and how long the caches still hold. The page is checked in
five states (healthy, degraded with a cache runway, down, stale, recovered), each built
from a judged round and saved as a screenshot in test-artifacts/status-page/; then once
more end to end, on ``dnsmon serve`` against real DNS servers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import DESKTOP, PHONE, Browser
from exporter import Exporter, wait_until
from servers import TestRegion

from monitor.judging import causes as causes_module
from monitor.judging.health import judge
from monitor.judging.history import History, state_keys
from monitor.judging.runway import RunwayClock
from monitor.outputs import report
from monitor.outputs.statuspage import status_page
from monitor.probing.ede import Ede
from monitor.probing.plan import Purpose
from monitor.probing.results import Round
from monitor.states import Result
from tests.rounds import APP, CONFIG, DB, GRAPH, RESOLVERS, edit, healthy_round, on, silence

pytestmark = pytest.mark.integration
T0 = 1_790_000_000.0  # rounds are dated, so "since" reads as a time of day


class Story:
    """Rounds judged one after another, as ``serve`` does: runways and since carry over."""

    def __init__(self) -> None:
        self.clock = RunwayClock()
        self.history = History(T0 - 3600)

    def page(self, round_: Round, at: float) -> str:
        round_.started_at = at
        health = judge(GRAPH, round_, clock=self.clock)
        found = causes_module.find(GRAPH, health, round_.results.values())
        since = self.history.observe(at, state_keys(health, found))
        built = report.build(CONFIG, GRAPH, health, at, 0.2, round_.results.values(), found,
                             report.Memory(since, self.history.started_at))  # fmt: skip
        return status_page(built, CONFIG.site)


def dark(ttl: int = 300) -> Round:
    return silence(healthy_round(ttl), "ns1", "ns2")


def down() -> Round:
    round_ = dark()
    return edit(round_, on(*RESOLVERS, name=DB[0]), result=Result.SERVFAIL, answers=(), ttl=None)


def stale() -> Round:
    round_ = edit(healthy_round(), on("resolver-b", name=DB[0]), result=Result.STALE,
                  ttl=30, ede=(Ede(3),))  # fmt: skip
    return edit(round_, on("resolver-b", name=APP[0]), result=Result.STALE, ede=(Ede(3),))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The page in each state, written to files the browser opens."""
    folder = tmp_path_factory.mktemp("pages")
    story = Story()
    states = {
        "healthy": (healthy_round(), T0),
        "degraded-with-runway": (dark(), T0 + 60),
        "down": (down(), T0 + 400),
        "recovered": (healthy_round(), T0 + 900),
    }
    written = {}
    for name, (round_, at) in states.items():
        written[name] = folder / f"{name}.html"
        written[name].write_text(story.page(round_, at))
    written["stale"] = folder / "stale.html"
    written["stale"].write_text(Story().page(stale(), T0))
    written["rose"] = folder / "rose.html"
    written["rose"].write_text(_rose_page())
    return written


def _rose_page() -> str:
    """Every authority dark; resolver-a's cache runs out, resolver-b answers stale."""
    story = Story()
    story.page(silence(healthy_round(60), "ns1", "ns2", "ns3"), T0)
    later = silence(healthy_round(), "ns1", "ns2", "ns3")
    edit(later, on("resolver-a", purpose=Purpose.NAME), result=Result.SERVFAIL, answers=(),
         ttl=None)  # fmt: skip
    for name in (DB[0], APP[0]):
        edit(later, on("resolver-b", name=name), result=Result.STALE, ttl=30, ede=(Ede(3),))
    return story.page(later, T0 + 90)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with Browser(tmp_path_factory.mktemp("chromium")) as started:
        yield started


def show(browser: Browser, pages: dict[str, Path], state: str) -> Browser:
    browser.open(pages[state].as_uri())
    browser.screenshot(state)
    return browser


def assert_self_contained_and_fits_a_phone(browser: Browser) -> None:
    assert browser.script("return document.scripts.length") == 0
    assert browser.script("return performance.getEntriesByType('resource').length") == 0
    width = browser.script("return [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways on a phone: {width}"
    assert browser.script("return document.querySelector('#technical').open") is False


def test_healthy(browser: Browser, pages: dict[str, Path]) -> None:
    show(browser, pages, "healthy")
    assert browser.text("#headline") == "All services are working"
    assert not browser.exists("#causes") and not browser.exists(".service.down")
    assert browser.all_text("#working li")[0].startswith("Electronic health record (ehr)")
    assert_self_contained_and_fits_a_phone(browser)


def test_degraded_with_a_runway_counts_down_and_names_the_cause(
    browser: Browser, pages: dict[str, Path]
) -> None:
    show(browser, pages, "degraded-with-runway")
    assert browser.text("#headline") == "1 of 2 services is degraded"
    assert browser.text("#people").startswith(
        "Get ready: Electronic health record works only from DNS caches for about 5m 00s more"
    )
    assert browser.text("#headline-cause").startswith(
        "ns1 and ns2, the only authoritative servers of region.internal, stopped answering at"
    )
    assert browser.text("#runway-ehr") == "5m 00s"
    assert "until about" in browser.text("#service-ehr .runway")
    # Backups: the one that works first, with what to do; the one on the same servers after.
    backups = browser.all_text("#service-ehr .backups li")
    assert backups[0].startswith("Paper forms (paper) works")
    assert "Use the red folder at the nurses' station" in backups[0]
    assert "may fail too: it needs the same DNS servers as ehr (ns1, ns2)" in backups[1]
    assert_self_contained_and_fits_a_phone(browser)


def test_a_runway_that_rose_says_why_and_every_dark_zone_is_named(
    browser: Browser, pages: dict[str, Path]
) -> None:
    show(browser, pages, "rose")
    told = browser.text("#service-ehr .runway")
    assert "Longer than before: resolver-a's cached answer for ehr-" in told
    assert "ran out (resolver-a answers servfail now)" in told
    assert "The time left is that of resolver-b's expired answer for ehr-" in told
    failing = browser.all_text("#service-ehr .runway .felt li")
    assert any("resolver-a servfail" in f for f in failing), failing
    headline = browser.text("#headline-cause")
    assert "region.internal" in headline and "other.internal" in headline, headline
    assert_self_contained_and_fits_a_phone(browser)


def test_down_says_since_when_and_what_to_do(browser: Browser, pages: dict[str, Path]) -> None:
    show(browser, pages, "down")
    assert browser.text("#headline") == "1 of 2 services is down"
    assert browser.text("#people") == "Use the backup routines for 1 service"
    assert browser.text("#first-step") == (
        "Electronic health record: Now: Paper forms. Use the red folder at the nurses' station"
    )
    heading = browser.text("#service-ehr h2")
    assert heading.startswith("Electronic health record (ehr) is down (since ")
    first = browser.text("#service-ehr .backups li")
    assert first.startswith("Paper forms (paper) works")
    assert not browser.exists("#runway-ehr")
    assert browser.text("#working").startswith("Working")  # lab still works
    assert_self_contained_and_fits_a_phone(browser)


def test_stale_answers_are_degraded_and_told(browser: Browser, pages: dict[str, Path]) -> None:
    show(browser, pages, "stale")
    assert browser.text("#headline") == "1 of 2 services is degraded"
    assert "resolver-b answers 2 names from expired cache" in browser.text("#causes")
    assert_self_contained_and_fits_a_phone(browser)
    browser.driver.find_element("css selector", "#technical summary").click()  # unfold
    assert "3 Stale Answer" in browser.text("#technical table")


def test_recovered_shows_everything_working_again_since_when(
    browser: Browser, pages: dict[str, Path]
) -> None:
    show(browser, pages, "recovered")
    assert browser.text("#headline") == "All services are working"
    assert "(since " in browser.text("#service-ehr")  # up again since the recovery round
    assert "dnsmon has watched since" in browser.text("main")
    assert_self_contained_and_fits_a_phone(browser)


def working() -> Round:
    """ns1 down, ns2 up: redundancy lost, every client still served."""
    return silence(healthy_round(), "ns1")


FIRST_SCREEN = {  # state → (the people's state, what the first step says)
    "working": ("working", "Nothing to do: every service works for the people who use it."),
    "degraded-with-runway": ("prepare", "Electronic health record: Get ready to use: Paper"),
    "down": ("use_backups", "Electronic health record: Now: Paper forms."),
}


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
@pytest.mark.parametrize("state", list(FIRST_SCREEN))
def test_the_first_screen_says_what_people_do(
    browser: Browser, pages: dict[str, Path], tmp_path: Path, state: str, size: tuple[int, int]
) -> None:
    """People's state, the cause in plain words and the first thing to do (or that there
    is nothing to do) all lie within the first screen, on a phone and on a desktop."""
    if state == "working":
        path = tmp_path / "working.html"
        path.write_text(Story().page(working(), T0))
        pages = {**pages, "working": path}
    browser.resize(size)
    try:
        browser.open(pages[state].as_uri())
        browser.screenshot(f"first-screen-{state}-{size[0]}x{size[1]}")
        people, step = FIRST_SCREEN[state]
        assert browser.script("return document.querySelector('#people').dataset.people") == people
        assert browser.text("#first-step").startswith(step)
        for selector in ("#headline", "#people", "#headline-cause", "#first-step"):
            assert browser.on_first_screen(selector), f"{selector} is below the first screen"
        if state == "working":  # the lost redundancy is for the operators, below
            assert not browser.exists(".backups")
            assert "ehr" in browser.text("#unfelt")
    finally:
        browser.resize(PHONE)


def test_every_string_from_the_config_is_escaped(browser: Browser, tmp_path: Path) -> None:
    built = report.build(CONFIG, GRAPH, judge(GRAPH, down()), T0, 0.1)
    built["services"][0]["description"] = "<script>document.title='owned'</script><b>x"
    path = tmp_path / "hostile.html"
    path.write_text(status_page(built, "<img src=x onerror=alert(1)>"))
    browser.open(path.as_uri())
    assert browser.script("return document.scripts.length") == 0
    assert browser.script("return document.images.length") == 0
    assert "<script>" in browser.text("#first-step")  # shown as text, never run
    assert "<script>" in browser.text("#service-ehr h2")


def test_the_served_page_shows_a_real_outage(
    region: TestRegion, tmp_path: Path, browser: Browser
) -> None:
    config = region.write_probes(tmp_path / "probes.yaml", defaults={"interval": "1s"})
    with Exporter(config, tmp_path) as exporter:
        url = f"http://{exporter.listen}/"
        browser.open(url)
        assert browser.text("#headline") == "All services are working"
        try:
            region.ns1.stop()
            region.ns2.stop()

            def runway_shown() -> str | None:
                browser.open(url)
                return browser.text("#runway-ehr") if browser.exists("#runway-ehr") else None

            wait_until(runway_shown, "a cache runway on the status page", 20)
            browser.screenshot("served-runway")
            assert "the only authoritative servers of region.internal" in browser.text("#causes")
            assert browser.text("#service-ehr .backups li").startswith(
                "Paper forms and the printed ward list (paper-forms) works"
            )
        finally:
            region.reset()
