"""Descriptive statistics of a dataset (``hhfan data stats``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from hhfan.data.dataset import SPLIT_NAMES, Dataset

QUANTILES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)


def _quantiles(x: np.ndarray) -> dict[str, float]:
    return {f"q{int(q * 100)}": float(np.quantile(x, q)) for q in QUANTILES} | {"mean": float(x.mean())}


def dataset_stats(ds: Dataset) -> dict[str, Any]:
    """Counts per node and edge type, density, and interactions-per-user/video quantiles."""
    it = ds.interactions
    per_user = np.bincount(it.user, minlength=ds.num_users)
    per_video = np.bincount(it.video, minlength=ds.num_videos)
    attr_values = {c: len(np.unique(np.asarray(v).astype(str))) for c, v in ds.user_attributes.items()}
    out: dict[str, Any] = {
        "name": ds.name,
        "synthetic": ds.synthetic,
        "nodes": {
            "users": ds.num_users,
            "videos": ds.num_videos,
            "tags": ds.num_tags,
            "user_attribute_values": int(sum(attr_values.values())),
        },
        "edges": {
            "interactions": len(it),
            "video_tags": int(ds.video_tags.shape[0]),
            "user_tags": int(ds.user_tags.shape[0]),
            "tag_tree": int(ds.tag_tree.shape[0]),
            "user_attributes": int(sum((np.asarray(v).astype(str) != "").sum() for v in ds.user_attributes.values())),
        },
        "density": len(it) / (ds.num_users * ds.num_videos),
        "features": {m: list(ds.features[m].shape) for m in ds.modalities},
        "user_attributes": attr_values,
        "has_texts": ds.video_texts is not None,
        "has_timestamps": it.timestamp is not None,
        "interactions_per_user": _quantiles(per_user),
        "interactions_per_video": _quantiles(per_video),
        "videos_without_interactions": int((per_video == 0).sum()),
    }
    if it.split is not None:
        counts = np.bincount(it.split, minlength=3)
        out["predefined_split"] = {name: int(counts[i]) for i, name in enumerate(SPLIT_NAMES)}
    return out
