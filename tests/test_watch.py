"""``dnsmon watch`` in a real 80×30 terminal (tmux), and as plain lines through a pipe.

The story: during the upgrade window an operator keeps ``dnsmon watch`` open; a resolver
goes away, the view shows the services degraded and the change, and Ctrl-C leaves with
the exit code ``check`` would give.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import pytest
from dnsmon_cli import COMMAND, check, dnsmon
from nameserver import TestNameserver, answer
from rich.cells import cell_len

COLUMNS, ROWS = 80, 30
DEADLINE = 20.0
# Rounds every 2 s keep the test short; a stopped server costs 2 × 1 s per round.
WATCH_DEFAULTS = {"interval": "2s"}


class Terminal:
    """A detached tmux session on a private server socket, running one command."""

    def __init__(self, name: str) -> None:
        self.socket = f"dnsmon-test-{name}-{os.getpid()}"
        self.session = "watch"
        # The session's program sees our environment, not the one of any outer tmux.
        self.env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        self.env["TERM"] = "xterm-256color"

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=10,
        )
        assert done.returncode == 0, f"tmux {' '.join(args)}: {done.stderr}"
        return done.stdout

    def start(self, command: list[str]) -> None:
        # remain-on-exit is set in the same tmux command, before the program can end, so
        # the pane and its exit status stay readable.
        self.tmux(
            "new-session",
            "-d",
            "-x",
            str(COLUMNS),
            "-y",
            str(ROWS),
            "-s",
            self.session,
            shlex.join(command),
            ";",
            "set-option",
            "-t",
            self.session,
            "remain-on-exit",
            "on",
        )

    def screen(self) -> str:
        # -J joins lines tmux itself wrapped, so a line too wide for 80 columns shows.
        return self.tmux("capture-pane", "-p", "-J", "-t", self.session)

    def pane(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", self.session, fmt).strip()

    def send(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def wait_for(self, what: str, ready: Callable[[str], bool]) -> str:
        """Poll the screen until `ready(screen)`; fail with the screen after DEADLINE."""
        deadline = time.monotonic() + DEADLINE
        while True:
            screen = self.screen()
            if ready(screen):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {DEADLINE:.0f}s; the screen:\n{screen}")
            time.sleep(0.2)

    def wait_dead(self) -> int:
        """The program's exit status once it has ended."""
        # tmux learns the status when it reaps the process on SIGCHLD. With libutempter,
        # a SIGCHLD that arrives while tmux removes the pane's utmp record is lost and the
        # process stays a zombie (tmux/tmux#311): nudge our own tmux server to reap again.
        server = int(self.tmux("display-message", "-p", "#{pid}").strip())
        deadline = time.monotonic() + DEADLINE
        while True:
            status, signal_number = self.pane("#{pane_dead_status}:#{pane_dead_signal}").split(":")
            if signal_number:
                pytest.fail(f"watch died of signal {signal_number}; the screen:\n{self.screen()}")
            if status:
                return int(status)
            if time.monotonic() > deadline:
                pytest.fail(f"watch still running after Ctrl-C; the screen:\n{self.screen()}")
            os.kill(server, signal.SIGCHLD)
            time.sleep(0.2)

    def kill(self) -> None:
        """Stop our tmux server and remove its socket file, which tmux leaves behind."""
        try:
            path = self.tmux("display-message", "-p", "#{socket_path}").strip()
        except AssertionError:
            return  # never started
        subprocess.run(
            ["tmux", "-L", self.socket, "kill-server"],
            capture_output=True,
            env=self.env,
            timeout=10,
        )
        Path(path).unlink(missing_ok=True)


@pytest.fixture
def terminal(request: pytest.FixtureRequest) -> Iterator[Terminal]:
    term = Terminal(re.sub(r"\W", "", request.node.name)[:40])
    yield term
    term.kill()


@pytest.fixture
def probes(region, tmp_path: Path) -> Iterator[Path]:
    yield region.write_probes(tmp_path / "probes.yaml", defaults=WATCH_DEFAULTS)
    region.reset()


def lines(screen: str) -> list[str]:
    return [line.rstrip() for line in screen.splitlines()]


def service_state(screen: str, service: str) -> str | None:
    for line in lines(screen):
        match = re.match(rf"{re.escape(service)}\s+(up|degraded|down)\b", line)
        if match:
            return match.group(1)
    return None


def flat(screen: str) -> str:
    """The screen as one line: rich wraps long change lines at the terminal's width."""
    return " ".join(screen.split())


