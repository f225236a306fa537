"""dnsmon(1): the manual page made from the command tree, as man shows it.

Every verb and option of the CLI is on the page, and groff reads it without a warning.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest

from monitor.cli import cli
from monitor.outputs.manpage import help_text, page

ROOT = Path(__file__).resolve().parent.parent
PAGE = page(cli, "0.1.0", "2026-11-26")


def _shown(roff: str) -> str:
    """The page as ``man`` prints it, in plain text."""
    done = subprocess.run(
        ["groff", "-man", "-Tutf8", "-P-c", "-P-b", "-P-u", "-ww"],
        input=roff, capture_output=True, text=True, timeout=60,
        env={**os.environ, "LC_ALL": "C.UTF-8"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # -ww: every warning groff has
    return done.stdout


def test_the_page_has_the_sections_a_man_page_has() -> None:
    assert PAGE.startswith('.TH DNSMON 1 "2026-11-26" "dnsmon 0.1.0" "User Commands"\n')
    sections = re.findall(r"^\.SH (.+)$", PAGE, re.M)
    assert sections == [
        "NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "ENVIRONMENT",
        "FILES", "SEE ALSO",
    ]  # fmt: skip
    assert re.findall(r"^\.SS \"(\w+)\"$", PAGE, re.M) == list(cli.commands)
    # No line of text that roff would read as a request.
    for line in PAGE.splitlines():
        assert not line.startswith(("'", ". ")), line


@pytest.mark.skipif(shutil.which("groff") is None, reason="needs groff")
def test_man_shows_every_verb_option_exit_code_and_the_environment() -> None:
    shown = _shown(PAGE)
    assert "dnsmon - which services and backups still work" in shown
    for verb, command in cli.commands.items():
        assert re.search(rf"^ {{3}}{verb}$", shown, re.M), f"no section for {verb}"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.opts[-1] in shown, f"{verb} {param.opts[-1]}"
    for code in "0123":
        assert re.search(rf"^ {{7}}{code} ", shown, re.M), f"exit status {code}"
    assert "DNSMON_CONFIG" in shown and "probes.yaml" in shown
    # The examples keep their lines, and their options a real minus to copy.
    assert "dnsmon --config probes.yaml check --service ehr\n" in shown
    assert "\u2010" not in shown and "\u2212" not in shown


def test_help_blocks_keep_their_lines_and_paragraphs_are_filled() -> None:
    text = "First line\ngoes on.\n\n\b\nExample:\n    dnsmon check\n    .hidden\n"
    assert help_text(text) == [
        ".PP", "First line goes on.",
        ".PP", ".nf", "Example:", "    dnsmon check", "    .hidden", ".fi",
    ]  # fmt: skip
    assert help_text("\b\n.starts with a dot\n") == [".PP", ".nf", "\\&.starts with a dot", ".fi"]


def test_backslashes_and_minus_signs_are_escaped() -> None:
    assert help_text("a\\b --flag") == [".PP", "a\\eb \\-\\-flag"]


@pytest.mark.skipif(shutil.which("groff") is None, reason="needs groff")
def test_scripts_manpage_prints_the_page(tmp_path: Path) -> None:
    """The script, with a stand-in for the checkout's .venv: this Python and this checkout."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    for name in ("python", "python3"):
        stand_in = venv / "bin" / name
        stand_in.write_text(f'#!/bin/sh\nPYTHONPATH="{ROOT}" exec "{sys.executable}" "$@"\n')
        stand_in.chmod(0o755)
    checksum = (
        subprocess.run(
            ["cksum"], input=(ROOT / "pyproject.toml").read_bytes(), capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
        .replace(" ", "-")
    )
    (venv / ".dnsmon-installed").write_text(f"{checksum} \n")  # installed: no pip run
    done = subprocess.run(
        [str(ROOT / "scripts" / "manpage")],
        env={**os.environ, "DNSMON_VENV": str(venv), "SOURCE_DATE_EPOCH": "1795651200"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('.TH DNSMON 1 "2026-11-26" "dnsmon ')
    assert "check" in _shown(done.stdout)
