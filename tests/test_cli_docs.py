"""The help text and the README are part of the product: every command is documented
with an example, and every command the README tells a user to type still parses.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from dnsmon_cli import dnsmon

from monitor.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
EXAMPLE_PROBES = ROOT / "probes.yaml"
SPEC_VERBS = ("check", "lint", "impact", "serve", "snapshot", "diff", "watch", "demo")
COMMANDS = sorted(cli.commands)


def section(markdown: str, title: str) -> str:
    """The text under a `## title` heading, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", markdown, re.S | re.M)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def code_blocks(markdown: str, lang: str = "sh") -> list[list[str]]:
    """Each ```lang block as its command lines, comments and blank lines removed."""
    blocks = re.findall(rf"^```{lang}\n(.*?)^```", markdown, re.S | re.M)
    return [[line.split("  #")[0].split(" #")[0].strip() for line in block.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
            for block in blocks]  # fmt: skip


def dnsmon_commands(lines: list[str]) -> list[str]:
    """Every `dnsmon …` command in shell lines, including after `&&`."""
    found = []
    for line in lines:
        for part in line.split("&&"):
            part = part.strip()
            if part.startswith("dnsmon "):
                found.append(part)
    return found


def help_examples(command: click.Command) -> list[str]:
    """The `dnsmon …` lines after "Example" in a command's help, comments removed."""
    help_text = command.help or ""
    after = help_text.split("Example", 1)[1] if "Example" in help_text else ""
    return dnsmon_commands([line.split("#")[0] for line in after.splitlines()])


def dry_parse(command_line: str) -> click.Context:
    """Parse a `dnsmon …` line as the CLI would, without running anything."""
    argv = shlex.split(command_line)
    assert argv[0] == "dnsmon", command_line
    args, position = argv[1:], 0
    while args[position].startswith("-"):
        position += 2 if args[position] == "--config" else 1
    group_args, verb, rest = args[:position], args[position], args[position + 1 :]
    assert verb in cli.commands, f"{command_line}: no verb {verb!r}"
    parent = cli.make_context("dnsmon", [*group_args, verb])
    return cli.commands[verb].make_context(verb, rest, parent=parent)


@pytest.fixture
def in_upgrade_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory as during an upgrade: a probes.yaml and a before.json."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DNSMON_CONFIG", raising=False)
    (tmp_path / "probes.yaml").write_bytes(EXAMPLE_PROBES.read_bytes())
    (tmp_path / "before.json").write_text("{}")
    return tmp_path


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name: str):
    command = cli.commands[name]
    assert command.help and command.help.strip(), f"{name} has no docstring"
    assert "Example" in command.help, f"{name}'s help has no Example section"
    examples = help_examples(command)
    assert examples, f"{name}'s Example shows no dnsmon command"
    assert any(shlex.split(e)[1:].count(name) for e in examples), examples

    shown = CliRunner().invoke(cli, [name, "--help"])
    assert shown.exit_code == 0, shown.output
    assert "Example" in shown.output
    # \b keeps click from re-wrapping the example: it shows exactly as written.
    for example in examples:
        assert example in shown.output, f"{example!r} not shown verbatim:\n{shown.output}"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_help_example_parses(name: str, in_upgrade_dir: Path):
    for example in help_examples(cli.commands[name]):
        dry_parse(example)


def test_help_lists_every_verb_of_the_contract():
    run = dnsmon(None, "--help")
    assert run.code == 0, run.stderr
    listed = re.findall(r"^  (\w+)\s", run.stdout.split("Commands:", 1)[1], re.M)
    assert set(SPEC_VERBS) <= set(listed), listed
    assert set(SPEC_VERBS) <= set(cli.commands)
    assert "Exit codes" in run.stdout


@pytest.mark.parametrize("name", SPEC_VERBS)
def test_verb_help_exits_0_from_the_console_command(name: str):
    run = dnsmon(None, name, "--help")
    assert run.code == 0, run.stderr
    assert f"Usage: dnsmon {name}" in run.stdout


def test_readme_commands_table_matches_the_cli():
    rows = re.findall(r"^\| `(\w+)", section(README, "Commands"), re.M)
    assert rows, "no table rows under ## Commands"
    missing = [verb for verb in rows if verb not in cli.commands]
    assert not missing, f"the README documents commands that do not exist: {missing}"
    undocumented = [verb for verb in cli.commands if verb not in rows]
    assert not undocumented, f"commands missing from the README's table: {undocumented}"


def test_readme_starts_with_the_two_commands():
    first = code_blocks(README)[0]
    assert len(first) == 2, first
    assert first[0] == "scripts/dnsmon demo"
    assert first[1] == "scripts/test"
    script = ROOT / "scripts" / "test"
    assert script.is_file() and os.access(script, os.X_OK), "scripts/test is not executable"


def test_demo_ships_the_example_probes_yaml_unchanged():
    shipped = ROOT / "monitor" / "demo" / "data" / "probes.yaml"
    assert shipped.read_bytes() == EXAMPLE_PROBES.read_bytes(), (
        "monitor/demo/data/probes.yaml differs from probes.yaml; copy it over"
    )


def test_readme_upgrade_commands_parse(in_upgrade_dir: Path):
    lines = code_blocks(section(README, "Before a planned upgrade"))[0]
    commands = dnsmon_commands(lines)
    assert len(commands) == len(lines), f"non-dnsmon lines in the upgrade steps: {lines}"
    verbs = [dry_parse(c).info_name for c in commands]
    assert verbs == ["preflight", "lint", "impact", "watch", "diff"]  # preflight first


def test_every_readme_command_parses(in_upgrade_dir: Path):
    commands = [c for block in code_blocks(README) for c in dnsmon_commands(block)]
    assert len(commands) >= 7, commands
    for command in commands:
        dry_parse(command)


def test_readme_impact_example_runs_against_the_example_config():
    run = dnsmon(EXAMPLE_PROBES, "impact", "--fail", "server:ns1", "--fail", "server:ns2")
    assert run.code in (0, 1, 2), run.stderr
    assert run.stdout.startswith("If server:ns1 and server:ns2 fail"), run.stdout
    as_json = dnsmon(
        EXAMPLE_PROBES, "impact", "--fail", "server:ns1", "--fail", "server:ns2", "--format", "json"
    )
    assert as_json.code == run.code
    assert {"status", "services"} <= set(as_json.json)


def test_readme_lint_example_runs_against_the_example_config():
    run = dnsmon(EXAMPLE_PROBES, "lint")
    assert run.code in (0, 1), run.stderr
