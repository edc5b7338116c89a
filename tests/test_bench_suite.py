"""``make bench`` runs every bench: each script in bench/ is listed in run_all.py, and
each option its short mode passes is one the script accepts (read from its argparse
declarations, so the check costs no import)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import run_all  # noqa: E402


def test_every_bench_is_run_with_options_it_accepts() -> None:
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_")} - {"run_all"}
    assert scripts == set(run_all.BENCHES)
    for name, (full, short) in run_all.BENCHES.items():
        declared = set(
            re.findall(r'add_argument\(\s*"(--[a-z-]+)"', (BENCH / f"{name}.py").read_text())
        )
        used = {arg for arg in [*full, *short] if arg.startswith("--")}
        assert used <= declared, (name, used - declared)
