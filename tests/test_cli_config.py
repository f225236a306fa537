"""The real ``dnsmon`` command with good and bad configs and bad usage.

Exit codes are a contract with Nagios-style checkers: a bad config or a typo on the command
line is 3 (unknown), never click's 2, which here would mean "something is down".
Nothing here probes: every command either refuses its input or only lints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from config_cases import BOUNDED, MANY_ERRORS_FIRST, MANY_ERRORS_LAST

TESTS = Path(__file__).parent
CONFIGS = TESTS / "configs"
EXAMPLE = TESTS.parent / "probes.yaml"
DNSMON = [sys.executable, "-c", "from monitor.cli import main; main()"]


def dnsmon(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DNSMON_CONFIG", "DNSMON_DEBUG")}
    return subprocess.run(
        [*DNSMON, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with the bad configs and a copy of the example, but no probes.yaml."""
    for path in CONFIGS.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(EXAMPLE, tmp_path / "region.yaml")
    return tmp_path


def assert_unknown(run: subprocess.CompletedProcess[str], *expected: str) -> None:
    assert run.returncode == 3, run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    for text in expected:
        assert text in run.stderr


@pytest.mark.parametrize("verb", ["lint", "check"])
def test_bad_config_exits_3_naming_file_line_and_key(workdir: Path, verb: str) -> None:
    run = dnsmon("--config", "several_errors.yaml", verb, cwd=workdir)
    assert_unknown(
        run,
        "several_errors.yaml:3: services[0].depends_on[1]: 'service:sso' is not a service",
        "several_errors.yaml:5: defaults.interval: 'soon' is not a duration",
        "several_errors.yaml:11: servers[0].weight: unknown key",
    )
    lines = [line for line in run.stderr.splitlines() if "several_errors.yaml:" in line]
    assert len(lines) == 6


@pytest.mark.parametrize(("filename", "message"), BOUNDED, ids=[f for f, _ in BOUNDED])
def test_config_that_once_crashed_or_hung_is_refused_by_lint(
    workdir: Path, filename: str, message: str
) -> None:
    run = dnsmon("--config", filename, "lint", cwd=workdir)
    assert run.returncode == 3, run.stderr
    assert run.stdout == ""
    assert run.stderr == f"invalid config:\n  {message}\n"


def test_a_flood_of_errors_is_cut_short_by_lint(workdir: Path) -> None:
    run = dnsmon("--config", "many_errors.yaml", "lint", cwd=workdir)
    assert run.returncode == 3, run.stderr
    lines = run.stderr.splitlines()
    assert lines[0] == "invalid config:" and len(lines) == 102
    assert (lines[1], lines[-1]) == (f"  {MANY_ERRORS_FIRST}", f"  {MANY_ERRORS_LAST}")


@pytest.mark.parametrize(
    ("filename", "written", "hint"),
    [
        ("address_with_port.yaml", "'127.83.1.1:53'", "`port: 53`"),
        ("address_with_port_ipv6.yaml", "'[::1]:5301'", "`port: 5301`"),
    ],
)
def test_an_address_with_a_port_is_refused_with_where_the_port_goes(
    workdir: Path, filename: str, written: str, hint: str
) -> None:
    run = dnsmon("--config", filename, "lint", cwd=workdir)
    assert_unknown(run, f"{filename}:4: servers[0].address: {written} holds a port")
    assert f"the port as {hint}" in run.stderr


def test_a_duration_without_a_unit_is_refused_with_the_unit_to_add(workdir: Path) -> None:
    run = dnsmon("--config", "duration_without_unit.yaml", "check", cwd=workdir)
    assert_unknown(
        run, "duration_without_unit.yaml:3: defaults.interval: 15 has no unit: write `15s`"
    )


def test_invalid_yaml_exits_3_with_its_line(workdir: Path) -> None:
    run = dnsmon("--config", "yaml_syntax.yaml", "lint", cwd=workdir)
    assert_unknown(run, "yaml_syntax.yaml:4: did not find expected '-' indicator")


def test_missing_config_exits_3(workdir: Path) -> None:
    assert_unknown(dnsmon("lint", cwd=workdir), "probes.yaml: cannot read")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["frobnicate"], "No such command 'frobnicate'"),
        (["lint", "--frobnicate"], "No such option '--frobnicate'"),
        (["--frobnicate", "lint"], "No such option '--frobnicate'"),
        (["lint", "--format", "xml"], "'xml' is not one of 'text', 'json'"),
        (["--config", "region.yaml", "check", "--service", "nosuch"], "'nosuch' is not a service"),
        (
            ["--config", "region.yaml", "check", "--service", "ehx"],
            "'ehx' is not a service (did you mean 'ehr'?)",
        ),
    ],
    ids=[
        "unknown verb",
        "unknown option",
        "unknown global option",
        "bad format",
        "unknown service",
        "misspelt service",
    ],
)
def test_usage_errors_exit_3_not_2(workdir: Path, args: list[str], message: str) -> None:
    assert_unknown(dnsmon(*args, cwd=workdir), message)


