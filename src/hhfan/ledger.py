"""The run ledger: a small, committable record of every finished run, so results outlive the machine.

A comparison's run directories (checkpoints, graphs) are large and live outside the repository; a fresh machine
starts without them, and retraining a table of sixteen models costs CPU-hours. The ledger keeps what a results
file is computed from, one JSON file per finished run (a few KB)::

    LEDGER/<model>/<key>.json   key = run_key(config, data fingerprint)

holding the run's resolved config (without threads and device, :func:`hhfan.runner.execution_free`), the data
fingerprint, its test metrics (``metrics.json``), its training log, wall seconds, epochs and seconds per epoch,
and where the figures came from (``source``). :func:`hhfan.compare.run_all` given a ledger takes a run found
there instead of training it (the same config on the same data: the same run), and records each run it trains
or finds finished on disk. The entry is content-addressed, so any comparison that asks for the same run
(another output folder, another machine) finds it; a changed preset, seed or override is another key.

Entries are written atomically and never overwritten with other figures, except that a run trained replaces an
entry backfilled from a results file (which keeps no training log and only some K); an entry whose stored config
differs from the one its key names (a hash collision or a hand edit) is an error.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hhfan.config import to_dict
from hhfan.data.atomic import atomic_file
from hhfan.data.dataset import DatasetError
from hhfan.runner import execution_free

FORMAT = 1
"""Version of the entry layout."""


class LedgerError(DatasetError):
    """A ledger entry that cannot be read or does not match its key."""


@dataclass(frozen=True)
class LedgerEntry:
    """One finished run as the ledger keeps it.

    Attributes:
        model: registered model name.
        seed: ``train.seed`` of the run.
        fingerprint: SHA-256 of the dataset it was trained on (:meth:`hhfan.data.dataset.Dataset.fingerprint`).
        config: the resolved config without threads and device (plain data, :func:`hhfan.config.to_dict`).
        metrics: its test metrics, as ``metrics.json``.
        wall_seconds: training wall seconds (summed over continuations).
        epochs: epochs trained.
        seconds_per_epoch: median seconds per epoch (training + validation).
        train_log: the per-epoch records of ``train_log.jsonl``, or None when only the test figures were kept.
        source: where the figures came from (``"trained"``, or a sentence naming an earlier results file).
        device: ``train.device`` the run was trained on (``""``: not recorded, entries written before this
            field, all on the CPU); not part of the key.
        threads: its ``train.num_threads`` (0: torch's default, or not recorded); not part of the key.
    """

    model: str
    seed: int
    fingerprint: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    wall_seconds: float
    epochs: int
    seconds_per_epoch: float
    train_log: list[dict[str, Any]] | None
    source: str
    device: str = ""
    threads: int = 0

    def to_json(self) -> str:
        """The entry file's text (one JSON object; format :data:`FORMAT`)."""
        return json.dumps({"format": FORMAT, **vars(self)}, separators=(",", ":"), sort_keys=True) + "\n"


def run_key(config: dict[str, Any], fingerprint: str) -> str:
    """Content address of a run: a hash of its execution-free config (plain data) and its data fingerprint."""
    doc = json.dumps({"config": config, "fingerprint": fingerprint}, sort_keys=True)
    return hashlib.sha256(doc.encode()).hexdigest()[:20]


def entry_path(ledger: Path, model: str, config: dict[str, Any], fingerprint: str) -> Path:
    """Where the entry of that run lives: ``LEDGER/<model>/<key>.json``."""
    return Path(ledger) / model / f"{run_key(config, fingerprint)}.json"


def read_entry(path: Path) -> LedgerEntry:
    """Parse one entry file (a clear :class:`LedgerError` naming the file when it is not one)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise LedgerError(f"{path}: unreadable ledger entry ({e}); delete it to retrain that run") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise LedgerError(f"{path}: not a ledger entry of format {FORMAT}; delete it to retrain that run")
    doc.pop("format")
    try:
        return LedgerEntry(**doc)
    except TypeError as e:
        raise LedgerError(f"{path}: ledger entry with missing or unknown fields ({e}); delete it to retrain") from e


def lookup(ledger: Path, model: str, config: dict[str, Any], fingerprint: str) -> LedgerEntry | None:
    """The entry of this run, or None. Its stored config and fingerprint must be the ones asked for."""
    path = entry_path(ledger, model, config, fingerprint)
    if not path.exists():
        return None
    entry = read_entry(path)
    if entry.config != config or entry.fingerprint != fingerprint or entry.model != model:
        raise LedgerError(f"{path}: holds another run than its key names (edited by hand?); delete it to retrain")
    return entry


def entries(ledger: Path, model: str | None = None) -> Iterator[LedgerEntry]:
    """Every entry of the ledger (of ``model`` only, if given), in path order."""
    for path in sorted(Path(ledger).glob(f"{model if model is not None else '*'}/*.json")):
        yield read_entry(path)


def record(ledger: Path, entry: LedgerEntry) -> Path:
    """Write ``entry`` (atomically) unless the ledger already holds that run; return its path.

    An existing entry of the same run keeps its figures (the first run recorded is the one reported), except
    that a trained run replaces an entry backfilled from a results file (``source`` other than ``"trained"``):
    the same config trained again, now with its training log and every K.
    """
    path = entry_path(ledger, entry.model, entry.config, entry.fingerprint)
    found = lookup(ledger, entry.model, entry.config, entry.fingerprint)
    if found is None or (found.source != "trained" and entry.source == "trained"):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp:
            tmp.write_text(entry.to_json(), encoding="utf-8")
    return path


def rekey(ledger: Path, old: str, new: str, why: str) -> tuple[int, int]:
    """Move every entry of data fingerprint ``old`` (a prefix of at least 8 hex digits) to fingerprint ``new``.

    For data that is the same dataset up to float noise, when only its fingerprint changed (an importer whose
    last bits varied with the machine, then made exact): the runs stay findable. Each moved entry's ``source``
    gains ``why``, which must say what differs and how it was checked; an entry already held under the new key
    (trained on the new data) is kept and the old one dropped. Returns ``(moved, dropped)``.
    """
    if len(old) < 8 or len(new) != 64:
        raise ValueError("rekey needs an old fingerprint prefix of >= 8 hex digits and a full new fingerprint")
    moved = dropped = 0
    for e in list(entries(ledger)):
        if not e.fingerprint.startswith(old) or e.fingerprint == new:
            continue
        path = entry_path(ledger, e.model, e.config, e.fingerprint)
        if lookup(ledger, e.model, e.config, new) is None:
            record(ledger, replace(e, fingerprint=new,
                                   source=f"{e.source}; re-keyed from data fingerprint {e.fingerprint[:12]}: {why}"))
            moved += 1
        else:
            dropped += 1
        path.unlink()
    return moved, dropped


def plain_config(cfg: Any) -> dict[str, Any]:
    """A run config as the ledger keys it: :func:`hhfan.runner.execution_free`, then plain data, round-tripped
    through JSON (tuples become lists) so a config read back from an entry compares equal."""
    result: dict[str, Any] = json.loads(json.dumps(to_dict(execution_free(cfg))))
    return result
