"""Every benchmark in one go: ``make bench`` (the full sizes the README quotes) or
``make bench SHORT=1`` (small sizes: a few minutes in all, to see that each still runs
and roughly where it stands — not figures to quote).

Each bench runs in its own process, one after another (they measure the machine), and a
failing bench does not stop the rest; the exit status says whether all succeeded.

    python bench/run_all.py [--short] [--only NAME[,NAME…]]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (full arguments, short arguments); a bench not listed here fails the test.
BENCHES: dict[str, tuple[list[str], list[str]]] = {
    "policy_lookup": ([], ["--requests", "200", "--warmup", "20", "--rounds", "1"]),
    "survey_figures": ([], ["--responses", "5000"]),
    "visit_planning": ([], ["--policies", "5000"]),
    "risk_nightly": ([], ["--claims", "20000"]),
    "assistant": ([], ["--rounds", "3", "--entries", "500"]),
    "complaint_warm_up": ([], ["--runs", "1"]),
    "claim_uploads": ([], ["--uploads", "4", "--size-mb", "2"]),
    "payment_callbacks": ([], ["--orders", "50", "--duplicates", "2", "--warmup", "8"]),
    "notification_fanout": (
        [],
        ["--connections", "100", "--rounds", "1", "--baseline", "5", "--scenarios", "one"],
    ),
    "ws_memory": ([], ["--connections", "500"]),
    "load": (
        [],
        [
            "--levels",
            "1,4,8",
            "--step-seconds",
            "3",
            "--overload-seconds",
            "5",
            "--soak-seconds",
            "5",
            "--churn-seconds",
            "5",
            "--flood-seconds",
            "5",
            "--flood-connections",
            "1000",
        ],
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--only", default="", help="comma-separated bench names")
    args = parser.parse_args()
    chosen = [name for name in args.only.split(",") if name] or list(BENCHES)
    unknown = set(chosen) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benches: {', '.join(sorted(unknown))}")
    failed = []
    for name in chosen:
        full, short = BENCHES[name]
        command = [sys.executable, str(HERE / f"{name}.py"), *(short if args.short else full)]
        print(f"\n===== {name} {' '.join(command[2:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.call(command)
        print(f"===== {name}: exit {code} after {time.perf_counter() - started:.0f} s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