def test_config_option_names_the_file(workdir: Path) -> None:
    run = dnsmon("--config", "region.yaml", "lint", cwd=workdir)
    assert run.returncode == 1, run.stderr
    assert run.stdout.startswith("region.yaml: valid (")


def test_config_from_environment(workdir: Path) -> None:
    run = dnsmon("lint", cwd=workdir, env={"DNSMON_CONFIG": str(workdir / "region.yaml")})
    assert run.returncode == 1, run.stderr
    assert f"{workdir / 'region.yaml'}: valid (" in run.stdout


def test_config_option_wins_over_environment(workdir: Path) -> None:
    env = {"DNSMON_CONFIG": "several_errors.yaml"}
    assert dnsmon("lint", cwd=workdir, env=env).returncode == 3
    assert dnsmon("--config", "region.yaml", "lint", cwd=workdir, env=env).returncode == 1


def test_bad_config_from_environment_is_reported_by_name(workdir: Path) -> None:
    run = dnsmon("lint", cwd=workdir, env={"DNSMON_CONFIG": "unknown_dependency.yaml"})
    assert_unknown(run, "unknown_dependency.yaml:10: services[0].depends_on[0]: 'ehr-db'")


def test_lint_of_the_example_reports_shared_fate_and_exits_1() -> None:
    run = dnsmon("lint", cwd=EXAMPLE.parent)
    assert run.returncode == 1, run.stderr
    assert "SHARED FATE" in run.stdout
    assert "backup ehr-standby shares a name with ehr (ehr-db.region.internal)" in run.stdout
    # The 2018 case: another zone, but on the same authoritative servers.
    assert "backup vendor-archive shares the authoritative servers with radiology" in run.stdout


def test_lint_json_lists_findings() -> None:
    run = dnsmon("lint", "--format", "json", cwd=EXAMPLE.parent)
    assert run.returncode == 1, run.stderr
    out = json.loads(run.stdout)
    assert out["findings"]
    assert all({"kind", "subject", "message"} <= set(f) for f in out["findings"])
    shared = [f for f in out["findings"] if f["kind"] == "shared_fate"]
    fates = {(f["service"], f["backup"]): f["level"] for f in shared}
    assert fates[("ehr", "ehr-standby")] == "name"
    assert fates[("ehr", "ehr-readonly")] == "zone"
    assert fates[("radiology", "vendor-archive")] == "authoritative"
    assert ("ehr", "paper-forms") not in fates


def test_lint_of_a_config_without_findings_exits_0(tmp_path: Path) -> None:
    (tmp_path / "probes.yaml").write_text(
        "servers:\n"
        "  - {name: resolver-a, address: 127.0.0.1}\n"
        "  - {name: resolver-b, address: '::1'}\n"
        "  - {name: ns1, address: 127.0.0.1, port: 5311, role: authoritative,\n"
        "     zones: [region.internal]}\n"
        "  - {name: ns2, address: 127.0.0.2, port: 5311, role: authoritative,\n"
        "     zones: [region.internal]}\n"
        "names:\n"
        "  - {name: ehr-db.region.internal}\n"
        "services:\n"
        "  - {name: ehr, depends_on: [ehr-db.region.internal],\n"
        "     backups: [{name: paper, instructions: Use the red folder, depends_on: []}]}\n"
    )
    run = dnsmon("lint", "--format", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stdout
    assert json.loads(run.stdout)["findings"] == []


BACKUPS_CONFIG = (
    "servers:\n"
    "  - {name: resolver-a, address: 127.0.0.1}\n"
    "names:\n"
    "  - {name: ehr-db.region.internal}\n"
    "services:\n"
    "  - name: ehr\n"
    "    depends_on: [ehr-db.region.internal]\n"
    "    backups:\n"
    "      - {name: paper, instructions: Use the red folder, depends_on: []}\n"
    "      - {name: standby, description: Standby database, depends_on: []}\n"
)


def test_lint_says_which_backup_does_not_say_what_people_do(tmp_path: Path) -> None:
    (tmp_path / "probes.yaml").write_text(BACKUPS_CONFIG)
    run = dnsmon("lint", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    # The backup with a description but no instructions is the one people cannot act on;
    # the one with instructions but no description needs nothing more.
    assert "backup standby of ehr does not say what people do" in run.stdout
    assert "paper" not in run.stdout
    found = json.loads(dnsmon("lint", "--format", "json", cwd=tmp_path).stdout)["findings"]
    mine = [f for f in found if f["kind"] == "backup_without_instructions"]
    assert [(f["service"], f["backup"]) for f in mine] == [("ehr", "standby")]


def test_help_and_version_exit_0(tmp_path: Path) -> None:
    run = dnsmon("--help", cwd=tmp_path)
    assert run.returncode == 0
    assert run.stdout.startswith("Usage: dnsmon")
    assert dnsmon("--version", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("flag", ["-V", "--version"])
def test_version_is_printed_for_the_short_and_long_flag(tmp_path: Path, flag: str) -> None:
    run = dnsmon(flag, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("dnsmon, version ")
    assert run.stdout.strip() == dnsmon("--version", cwd=tmp_path).stdout.strip()
