"""The paper's published numbers (Cai et al., IEEE TMM 2022, §IV) and what differs from our setting.

``paper_tables.csv`` beside this module is a verbatim copy of ``shared/reference/hhfan_paper_tables.csv``:
Tables II, III and IV (training rates 0.8, 0.6, 0.4; K = 10; the sampled protocol), values as printed, typos
included (one AUC reads 0.74931, one 0.67915, HeRec's Kwai AUC at 0.4 reads 0.3242). It ships with the
package so that every experiment can put the paper's row beside ours without the shared folder; a test
checks that it equals the shared copy whenever that is present.

Nothing here is estimated: every number is one the paper prints (Table I for the dataset sizes).
"""

from __future__ import annotations

import csv
import io
from functools import cache
from importlib import resources

PAPER_DATASETS: tuple[str, ...] = ("Kwai", "Tiktok", "MLs")
"""Dataset names as the paper's tables print them."""

DATASET_OF: dict[str, str] = {"ml-1m": "MLs", "movielens-1m": "MLs", "tiktok": "Tiktok", "kwai": "Kwai"}
"""Our dataset name (``dataset.json``'s ``name``) -> the paper's; a synthetic world has no counterpart."""

TABLE_OF_RATE: dict[float, str] = {0.8: "II", 0.6: "III", 0.4: "IV"}
"""Training rate -> the paper's table."""

PAPER_MODEL: dict[str, str] = {
    "hhfan": "HHFAN", "fm": "FMHIG", "deepfm": "DeepFM", "neumf": "NeuMF", "graphsage": "GraphSage",
    "pinsage": "PinSage", "mmgcn": "MMGCN", "semrec": "SemRec", "herec": "HeRec", "han": "HAN", "hetgnn": "HetGNN",
}
"""Our registry name -> the paper's column. Only the paper's model ``hhfan`` maps to HHFAN: no variant
(``hhfan-hybrid`` ...) ever gets the paper's HHFAN row."""

METRIC_OF: dict[str, str] = {"Pre": "precision@10", "Rec": "recall@10", "NDCG": "ndcg@10", "AUC": "auc"}
"""The paper's metric names -> ours (all under the sampled protocol)."""

PAPER_SIZES: dict[str, dict[str, int]] = {
    "Kwai": {"users": 169_878, "videos": 310_681, "interactions": 775_834_643},
    "Tiktok": {"users": 3_656, "videos": 7_085, "interactions": 1_253_112},
    "MLs": {"users": 6_040, "videos": 3_706, "interactions": 1_000_209},
}
"""Table I of the paper (as printed)."""

CHOSEN: dict[str, int] = {"depth": 6, "dim": 250, "neighbors": 35}
"""§IV-F: the values the paper settles on (depth of sampling 6, d = 250, 35 sampled neighbours)."""

PROTOCOL_NOTES: tuple[str, ...] = (
    "Sampled protocol (ours): all of a user's test positives are ranked together among one set of 1000 "
    "never-seen videos drawn per user; the paper says it pairs 'each observed user-item pair with 1000 "
    "unobserved micro-videos', which may mean 1000 negatives per positive.",
    "NDCG (ours): the standard ideal-DCG normaliser (the best DCG reachable with min(#positives, K) hits); "
    "MMGCN's code, whose metrics the paper cites, divides by the number of positives instead, so the "
    "paper's NDCG may use another normaliser.",
    "Split (ours): per-user random holdout of (1 - training rate) of each user's interactions for test, "
    "then 10% of the rest for validation (early stopping); the paper holds out test the same way but tunes "
    "by cross-validation on the training set.",
    "Full ranking (ours only; the paper reports none): every video except the user's training and "
    "validation interactions is a candidate.",
)
"""What differs between our protocol and the paper's, stated once for every comparison."""


@cache
def _rows() -> tuple[dict[str, str], ...]:
    text = resources.files("hhfan.experiments").joinpath("paper_tables.csv").read_text(encoding="utf-8")
    return tuple(csv.DictReader(io.StringIO(text)))


def paper_dataset(name: str) -> str | None:
    """The paper's name of our dataset ``name`` (``ml-1m`` -> ``MLs``), a paper name itself, or None."""
    if name in PAPER_DATASETS:
        return name
    return DATASET_OF.get(name.lower())


def paper_row(dataset: str, model: str, rate: float) -> dict[str, float]:
    """The paper's numbers for our ``model`` on the paper's ``dataset`` at ``rate``: ``{metric: value}``.

    Empty when the paper has no such row (a model it did not run, a variant, a rate outside 0.8/0.6/0.4,
    MMGCN on Tiktok and MLs, which the paper prints as '—').
    """
    table = TABLE_OF_RATE.get(round(rate, 4))
    name = PAPER_MODEL.get(model)
    if table is None or name is None or dataset not in PAPER_DATASETS:
        return {}
    return {METRIC_OF[r["metric"]]: float(r["value"]) for r in _rows()
            if r["table"] == table and r["dataset"] == dataset and r["model"] == name}


def paper_reference_text() -> str:
    """The shipped copy of the reference CSV, as text (for the equality test with the shared copy)."""
    return resources.files("hhfan.experiments").joinpath("paper_tables.csv").read_text(encoding="utf-8")
