"""Turning continuous video features into shared attribute nodes (HHFAN §III-C, DESIGN §4).

The paper's M-HIG has image, audio and text *nodes* that videos share ("co-occurrence
relationships"), but real datasets ship one feature vector per video. We quantise each modality
with k-means into a codebook: codeword j becomes an attribute node whose feature is the centroid,
and a video links to its ``links`` nearest codewords. Videos that look or sound alike then share
nodes, which is what lets a random walk hop between them through content.

A tag tree is derived the same way where a dataset has none (hierarchical quantisation): a coarse
k-means gives parent tags, a k-means inside each coarse cluster gives leaf tags.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

FIT_SAMPLE = 50_000  # rows used to fit a codebook; prediction always covers every row


def standardise(x: np.ndarray) -> np.ndarray:
    """Zero-mean, unit-variance columns (float32); constant columns stay zero."""
    x = np.asarray(x, dtype=np.float32)
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


def fit_codebook(x: np.ndarray, k: int, seed: int) -> np.ndarray:
    """k-means centroids ``[k', d]`` of ``x`` with ``k' = min(k, distinct rows)``; deterministic for a seed.

    Large inputs are fitted on a seeded sample of :data:`FIT_SAMPLE` rows with mini-batch k-means,
    which keeps a Kwai-scale catalogue to seconds.
    """
    x = np.asarray(x, dtype=np.float32)
    k = max(1, min(k, np.unique(x[: 4 * k + 1000], axis=0).shape[0], x.shape[0]))
    if x.shape[0] > FIT_SAMPLE:
        rng = np.random.default_rng(seed)
        sample = x[rng.choice(x.shape[0], FIT_SAMPLE, replace=False)]
        km: KMeans | MiniBatchKMeans = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3,
                                                       batch_size=4096)
        km.fit(sample)
    else:
        km = KMeans(n_clusters=k, random_state=seed, n_init=3)
        km.fit(x)
    return np.asarray(km.cluster_centers_, dtype=np.float32)


def nearest_codewords(x: np.ndarray, centroids: np.ndarray, links: int, chunk: int = 65_536) -> np.ndarray:
    """Indices ``[n, links]`` of each row's nearest centroids (Euclidean), nearest first."""
    links = min(links, centroids.shape[0])
    c2 = (centroids**2).sum(axis=1)
    out = np.empty((x.shape[0], links), dtype=np.int32)
    for s in range(0, x.shape[0], chunk):
        xb = np.asarray(x[s : s + chunk], dtype=np.float32)
        d = c2[None, :] - 2.0 * xb @ centroids.T
        part = np.argpartition(d, links - 1, axis=1)[:, :links] if links < d.shape[1] else np.tile(
            np.arange(d.shape[1]), (d.shape[0], 1))
        order = np.take_along_axis(d, part, axis=1).argsort(axis=1, kind="stable")
        out[s : s + chunk] = np.take_along_axis(part, order, axis=1)
    return out


def derive_tag_tree(
    x: np.ndarray, num_leaves: int, num_parents: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hierarchical quantisation of rows ``x`` into a 2-level tag tree.

    Returns ``(leaf_of_row [n], parent_of_leaf [L], leaf_centroids [L, d])``: a coarse k-means with
    ``num_parents`` clusters, then within each coarse cluster a k-means with a share of
    ``num_leaves`` proportional to its size (at least one leaf per parent).
    """
    x = standardise(x)
    parents = fit_codebook(x, num_parents, seed)
    coarse = nearest_codewords(x, parents, 1)[:, 0]
    sizes = np.bincount(coarse, minlength=parents.shape[0])
    leaf_of_row = np.empty(x.shape[0], dtype=np.int32)
    parent_of_leaf: list[int] = []
    cents: list[np.ndarray] = []
    for p in range(parents.shape[0]):
        rows = np.flatnonzero(coarse == p)
        if rows.size == 0:
            continue
        want = max(1, round(num_leaves * sizes[p] / x.shape[0]))
        sub = fit_codebook(x[rows], want, seed + 1 + p)
        leaf_of_row[rows] = len(parent_of_leaf) + nearest_codewords(x[rows], sub, 1)[:, 0]
        parent_of_leaf.extend([p] * sub.shape[0])
        cents.append(sub)
    used_leaves, compact = np.unique(leaf_of_row, return_inverse=True)  # drop empty leaves
    parent_ids = np.asarray(parent_of_leaf, dtype=np.int32)[used_leaves]
    _, parent_of_leaf_arr = np.unique(parent_ids, return_inverse=True)  # contiguous parent ids
    centroids = np.concatenate(cents)[used_leaves].astype(np.float32)
    return compact.astype(np.int32), parent_of_leaf_arr.astype(np.int32), centroids


def group_tags(profiles: np.ndarray, num_parents: int, seed: int) -> np.ndarray:
    """Parent group ``[num_tags]`` for tags given per-tag profile vectors (one-level derived tree)."""
    cents = fit_codebook(standardise(profiles), num_parents, seed)
    return nearest_codewords(standardise(profiles), cents, 1)[:, 0]
