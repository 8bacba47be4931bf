"""The benchmark scripts' run ledger (``benchmarks/ledger``, :mod:`hhfan.ledger`): list it, or fill it from results.

    python benchmarks/ledger.py list
    python benchmarks/ledger.py backfill --results benchmarks/results/cold_tiktok.json --dataset tiktok
    python benchmarks/ledger.py rekey --dataset ml-1m --old c812178d --why "what differs, how it was checked"

``backfill`` records, for every model and seed of a results file written by ``benchmarks/cold.py`` or
``benchmarks/compare.py``, the per-seed test metrics it holds under the config that model and seed resolve to
now (the file's ``configs`` folder and ``overrides``, the seed): the run that produced them, since those
scripts refuse a run directory of any other config. What a results file does not keep is marked: the entry has
no training log, its wall time is the model's mean over its seeds, and its ``source`` names the file and the
commit that last wrote it. Use it only with a results file written at the presets of the current commit.

``rekey`` moves the entries of an old data fingerprint to the dataset's fingerprint as imported now
(:func:`hhfan.ledger.rekey`), for an import that changed only at float-noise level; ``--why`` is appended to
each entry's ``source``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from common import LEDGER, REPO, SOURCES, ensure_data


def _commit(path: Path) -> str:
    out = subprocess.run(["git", "log", "-1", "--format=%h", "--", str(path)], cwd=REPO, capture_output=True,
                         text=True, check=False)
    return out.stdout.strip() or "uncommitted"


def backfill(results: Path, dataset: str, runs: Path, ledger: Path) -> int:
    """Record every (model, seed) of ``results`` in ``ledger``; return how many entries were new."""
    from hhfan.compare import run_config
    from hhfan.data.io import read_dataset
    from hhfan.ledger import LedgerEntry, entry_path, plain_config, record

    doc = json.loads(results.read_text())
    configs, overrides = REPO / doc["configs"], list(doc.get("overrides", []))
    if configs.name != dataset:
        raise SystemExit(f"{results}: written with {doc['configs']}, not configs/{dataset}")
    fp = read_dataset(ensure_data(dataset, runs)).fingerprint()
    where = f"{results.relative_to(REPO) if results.is_relative_to(REPO) else results} at {_commit(results)}"
    new = 0
    for model, r in doc["results"].items():
        for i, seed in enumerate(r["seeds"]):
            cfg = plain_config(run_config(model, int(seed), configs, overrides))
            if entry_path(ledger, model, cfg, fp).exists():
                continue
            record(ledger, LedgerEntry(model, int(seed), fp, cfg, r["per_seed"][str(seed)],
                                       float(r["train_wall_seconds"]["mean"]), int(r["epochs"][i]),
                                       float(r["seconds_per_epoch"]), None,
                                       f"backfilled from {where}: its per-seed test metrics (K 10 and 20); no "
                                       "training log; wall seconds are the model's mean over its seeds"))
            new += 1
    return new


def main() -> None:
    """List the ledger, or backfill it from a results file."""
    from hhfan.ledger import entries, entry_path

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=("list", "backfill", "rekey"))
    ap.add_argument("--ledger", type=Path, default=LEDGER)
    ap.add_argument("--results", type=Path)
    ap.add_argument("--dataset", choices=sorted(SOURCES))
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "compare", help="where the data is imported")
    ap.add_argument("--old", help="rekey: the old data fingerprint (a prefix of >= 8 hex digits)")
    ap.add_argument("--why", help="rekey: what differs between the old and the new data, and how it was checked")
    a = ap.parse_args()
    if a.action == "rekey":
        from hhfan.data.io import read_dataset
        from hhfan.ledger import rekey

        if a.dataset is None or not a.old or not a.why:
            raise SystemExit("rekey needs --dataset NAME, --old FINGERPRINT and --why TEXT")
        new = read_dataset(ensure_data(a.dataset, a.runs)).fingerprint()
        moved, dropped = rekey(a.ledger, a.old, new, a.why)
        print(f"{moved} entries re-keyed to {new[:12]}, {dropped} dropped (already held for the new data)")
        return
    if a.action == "backfill":
        if a.results is None or a.dataset is None:
            raise SystemExit("backfill needs --results FILE and --dataset NAME")
        print(f"{backfill(a.results.resolve(), a.dataset, a.runs, a.ledger)} new entries in {a.ledger}")
        return
    for e in entries(a.ledger):
        path = entry_path(a.ledger, e.model, e.config, e.fingerprint)
        split = e.config["split"]
        print(f"{e.model:14s} seed {e.seed}  split {split['kind']:10s} rate {split['training_rate']:<4g} "
              f"{e.epochs:3d} epochs {e.wall_seconds:7.0f} s  {e.source[:40]}  {path.relative_to(a.ledger)}")


if __name__ == "__main__":
    main()
