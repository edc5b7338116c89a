"""pip-audit of the runtime lock: a known vulnerability fails; an audit that cannot
reach the advisory service, or packages it does not know, are reported, not hidden.

Run by ``make audit`` (part of ``make lint``) and by ``.ci/run``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"


def main() -> int:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(LOCK),
        "--no-deps",  # the lock pins every package already
        "--disable-pip",
        "--progress-spinner",
        "off",
        "--format",
        "json",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        tail = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"pip-audit could not complete (advisory service unreachable?): {tail[0]}")
        return 0
    found = [d for d in report["dependencies"] if d.get("vulns")]
    skipped = [d for d in report["dependencies"] if d.get("skip_reason")]
    audited = len(report["dependencies"]) - len(skipped)
    for dependency in found:
        for vuln in dependency["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
            print(f"{dependency['name']} {dependency['version']}: {vuln['id']} (fixed in {fixes})")
    print(
        f"pip-audit: {audited} packages audited, {len(found)} with known vulnerabilities, "
        f"{len(skipped)} unknown to the advisory service"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
