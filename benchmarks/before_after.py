"""Whole ``dnsmon lint`` and ``dnsmon impact`` from an earlier commit and from this tree,
run in turns with the same Python on the same config, so a speed-up is told apart from the
machine's drift between runs (about 15 % on the test machine).

    .venv/bin/python benchmarks/before_after.py REV [--runs 5]

REV is checked out into a temporary git worktree; each command runs as a fresh process
from that tree, then from this one, ``--runs`` times; medians and ranges are printed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from benchmarks.workloads import big_config, run_timed  # noqa: E402

IMPACT = ["impact", "--fail", "server:ns1", "--fail", "server:ns2"]
COMMANDS = {
    "lint --format json": ["lint", "--format", "json"],
    "lint (text)": ["lint"],
    "impact --format json": [*IMPACT, "--format", "json"],
    "impact (text)": IMPACT,
}


def run(tree: Path, config: Path, args: list[str]) -> tuple[float, float]:
    """(wall, CPU) of one whole command run from ``tree``'s code, output to a file."""
    with tempfile.TemporaryFile() as out:
        # ``-c`` puts the working directory first on sys.path: the tree's own package.
        wall, cpu, _ = run_timed(
            [sys.executable, "-c", "from monitor.cli import main; main()",
             "--config", str(config), *args],
            cwd=tree, stdout=out, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    return wall, cpu


def compare(old: Path, config: Path, runs: int) -> None:
    for label, args in COMMANDS.items():
        rows: dict[str, list[tuple[float, float]]] = {"before": [], "now": []}
        for _ in range(runs):
            rows["before"].append(run(old, config, args))
            rows["now"].append(run(HERE, config, args))
        cpu = {tag: sorted(r[1] for r in found) for tag, found in rows.items()}
        before, now = statistics.median(cpu["before"]), statistics.median(cpu["now"])
        print(f"  {label:<22} CPU before {before:.2f} s ({cpu['before'][0]:.2f}–"
              f"{cpu['before'][-1]:.2f}), now {now:.2f} s ({cpu['now'][0]:.2f}–"
              f"{cpu['now'][-1]:.2f}): {now / before:.2f}×")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rev", help="the earlier commit")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(HERE), "worktree", "add", "-q", "--detach", str(old),
                        options.rev], check=True)  # fmt: skip
        try:
            config = Path(tmp) / "probes.yaml"
            config.write_text(big_config(services=10_000, names=30_000, servers=8))
            print(f"before: {options.rev}; now: this tree; 10,000 services, 30,000 names,"
                  f" 8 servers; {options.runs} runs each, in turns")  # fmt: skip
            compare(old, config, options.runs)
        finally:
            subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(old)],
                           check=False)  # fmt: skip


if __name__ == "__main__":
    main()
