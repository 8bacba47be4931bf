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

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans, MiniBatchKMeans
from sklearn.decomposition import TruncatedSVD

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


@dataclass(frozen=True)
class DerivedTagTree:
    """A derived 2-level tag tree and what it takes to place a new row in it (:func:`fit_derived_tag_tree`).

    Attributes:
        mean, std: column statistics of the standardisation applied to the rows before quantising
            (``std`` with zeros replaced by 1, as :func:`standardise`).
        parents: coarse centroids ``[P, d]`` (parent tags, before empty ones are dropped).
        sub: per coarse centroid, its leaf centroids ``[L_p, d]`` (None when no row fell in it).
        leaf_ids: per coarse centroid, the compact leaf id of each of its sub-centroids (-1: an empty leaf,
            dropped from the tree).
        leaf_of_row: compact leaf of every fitted row ``[n]``.
        parent_of_leaf: compact parent of every compact leaf ``[L]``.
        leaf_centroids: ``[L, d]`` centroids of the compact leaves.
    """

    mean: np.ndarray
    std: np.ndarray
    parents: np.ndarray
    sub: tuple[np.ndarray | None, ...]
    leaf_ids: tuple[np.ndarray | None, ...]
    leaf_of_row: np.ndarray
    parent_of_leaf: np.ndarray
    leaf_centroids: np.ndarray

    def assign(self, x: np.ndarray) -> np.ndarray:
        """Compact leaf ``[n]`` of new rows ``x`` (raw, unstandardised): the leaf a fitted row with these values gets.

        Nearest coarse centroid, then the nearest of its sub-centroids that kept a row; a coarse centroid
        without any leaf (no fitted row fell in it) falls back to the nearest leaf centroid overall.
        """
        z = ((np.asarray(x, dtype=np.float32) - self.mean) / self.std).astype(np.float32)
        coarse = nearest_codewords(z, self.parents, 1)[:, 0]
        out = np.empty(z.shape[0], dtype=np.int32)
        for i, p in enumerate(coarse.tolist()):
            sub, ids = self.sub[p], self.leaf_ids[p]
            if sub is not None and ids is not None and bool((ids >= 0).any()):
                keep = np.flatnonzero(ids >= 0)
                out[i] = ids[keep[nearest_codewords(z[i : i + 1], sub[keep], 1)[0, 0]]]
            else:
                out[i] = nearest_codewords(z[i : i + 1], self.leaf_centroids, 1)[0, 0]
        return out


def fit_derived_tag_tree(x: np.ndarray, num_leaves: int, num_parents: int, seed: int) -> DerivedTagTree:
    """Hierarchical quantisation of rows ``x`` into a 2-level tag tree, kept whole (see :func:`derive_tag_tree`)."""
    x = np.asarray(x, dtype=np.float32)
    mean, std = x.mean(axis=0), x.std(axis=0)
    std = np.where(std > 0, std, 1.0).astype(np.float32)
    x = standardise(x)
    parents = fit_codebook(x, num_parents, seed)
    coarse = nearest_codewords(x, parents, 1)[:, 0]
    sizes = np.bincount(coarse, minlength=parents.shape[0])
    leaf_of_row = np.empty(x.shape[0], dtype=np.int32)
    parent_of_leaf: list[int] = []
    cents: list[np.ndarray] = []
    subs: list[np.ndarray | None] = []
    first: list[int] = []
    for p in range(parents.shape[0]):
        rows = np.flatnonzero(coarse == p)
        if rows.size == 0:
            subs.append(None)
            first.append(-1)
            continue
        want = max(1, round(num_leaves * sizes[p] / x.shape[0]))
        sub = fit_codebook(x[rows], want, seed + 1 + p)
        first.append(len(parent_of_leaf))
        leaf_of_row[rows] = len(parent_of_leaf) + nearest_codewords(x[rows], sub, 1)[:, 0]
        parent_of_leaf.extend([p] * sub.shape[0])
        cents.append(sub)
        subs.append(sub)
    used_leaves, compact = np.unique(leaf_of_row, return_inverse=True)  # drop empty leaves
    parent_ids = np.asarray(parent_of_leaf, dtype=np.int32)[used_leaves]
    _, parent_of_leaf_arr = np.unique(parent_ids, return_inverse=True)  # contiguous parent ids
    centroids = np.concatenate(cents)[used_leaves].astype(np.float32)
    remap = np.full(len(parent_of_leaf), -1, dtype=np.int64)
    remap[used_leaves] = np.arange(used_leaves.shape[0])
    leaf_ids = tuple(None if s is None else remap[f : f + s.shape[0]] for s, f in zip(subs, first, strict=True))
    return DerivedTagTree(mean.astype(np.float32), std, parents, tuple(subs), leaf_ids, compact.astype(np.int32),
                          parent_of_leaf_arr.astype(np.int32), centroids)


