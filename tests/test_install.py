"""From a stock server to a running monitor: the README's install paths, run as written.

The story: someone on a Debian or Ubuntu server with nothing but the distribution's
python3 types the README's first line and sees the demo; a developer types the
development section's commands after ``scripts/test``; an operator installs the systemd
unit; and a second demo on a busy port says what to do instead of failing obscurely.

The tests marked ``slow`` (about a minute together) work on a copy of the working tree,
made with ``git ls-files -co --exclude-standard``: what is committed plus what is new and
not ignored, so they test what is in the tree, committed or not, and never the
checkout's own ``.venv``. Leave them out with ``-m 'not slow'``.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from dnsmon_cli import COMMAND
from servers import free_port

from monitor.serving.web import parse_listen

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
UNIT = ROOT / "deploy" / "dnsmon.service"
DEBIAN_PYTHON = Path("/usr/bin/python3")
# Debian's own programs first; nothing from pyenv, a virtual environment or ~/.local.
SYSTEM_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"
READY_WITHIN = 240.0  # seconds: a fresh venv and a pip install from the configured index


def section(title: str) -> str:
    """The README's text under ``## title``, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def commands(markdown: str) -> list[str]:
    """The command lines of the first ```sh block in markdown, comments removed."""
    block = re.search(r"^```sh\n(.*?)^```", markdown, re.S | re.M)
    assert block, "no ```sh block"
    lines = (re.sub(r"\s+#(\s.*)?$", "", line).strip() for line in block.group(1).splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def copy_working_tree(dest: Path) -> Path:
    """The tracked and the new, unignored files of the checkout, as a fresh clone has them."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs the git checkout to know which files belong to it")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "-co", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split(b"\0")):
        source = ROOT / os.fsdecode(name)
        if not source.is_file():
            continue  # deleted in the tree, not yet in git
        target = dest / os.fsdecode(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)  # keeps the executable bits
    return dest


def fresh_env(home: Path) -> dict[str, str]:
    """This machine's environment as a new user has it: a clean HOME, Debian's PATH.

    PIP_* stays: it is the machine's own pip configuration (its package index), as are
    /etc/pip.conf and /etc/xdg/pip, which a new user gets too.
    """
    dropped = ("PYTHON", "PYENV", "VIRTUAL_ENV", "CONDA", "XDG_", "__PYVENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update(HOME=str(home), PATH=SYSTEM_PATH)
    home.mkdir(exist_ok=True)
    return env


def ready(url: str, proc: subprocess.Popen[bytes], within: float) -> bool:
    """Poll url until it answers 200, the process ends, or time runs out."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with opener.open(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass  # not listening yet, or not ready (503) before the first round
        time.sleep(0.2)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ctrl-C for the whole process group (the shell, the script, dnsmon), then a kill."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)  # is anything of the group left?
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


@pytest.mark.slow
def test_readme_first_line_runs_the_demo_on_a_fresh_checkout(tmp_path: Path) -> None:
    """The README's first line, verbatim, with Debian's python3 and a clean HOME.

    It makes the checkout's .venv (isolated from the system's site-packages) and
    installs dnsmon into it from the configured package index; the demo's /-/ready
    must answer 200. A second run installs nothing and starts at once.
    """
    if not DEBIAN_PYTHON.is_file():
        pytest.skip("needs the distribution's /usr/bin/python3")
    line = commands(README)[0]
    assert re.search(r"\bdemo$", line), f"the README's first line is not the demo: {line!r}"
    checkout = copy_working_tree(tmp_path / "checkout")
    env = fresh_env(tmp_path / "home")
    port = free_port()
    log_path = tmp_path / "demo.log"
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", f"{line} --listen 127.0.0.1:{port}"],
            cwd=checkout,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            answered = ready(f"http://127.0.0.1:{port}/-/ready", proc, READY_WITHIN)
            took = time.monotonic() - started
        finally:
            stop(proc)
    output = log_path.read_text(errors="replace")
    assert answered, f"{line!r}: /-/ready never answered 200 (exit {proc.returncode}):\n{output}"
    print(f"\n{line!r} in a fresh checkout: /-/ready answered 200 after {took:.1f}s")
    assert "demo interrupted" in output, output  # it was the demo, and it stopped cleanly

    venv = (checkout / ".venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in venv, venv
    assert re.search(r"^home = /usr/bin$", venv, re.M), venv

    again_started = time.monotonic()
    again = subprocess.run(
        ["/bin/sh", "-c", f"{line} --help"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    again_took = time.monotonic() - again_started
    assert again.returncode == 0 and "Usage: dnsmon demo" in again.stdout, again.stderr
    assert "installing" not in again.stderr, again.stderr
    assert again_took < 10, f"a second run took {again_took:.1f}s"


# Development commands not run here, each with the reason. Every other line of the
# section's block is run as written.
NOT_RUN = {
    "scripts/test": "what CI runs, and it runs this file: it would run itself",
    ".venv/bin/python -m pytest -q -m 'not slow'": "the whole suite but this file: minutes, "
    "and CI runs every one of those tests anyway",
    ".venv/bin/python benchmarks/bench.py": "all four benchmarks take minutes; "
    "`bench.py static` runs the same script",
    ".venv/bin/python benchmarks/soak.py --minutes 30": "half an hour by design; a soak, "
    "not a test",
}


@pytest.mark.slow
def test_readme_development_commands_work_as_written(tmp_path: Path) -> None:
    """Each command of the README's development block, in a copy of the working tree.

    "Once scripts/test has run" is stood in for by a symlink to the checkout's own .venv,
    which scripts/test made (it runs this test), rather than a second install of the
    test tools: that keeps this test to seconds. The commands still run the copy's code:
    ``python -m`` and bench.py put the folder they run in first on sys.path. The lines in
    NOT_RUN are skipped for the reasons given there; every other line runs, and passes.
    """
    venv = ROOT / ".venv"
    if not (venv / "bin" / "python").exists():
        pytest.skip("no .venv in the checkout: run scripts/test once")
    lines = commands(section("Development"))
    assert set(NOT_RUN) <= set(lines), f"NOT_RUN names lines the README no longer has: {lines}"
    to_run = [line for line in lines if line not in NOT_RUN]
    assert len(to_run) >= 4, to_run
    checkout = copy_working_tree(tmp_path / "checkout")
    (checkout / ".venv").symlink_to(venv)
    env = fresh_env(tmp_path / "home")
    for line in to_run:
        started = time.monotonic()
        run = subprocess.run(
            ["/bin/sh", "-c", line],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        print(f"\n{line!r}: exit {run.returncode} after {time.monotonic() - started:.1f}s")
        assert run.returncode == 0, f"{line!r} exited {run.returncode}:\n{run.stdout}{run.stderr}"


@pytest.mark.slow
def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the unit exactly as shipped, with nothing to report.

    verify insists that ExecStart's program exists, and no test may install into /opt:
    so it runs with ``--root`` on a private root holding this machine's systemd units,
    its real programs for the other Exec lines, and a stand-in for /opt/dnsmon/bin/dnsmon
    — the path the README's server install makes, which the unit must point at.
    """
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze: apt-get install systemd (scripts/test does)")
    unit = UNIT.read_text(encoding="utf-8")
    venv = re.search(r"python3 -m venv (\S+)", section("Installing on a server"))
    assert venv, "the server install makes no virtual environment"
    dnsmon = f"{venv.group(1)}/bin/dnsmon"
    execs = re.findall(r"^Exec\w+=[-@:+!]*(\S+)", unit, re.M)
    assert execs and execs[0] == dnsmon, f"ExecStart should run {dnsmon}: {execs}"

    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for program in set(execs):
        target = root / program.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if program == dnsmon:
            target.write_text("#!/bin/sh\nexit 0\n")
            target.chmod(0o755)
        else:
            assert os.access(program, os.X_OK), f"{program} is not on this machine"
            shutil.copy2(os.path.realpath(program), target)
    installed = root / "etc/systemd/system/dnsmon.service"
    installed.parent.mkdir(parents=True)
    installed.write_text(unit, encoding="utf-8")
    run = subprocess.run(
        [analyze, "verify", "--man=no", f"--root={root}", str(installed)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = (run.stdout + run.stderr).strip()
    assert run.returncode == 0 and not output, output


def test_demo_on_a_busy_port_names_it_and_exits_3() -> None:
    """A second demo while one runs: the port, what to do (--listen), exit 3."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        run = subprocess.run(
            [*COMMAND, "demo", "--listen", f"127.0.0.1:{port}", "--duration", "20"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert run.returncode == 3, run.stdout + run.stderr
    assert f"port {port} is already in use" in run.stderr, run.stderr
    assert "internal error" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    suggestion = re.search(r"--listen (\S+)$", run.stderr.strip())
    assert suggestion, f"no --listen suggestion: {run.stderr}"
    host, other = parse_listen(suggestion.group(1))
    assert host == "127.0.0.1" and other != port


def test_scripts_share_one_venv_recipe() -> None:
    """scripts/dnsmon and scripts/test make .venv with the same sourced code."""
    recipe = ROOT / "scripts" / "venv.sh"
    for name in ("dnsmon", "test"):
        script = ROOT / "scripts" / name
        text = script.read_text(encoding="utf-8")
        assert os.access(script, os.X_OK), f"scripts/{name} is not executable"
        assert ". scripts/venv.sh" in text and "dnsmon_venv " in text, f"scripts/{name}"
        assert "-m venv" not in text, f"scripts/{name} makes its own venv"
    for shell in ("sh", "bash"):
        if shutil.which(shell):
            for path in (recipe, ROOT / "scripts" / "dnsmon"):
                checked = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
                assert checked.returncode == 0, f"{shell} -n {path.name}: {checked.stderr}"
