"""Shell completion: TAB completes services, servers and what-if targets from the config.

Through click's own completion machinery, as the shells call it (``_DNSMON_COMPLETE`` with
COMP_WORDS and COMP_CWORD), and once through bash itself with the script dnsmon prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from monitor.cli import cli
from monitor.outputs.completion import join_colons

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """\
servers:
  - {name: resolver-a, address: 127.0.0.1, port: 5301}
  - {name: ns1, address: 127.0.0.1, port: 5311, role: authoritative,
     zones: [region.internal, 20.127.in-addr.arpa]}
names:
  - {name: ehr-db.region.internal}
  - {name: ehr-db.region.internal, type: AAAA}
  - {name: sso.region.internal}
services:
  - {name: ehr, depends_on: [ehr-db.region.internal]}
  - {name: sso, depends_on: [sso.region.internal]}
  - {name: pacs, depends_on: []}
"""
TARGETS = [
    "server:resolver-a", "server:ns1", "zone:region.internal", "zone:20.127.in-addr.arpa",
    "name:ehr-db.region.internal", "name:sso.region.internal",
]  # fmt: skip


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a probes.yaml; $DNSMON_CONFIG unset."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DNSMON_CONFIG", raising=False)
    (tmp_path / "probes.yaml").write_text(CONFIG)
    return tmp_path


def complete(line: str, shell: str = "bash", env: dict[str, str] | None = None) -> list[str]:
    """What ``dnsmon`` offers for the last word of ``line`` (split as bash splits it:
    at spaces and at colons)."""
    words = line.replace(":", " : ").split(" ")
    words = [w for i, w in enumerate(words) if w or i == len(words) - 1]
    environ = {
        "_DNSMON_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": "\n".join(words),
        "COMP_CWORD": str(len(words) - 1),
        **(env or {}),
    }
    result = CliRunner().invoke(cli, [], prog_name="dnsmon", env=environ)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    if shell == "zsh":  # type, value, help: three lines each
        return result.output.splitlines()[1::3]
    return [line.split(",", 1)[1] for line in result.output.splitlines() if line]


def test_service_completes_the_configs_services(here: Path) -> None:
    assert complete("dnsmon check --service ") == ["ehr", "sso", "pacs"]
    assert complete("dnsmon check --service s") == ["sso"]


def test_server_completes_the_configs_servers(here: Path) -> None:
    assert complete("dnsmon check --server ") == ["resolver-a", "ns1"]
    assert complete("dnsmon snapshot -o x.json --server n") == ["ns1"]


def test_fail_and_change_complete_every_kind_of_target(here: Path) -> None:
    assert complete("dnsmon impact --fail ", shell="zsh") == TARGETS
    assert complete("dnsmon preflight --change zo", shell="zsh") == TARGETS[2:4]


def test_bash_gets_back_only_what_follows_the_colon(here: Path) -> None:
    """bash splits ``server:n`` at the colon and replaces only ``n``."""
    assert complete("dnsmon impact --fail server:n") == ["ns1"]
    assert complete("dnsmon impact --fail server:") == ["resolver-a", "ns1"]
    assert complete("dnsmon impact --fail server:ns1 --fail zone:r") == ["region.internal"]
    assert complete("dnsmon impact --fail na") == TARGETS[4:]


@pytest.mark.parametrize("where", ["before the verb", "after the verb", "environment"])
def test_the_config_is_the_one_the_command_line_names(here: Path, where: str) -> None:
    other = here / "other.yaml"
    other.write_text(CONFIG.replace("name: pacs", "name: lab"))
    line, env = {
        "before the verb": (f"dnsmon --config {other} check --service ", None),
        "after the verb": (f"dnsmon check --config {other} --service ", None),
        "environment": ("dnsmon check --service ", {"DNSMON_CONFIG": str(other)}),
    }[where]
    assert complete(line, env=env) == ["ehr", "sso", "lab"]


@pytest.mark.parametrize(
    "broken", ["services: [", "servers: []\nnames: []\n", None], ids=["yaml", "invalid", "none"]
)
def test_a_config_that_does_not_load_completes_nothing_quietly(here: Path, broken) -> None:
    if broken is None:
        (here / "probes.yaml").unlink()
    else:
        (here / "probes.yaml").write_text(broken)
    assert complete("dnsmon check --service ") == []
    assert complete("dnsmon impact --fail server:") == []


def test_join_colons_undoes_bashs_split_and_says_what_bash_keeps() -> None:
    assert join_colons(["--fail", "server", ":", "ns"]) == (["--fail", "server:ns"], "server:")
    assert join_colons(["--fail", "server", ":"]) == (["--fail", "server:"], "server:")
    assert join_colons(["--fail", "server:ns"]) == (["--fail", "server:ns"], "")
    assert join_colons(["a", ":", "b", "c"]) == (["a:b", "c"], "")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_itself_completes_with_the_script_dnsmon_prints(here: Path) -> None:
    """The script from ``_DNSMON_COMPLETE=bash_source``, run by bash, fills COMPREPLY."""
    bin_dir = here / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "dnsmon"
    wrapper.write_text(
        f"#!/bin/sh\nexec {sys.executable} -c 'from monitor.cli import main; main()' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    script = (
        'eval "$(_DNSMON_COMPLETE=bash_source dnsmon)"\n'
        "COMP_WORDS=(dnsmon impact --fail server : n); COMP_CWORD=5\n"
        "_dnsmon_completion dnsmon\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("DNSMON_CONFIG", None)
    done = subprocess.run(
        ["bash", "--norc", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ns1"]
    assert done.stderr == ""
