"""The text report for people: printed at once, it reads exactly as printed line by line."""

from __future__ import annotations

import io
from pathlib import Path

import dns.message
import dns.rcode
import pytest
from dnsmon_cli import dnsmon
from hypothesis import given
from hypothesis import strategies as st
from nameserver import TestNameserver, answer
from rich.console import Console
from rich.text import Text

from monitor.judging import causes as causes_module
from monitor.judging.health import judge
from monitor.outputs import render as render_module
from monitor.outputs import report
from tests.rounds import CONFIG, GRAPH, healthy_round, silence

OPTIONS = {"highlight": False, "soft_wrap": True, "width": 100, "height": 40}


def _report(round_) -> dict:  # type: ignore[no-untyped-def]
    health = judge(GRAPH, round_)
    found = causes_module.find(GRAPH, health, round_.results.values())
    return report.build(CONFIG, GRAPH, health, 0.0, 0.1, round_.results.values(), found)


@pytest.mark.parametrize("terminal", [True, False], ids=["colours", "plain"])
@pytest.mark.parametrize("servers", [(), ("ns3",), ("resolver-a", "resolver-b")])
def test_the_one_shot_page_prints_what_a_console_prints_line_by_line(
    terminal: bool, servers: tuple[str, ...]
) -> None:
    built = _report(silence(healthy_round(), *servers) if servers else healthy_round())
    line_by_line, at_once = io.StringIO(), io.StringIO()
    render_module.render(built, Console(file=line_by_line, force_terminal=terminal, **OPTIONS))
    console = Console(file=at_once, force_terminal=terminal, **OPTIONS)
    with render_module.Page(console) as page:
        render_module.render(built, page)
        assert at_once.getvalue() == "", "nothing is written before the block ends"
    assert at_once.getvalue() == line_by_line.getvalue()
    assert built["site"] in at_once.getvalue()


def test_anything_but_a_line_of_text_is_printed_in_its_turn() -> None:
    out = io.StringIO()
    with render_module.Page(Console(file=out, **OPTIONS)) as page:
        page.print(Text("first"))
        page.print("second, a plain string", style="bold")
        page.print()
        page.print(Text("third"))
    assert out.getvalue() == "first\nsecond, a plain string\n\nthird\n"


@given(st.lists(st.text(max_size=40), max_size=12))
def test_plain_lines_are_written_as_rich_would_print_them(lines: list[str]) -> None:
    """Without colours the page writes the lines' text itself; whatever they hold (tabs,
    control characters, wide characters), it is what rich prints line by line."""
    line_by_line, at_once = io.StringIO(), io.StringIO()
    console = Console(file=line_by_line, force_terminal=False, **OPTIONS)
    with render_module.Page(Console(file=at_once, force_terminal=False, **OPTIONS)) as page:
        for line in lines:
            console.print(Text(line, style="bold"))
            page.print(Text(line, style="bold"))
    assert at_once.getvalue() == line_by_line.getvalue()


# --- each failing name once under its service, as `check` and `impact` print it ----------

EXAMPLE = Path(__file__).parent.parent / "probes.yaml"


def service_block(text: str, service: str) -> list[str]:
    """The lines printed under one service: its reasons and its backups'."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {service} ["))
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("   ")),
               len(lines))  # fmt: skip
    return lines[start + 1 : end]


def test_impact_names_each_failing_name_once_under_a_service() -> None:
    run = dnsmon(EXAMPLE, "impact", "--fail", "server:ns1", "--fail", "server:ns2", "--detail")
    assert run.code == 2, run.stderr
    ehr = service_block(run.stdout, "ehr")
    own = [line for line in ehr if line.startswith("      ehr-db.region.internal A")]
    assert own == [
        "      ehr-db.region.internal A: resolver-a timeout, resolver-b timeout, ns1 timeout,"
        " ns2 timeout"
    ]
    # Once the caches have run out (the worse moment, which --detail shows), nothing
    # more is said of it; every other failing name is listed once too.
    names = [line.split(":")[0] for line in ehr if line.startswith("      ") and
             not line.startswith("       ") and " A: " in line]  # fmt: skip
    assert len(names) == len(set(names)) >= 3, names


def _nxdomain_for_app(query: dns.message.Message) -> dns.message.Message:
    if query.question[0].name.to_text().startswith("app."):
        return answer(query, rcode=dns.rcode.NXDOMAIN)
    return _resolves(query)


def _resolves(query: dns.message.Message) -> dns.message.Message:
    return answer(query, f"{query.question[0].name} 300 IN A 127.20.1.15")


def test_check_names_each_failing_name_once_under_a_service(tmp_path: Path) -> None:
    with TestNameserver(_nxdomain_for_app) as first, TestNameserver(_resolves) as second:
        config = tmp_path / "probes.yaml"
        config.write_text(
            "servers:\n"
            f"  - {{name: r1, address: 127.0.0.1, port: {first.port}}}\n"
            f"  - {{name: r2, address: 127.0.0.1, port: {second.port}}}\n"
            "names:\n  - {name: app.example.internal}\n  - {name: db.example.internal}\n"
            "services:\n"
            "  - {name: app, depends_on: [app.example.internal, db.example.internal]}\n"
        )
        run = dnsmon(config, "check")
    assert run.code == 2, run.stderr  # glibc takes r1's NXDOMAIN as final: clients fail
    app = service_block(run.stdout, "app")
    assert [line for line in app if "app.example.internal" in line] == [
        "      app.example.internal A: r1 nxdomain"
    ]
    said = app.index("      app.example.internal A: r1 nxdomain")
    assert app[said + 1].startswith("        from clients: r1 answers NXDOMAIN")