def test_watch_in_a_terminal_shows_a_degraded_service_and_leaves_on_ctrl_c(
    region, probes: Path, terminal: Terminal
):
    terminal.start([*COMMAND, "--config", str(probes), "watch"])
    screen = terminal.wait_for(
        "first round", lambda s: "servers:" in s and service_state(s, "ehr") is not None
    )
    assert "test-site" in screen and "UP" in screen
    assert service_state(screen, "ehr") == service_state(screen, "sso") == "up"
    servers = next(line for line in lines(screen) if line.startswith("servers:"))
    for name in region.servers:
        assert f"{name} up" in servers
    assert "changes since watching began: 0" in screen
    assert all(cell_len(line) <= COLUMNS for line in lines(screen)), screen

    region.resolver_a.stop()
    screen = terminal.wait_for(
        "degraded round",
        lambda s: service_state(s, "ehr") == "degraded" and "service ehr: up → degraded" in flat(s),
    )
    assert service_state(screen, "sso") == "degraded"
    assert "resolver-a DOWN" in screen
    assert "DEGRADED" in screen
    text = flat(screen)
    changes_at = text.index("changes since watching began:")
    assert changes_at < text.index("service ehr: up → degraded")
    assert "resolver-a timeout" in text[changes_at:]
    assert all(cell_len(line) <= COLUMNS for line in lines(screen)), screen

    terminal.send("C-c")
    status = terminal.wait_dead()
    assert "stopped watching" in terminal.screen()
    assert status == check(probes)[0] == 1  # degraded, as check says


def test_watch_through_a_pipe_prints_plain_lines(region, probes: Path):
    run = dnsmon(probes, "watch", "--rounds", "2")
    code, _ = check(probes)
    assert run.code == code == 0, run.stderr
    rounds = run.stdout.splitlines()
    assert len(rounds) == 2, run.stdout
    for line in rounds:
        assert re.fullmatch(r"\d\d:\d\d:\d\d UTC test-site up: 2 up, 0 degraded, 0 down", line)
    assert "\x1b[" not in run.stdout  # no terminal control sequences in a pipe


def test_watch_through_a_pipe_exits_like_check_when_degraded(region, probes: Path):
    region.resolver_a.stop()
    run = dnsmon(probes, "watch", "--rounds", "1")
    code, _ = check(probes)
    assert run.code == code == 1, run.stderr
    first, *causes = run.stdout.splitlines()
    assert re.fullmatch(
        r"\S+ UTC test-site degraded: 0 up, 2 degraded \((ehr, sso|sso, ehr)\), 0 down; "
        r"causes: server_unreachable resolver-a",  # a stopped Unbound: its port refuses
        first,
    ), run
    where = f"{region.resolver_a.address}:{region.resolver_a.port}"
    [cause] = causes
    assert re.fullmatch(
        rf"  cause: resolver-a \({where}\) stopped answering at \d\d:\d\d \S+", cause
    )


def _resolves(query: dns.message.Message) -> dns.message.Message:
    return answer(query, f"{query.question[0].name} 300 IN A 127.20.1.15")


def test_watch_through_a_pipe_says_per_round_how_many_are_up_degraded_and_down(
    tmp_path: Path,
) -> None:
    with TestNameserver(_resolves) as answering, TestNameserver(lambda _: None) as silent:
        probes = tmp_path / "probes.yaml"
        probes.write_text(
            "defaults: {interval: 1s, timeout: 200ms, attempts: 1}\n"
            "servers:\n"
            f"  - {{name: resolver-a, address: 127.0.0.1, port: {answering.port}}}\n"
            f"  - {{name: resolver-b, address: 127.0.0.1, port: {silent.port}}}\n"
            "names:\n  - {name: ehr-db.region.internal}\n"
            "services:\n"
            "  - {name: ehr, depends_on: [ehr-db.region.internal]}\n"
            "  - {name: paper, depends_on: []}\n"
        )
        run = dnsmon(probes, "watch", "--rounds", "2")
    assert run.code == 1, run.stderr  # degraded, as check would say
    rounds = [line for line in run.stdout.splitlines() if not line.startswith(" ")]
    assert len(rounds) == 2, run.stdout
    for line in rounds:
        assert re.fullmatch(
            r"\d\d:\d\d:\d\d UTC default degraded: 1 up, 1 degraded \(ehr\), 0 down; "
            r"causes: server_silent resolver-b",
            line,
        ), line
    assert "  cause: resolver-b (127.0.0.1:" in run.stdout
    assert "not up" not in run.stdout and "\x1b[" not in run.stdout
