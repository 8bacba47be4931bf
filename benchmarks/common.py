"""Shared bits of the benchmark scripts: where the data is, and running one case in a fresh child process."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("HHFAN_SHARED_DATA", REPO.parent / "shared" / "data"))


def peak_rss_gib() -> float:
    """Peak resident memory of this process in GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def run_child(script: str, case: str, args: list[str]) -> dict[str, Any]:
    """Run ``script --child case *args`` in a fresh interpreter and return the JSON it prints last."""
    proc = subprocess.run([sys.executable, script, "--child", case, *args], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"case {case} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def write_results(path: Path, results: dict[str, Any]) -> None:
    """Write the results JSON and say where."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(f"wrote {path}")
