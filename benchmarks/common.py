"""Shared bits of the benchmark scripts: where the data is, and running one case in a fresh child process."""

from __future__ import annotations

import csv
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LEDGER = REPO / "benchmarks" / "ledger"
"""The run ledger of the benchmark scripts (:mod:`hhfan.ledger`), committed with the results it backs."""
SHARED = Path(os.environ.get("HHFAN_SHARED_DATA", REPO.parent / "shared" / "data"))


def peak_rss_gib() -> float:
    """Peak resident memory of this process in GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (a loopback server's, or torchrun's rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


# ------------------------------------------------------------------------- real datasets and references
REFERENCE = REPO.parent / "shared" / "reference"
SOURCES = {"ml-1m": ("movielens-1m", SHARED / "ml-1m"), "tiktok": ("tiktok", SHARED / "tiktok-mmssl")}
PAPER_NAMES = {"hhfan": "HHFAN", "fm": "FMHIG", "deepfm": "DeepFM", "neumf": "NeuMF", "graphsage": "GraphSage",
               "pinsage": "PinSage", "semrec": "SemRec", "herec": "HeRec", "han": "HAN", "hetgnn": "HetGNN"}


def ensure_data(dataset: str, root: Path) -> Path:
    """Import ``dataset`` from ../shared/data into ``root/<dataset>/data`` once (never into the repo)."""
    kind, source = SOURCES[dataset]
    data = root / dataset / "data"
    if not data.exists():
        subprocess.run([sys.executable, "-m", "hhfan", "data", "import", kind, "--source", str(source),
                        "--out", str(data)], check=True)
    return data


def paper_table2(dataset: str, model: str = "hhfan") -> dict[str, float]:
    """The paper's Table II row (training rate 0.8) of ``model`` on ``dataset``, if the reference CSV is present."""
    name = {"ml-1m": "MLs", "tiktok": "Tiktok"}[dataset]
    path = REFERENCE / "hhfan_paper_tables.csv"
    if not path.exists() or model not in PAPER_NAMES:
        return {}
    keys = {"Pre": "precision@10", "Rec": "recall@10", "NDCG": "ndcg@10", "AUC": "auc"}
    with open(path) as fh:
        return {keys[r["metric"]]: float(r["value"]) for r in csv.DictReader(fh)
                if r["table"] == "II" and r["dataset"] == name and r["model"] == PAPER_NAMES[model]}


def published_full_ranking(dataset: str) -> dict[str, dict[str, float]]:
    """Published full-ranking numbers on the same TikTok split (LightGCN, MMGCN...)."""
    path = REFERENCE / "published_full_ranking.csv"
    if dataset != "tiktok" or not path.exists():
        return {}
    out: dict[str, dict[str, float]] = {}
    with open(path) as fh:
        for r in csv.DictReader(fh):
            if r["dataset"] == "tiktok-mmssl":
                out.setdefault(r["model"], {})[r["metric"].lower()] = float(r["value"])
    return out


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
        fh.write(text)
    os.replace(fh.name, path)