def derive_tag_tree(
    x: np.ndarray, num_leaves: int, num_parents: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hierarchical quantisation of rows ``x`` into a 2-level tag tree.

    Returns ``(leaf_of_row [n], parent_of_leaf [L], leaf_centroids [L, d])``: a coarse k-means with
    ``num_parents`` clusters, then within each coarse cluster a k-means with a share of
    ``num_leaves`` proportional to its size (at least one leaf per parent). :func:`fit_derived_tag_tree`
    returns the whole fitted tree, which also places new rows (:meth:`DerivedTagTree.assign`).
    """
    t = fit_derived_tag_tree(x, num_leaves, num_parents, seed)
    return t.leaf_of_row, t.parent_of_leaf, t.leaf_centroids


def group_tags(profiles: np.ndarray, num_parents: int, seed: int) -> np.ndarray:
    """Parent group ``[num_tags]`` for tags given per-tag profile vectors (one-level derived tree)."""
    cents = fit_codebook(standardise(profiles), num_parents, seed)
    return nearest_codewords(standardise(profiles), cents, 1)[:, 0]


LSA_COMPONENTS = 32
"""Dimensions a sparse tag profile is reduced to before clustering (:func:`group_sparse_profiles`)."""


def group_sparse_profiles(profiles: sp.spmatrix, num_parents: int, seed: int) -> np.ndarray:
    """Parent group ``[num_tags]`` of tags from sparse profile rows ``[num_tags, d]`` (tag co-occurrence).

    Latent semantic analysis, then k-means, the usual recipe for clustering sparse count rows: each row is
    L2-normalised (a tag's profile is the direction of its co-occurrences, not how often it occurs), reduced
    to :data:`LSA_COMPONENTS` dimensions by a seeded truncated SVD, normalised again and clustered by
    :func:`fit_codebook`; each tag joins its nearest centroid. Nothing ``num_tags x d`` is ever dense: the cost
    is the profiles' non-zeros times the components.

    :func:`group_tags` (standardised columns, k-means on the rows as they are) is what dense feature profiles
    get. On co-occurrence rows it would densify a tags x tags matrix and, on the synthetic catalogue of
    ``benchmarks/graph_build.py`` (9,749 tags in 97 planted topics), put almost every tag into one group;
    the figures are in ``benchmarks/results/graph_build.json``.
    """
    x = sp.csr_matrix(profiles, dtype=np.float64)
    n = x.shape[0]
    x = sp.csr_matrix(_normalise_rows(x))
    r = min(LSA_COMPONENTS, x.shape[1] - 1, n - 1)
    with np.errstate(invalid="ignore", divide="ignore"):  # explained variance of identical rows is 0 / 0
        # one or two tags (or columns): nothing to reduce
        z = TruncatedSVD(n_components=r, random_state=seed).fit_transform(x) if r >= 2 else x.toarray()
    z = _normalise_rows(z).astype(np.float32)
    cents = fit_codebook(z, num_parents, seed)
    return nearest_codewords(z, cents, 1)[:, 0].astype(np.int64)


def _normalise_rows(x: Any) -> Any:
    """Rows of a dense or CSR matrix scaled to unit L2 norm (all-zero rows stay zero)."""
    if sp.issparse(x):
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return sp.diags(np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)) @ x
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)
