"""The modality-aware heterogeneous information graph, M-HIG (HHFAN §III-C).

``G = (N, E, TE_N, TE_E)`` with node types user, video, image, audio, text, tag (the paper's four
attribute types) plus ``user_attr`` (categorical user attributes such as gender or age), and edge
types interaction ``I``, video-attribute ``E_va``, user-attribute ``E_ua``, video-tag ``E_vt``,
user-tag ``E_ut`` and tag-tag inclusion ``E_tt``.

* Built from **training interactions only**: validation and test pairs are never edges, so no walk
  can reach them through the interaction they hold out.
* Global node ids are contiguous per type, in :data:`NODE_TYPES` order (users first, then videos,
  ...); ``type_offsets[t]`` is the first id of type ``t``. A type a dataset lacks has zero nodes.
* One CSR adjacency (``indptr`` int64, ``indices`` int32, undirected: both directions stored,
  neighbours sorted) serves the compiled sampler; the edge type of an edge is implied by its
  endpoint types (each pair of types has at most one relation).
* Continuous features become shared image/audio/text nodes by k-means quantisation
  (:mod:`hhfan.graph.quantize`). Where a dataset has no tag tree one is derived and
  :attr:`HeteroGraph.tag_tree_derived` says so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from hhfan.data.atomic import atomic_file
from hhfan.data.dataset import Dataset, DatasetError
from hhfan.data.split import TRAIN, Split
from hhfan.graph import quantize

NODE_TYPES: tuple[str, ...] = ("user", "video", "image", "audio", "text", "tag", "user_attr")
MODALITY_NODE: dict[str, str] = {"visual": "image", "acoustic": "audio", "textual": "text"}
ATTRIBUTE_TYPES: tuple[str, ...] = ("image", "audio", "text", "tag", "user_attr")
RELATIONS: dict[tuple[str, str], str] = {
    ("user", "video"): "interaction",
    ("video", "image"): "video_attr",
    ("video", "audio"): "video_attr",
    ("video", "text"): "video_attr",
    ("user", "user_attr"): "user_attr",
    ("video", "tag"): "video_tag",
    ("user", "tag"): "user_tag",
    ("tag", "tag"): "tag_tag",
}


@dataclass(frozen=True)
class GraphConfig:
    """How the M-HIG is built.

    Attributes:
        codewords: codebook size per modality (capped at ``num_videos // 4``); one node per codeword.
        links_per_video: each video links to this many nearest codewords per modality ("its
            nearest codeword or few"): 2 lets a walk cross between neighbouring clusters.
        derived_tags: number of leaf tags when tags must be derived from features.
        derived_tag_parents: parent tags of a derived tree; 0 = ``round(sqrt(#leaf tags))``.
        seed: seed of every k-means.
    """

    codewords: int = 64
    links_per_video: int = 2
    derived_tags: int = 64
    derived_tag_parents: int = 0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("codewords", "links_per_video", "derived_tags"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.derived_tag_parents < 0:
            raise ValueError("derived_tag_parents must be >= 0")


@dataclass(frozen=True)
class HeteroGraph:
    """An M-HIG in CSR form plus what later stages need to interpret node ids.

    Attributes:
        type_offsets: int64 ``[len(NODE_TYPES)+1]``; nodes of type t are ``offsets[t]..offsets[t+1]-1``.
        indptr, indices: CSR adjacency over all nodes (see module docstring).
        node_type: int8 ``[num_nodes]`` type code of every node.
        node_features: type name -> float32 ``[count, d]`` features of attribute nodes that have
            them (codeword centroids for image/audio/text, leaf centroids for derived tags).
        node_names: type name -> ``[count]`` readable names (tags, ``col=value`` attributes, codewords).
        tag_tree: int32 ``[m, 2]`` type-local (parent, child) tag pairs: the direction the
            undirected CSR does not keep.
        tag_tree_derived: True when the tag tree (or all tags) came from hierarchical quantisation.
        fingerprint: the dataset fingerprint this graph was built from.
    """

    type_offsets: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    node_type: np.ndarray
    node_features: dict[str, np.ndarray]
    node_names: dict[str, np.ndarray]
    tag_tree: np.ndarray
    tag_tree_derived: bool
    fingerprint: str

    @property
    def num_nodes(self) -> int:
        """Total number of nodes."""
        return int(self.type_offsets[-1])

    @property
    def num_edges(self) -> int:
        """Number of undirected edges (each stored twice in the CSR)."""
        return int(self.indices.shape[0]) // 2

    def count(self, node_type: str) -> int:
        """Number of nodes of ``node_type``."""
        t = NODE_TYPES.index(node_type)
        return int(self.type_offsets[t + 1] - self.type_offsets[t])

    def offset(self, node_type: str) -> int:
        """First global id of ``node_type``."""
        return int(self.type_offsets[NODE_TYPES.index(node_type)])

    def edge_counts(self) -> dict[str, int]:
        """Undirected edge count per relation (``interaction``, ``video_attr`` ...)."""
        src = np.repeat(self.node_type, np.diff(self.indptr))
        dst = self.node_type[self.indices]
        pair = src.astype(np.int16) * len(NODE_TYPES) + dst
        counts = np.bincount(pair, minlength=len(NODE_TYPES) ** 2)
        out: dict[str, int] = {}
        for (a, b), rel in RELATIONS.items():
            n = int(counts[NODE_TYPES.index(a) * len(NODE_TYPES) + NODE_TYPES.index(b)])
            out[rel] = out.get(rel, 0) + (n // 2 if a == b else n)
        return out

    def save(self, path: Path) -> None:
        """Write the graph to one ``.npz`` file, atomically (temporary file, then rename)."""
        arrays: dict[str, np.ndarray] = {
            "type_offsets": self.type_offsets, "indptr": self.indptr, "indices": self.indices,
            "node_type": self.node_type, "tag_tree": self.tag_tree,
        }
        for t, f in self.node_features.items():
            arrays[f"features.{t}"] = f
        for t, nm in self.node_names.items():
            arrays[f"names.{t}"] = np.asarray(nm, dtype=str)
        meta = {"node_types": list(NODE_TYPES), "tag_tree_derived": self.tag_tree_derived,
                "fingerprint": self.fingerprint}
        with atomic_file(Path(path)) as tmp, open(tmp, "wb") as fh:
            arrays["meta"] = np.array(json.dumps(meta))
            np.savez(fh, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> HeteroGraph:
        """Read a graph written by :meth:`save`; a damaged or foreign file is a clear error."""
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta["node_types"] != list(NODE_TYPES):
                    raise ValueError(f"node types {meta['node_types']} differ from {list(NODE_TYPES)}")
                feats = {k.split(".", 1)[1]: z[k] for k in z.files if k.startswith("features.")}
                names = {k.split(".", 1)[1]: z[k].astype(object) for k in z.files if k.startswith("names.")}
                g = cls(z["type_offsets"], z["indptr"], z["indices"], z["node_type"], feats, names,
                        z["tag_tree"], bool(meta["tag_tree_derived"]), str(meta["fingerprint"]))
        except Exception as e:  # OSError, KeyError, BadZipFile, zlib.error, EOFError... of a damaged file
            raise DatasetError(f"{path}: not a readable hhfan graph ({type(e).__name__}: {e}); rebuild it with "
                               "`hhfan graph build`") from e
        if g.indptr.shape[0] != g.num_nodes + 1 or g.indptr[-1] != g.indices.shape[0]:
            raise DatasetError(f"{path}: inconsistent CSR arrays; rebuild it with `hhfan graph build`")
        return g

    def edges_between(self, a: str, b: str) -> np.ndarray:
        """Type-local endpoint pairs ``[m, 2]`` of the relation between types ``a`` and ``b`` (a -> b)."""
        ta, tb = NODE_TYPES.index(a), NODE_TYPES.index(b)
        lo, hi = self.type_offsets[ta], self.type_offsets[ta + 1]
        src = np.repeat(np.arange(lo, hi, dtype=np.int64), np.diff(self.indptr[lo : hi + 1]))
        dst = self.indices[self.indptr[lo] : self.indptr[hi]].astype(np.int64)
        keep = self.node_type[dst] == tb
        if a == b:
            keep &= src < dst
        return np.stack([src[keep] - lo, dst[keep] - self.type_offsets[tb]], axis=1)


def fit_derived_tags(ds: Dataset, cfg: GraphConfig) -> quantize.DerivedTagTree | None:
    """The derived tag tree of a dataset without any tag but with features (None otherwise).

    Hierarchical quantisation (:func:`~hhfan.graph.quantize.fit_derived_tag_tree`) of the concatenated
    standardised modality features; deterministic for ``cfg.seed``, so a later call (placing a new video,
    :mod:`hhfan.inductive`) recovers the tree the graph was built with.
    """
    if ds.num_tags or not ds.modalities:
        return None
    x = np.concatenate([quantize.standardise(ds.features[m]) for m in ds.modalities], axis=1)
    num_parents = cfg.derived_tag_parents or max(2, round(np.sqrt(cfg.derived_tags)))
    return quantize.fit_derived_tag_tree(x, cfg.derived_tags, num_parents, cfg.seed)


def _tags(ds: Dataset, cfg: GraphConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool,
                                                  np.ndarray | None]:
    """Tag names, video-tag pairs, user-tag pairs, tag-tree pairs, derived flag, tag node features."""
    if ds.num_tags and ds.tag_tree.size:
        return ds.tag_names, ds.video_tags, ds.user_tags, ds.tag_tree, False, None
    feats = [quantize.standardise(ds.features[m]) for m in ds.modalities]
    if ds.num_tags:
        # Real tags, no tree: group the tags by their profile (mean features of their videos, or
        # their co-occurrence pattern when there are no features) under derived parent tags.
        nt = ds.num_tags
        vt = ds.video_tags
        member = sp.csr_matrix((np.ones(vt.shape[0], np.float32), (vt[:, 1], vt[:, 0])), shape=(nt, ds.num_videos))
        sizes = np.maximum(np.asarray(member.sum(axis=1)).ravel(), 1.0)
        num_parents = cfg.derived_tag_parents or max(2, round(np.sqrt(nt)))
        if feats:  # [tags, feature dims]: dense and small
            profiles = np.asarray(member @ np.concatenate(feats, axis=1)) / sizes[:, None]
            group = quantize.group_tags(profiles, min(num_parents, nt), cfg.seed)
        else:  # [tags, tags] co-occurrence, as sparse as the tags are: never densified
            cooc = sp.csr_matrix(member @ member.T.tocsr(), dtype=np.float32)
            cooc.data /= np.repeat(sizes, np.diff(cooc.indptr))  # row i / |videos of tag i|
            group = quantize.group_sparse_profiles(cooc, min(num_parents, nt), cfg.seed)
        parents = np.unique(group)
        pnames = np.array([f"derived:group{p}" for p in range(parents.shape[0])], dtype=object)
        names = np.concatenate([ds.tag_names, pnames])
        tree = np.stack([nt + np.searchsorted(parents, group), np.arange(nt)], axis=1).astype(np.int32)
        return names, ds.video_tags, ds.user_tags, tree, True, None
    if not feats:
        empty = np.empty((0, 2), dtype=np.int32)
        return np.empty(0, dtype=object), empty, empty, empty, True, None
    fitted = fit_derived_tags(ds, cfg)
    assert fitted is not None
    leaf_of_video, parent_of_leaf, cents = fitted.leaf_of_row, fitted.parent_of_leaf, fitted.leaf_centroids
    nl, npar = parent_of_leaf.shape[0], int(parent_of_leaf.max()) + 1
    names = np.array([f"derived:{parent_of_leaf[i]}.{i}" for i in range(nl)]
                     + [f"derived:{p}" for p in range(npar)], dtype=object)
    video_tags = np.stack([np.arange(ds.num_videos), leaf_of_video], axis=1).astype(np.int32)
    tree = np.stack([nl + parent_of_leaf, np.arange(nl)], axis=1).astype(np.int32)
    parent_feats = np.stack([cents[parent_of_leaf == p].mean(axis=0) for p in range(npar)])
    return (names, video_tags, np.empty((0, 2), np.int32), tree, True,
            np.concatenate([cents, parent_feats]).astype(np.float32))


def build_graph(ds: Dataset, split: Split, config: GraphConfig | None = None,
                progress: Callable[[str], None] | None = None) -> HeteroGraph:
    """Build the M-HIG of ``ds`` from the training part of ``split`` (HHFAN §III-C)."""
    cfg = config or GraphConfig()
    split.check(ds)
    say = progress or (lambda _msg: None)
    counts = dict.fromkeys(NODE_TYPES, 0)
    counts["user"], counts["video"] = ds.num_users, ds.num_videos
    feats: dict[str, np.ndarray] = {}
    names: dict[str, np.ndarray] = {}
    pairs: dict[tuple[str, str], np.ndarray] = {}

    train = split.mask(TRAIN)
    pairs[("user", "video")] = np.stack([ds.interactions.user[train], ds.interactions.video[train]], axis=1)

    for modality in ds.modalities:
        node = MODALITY_NODE[modality]
        say(f"quantising {modality} features into {node} nodes")
        x = quantize.standardise(ds.features[modality])
        k = min(cfg.codewords, max(2, ds.num_videos // 4))
        cents = quantize.fit_codebook(x, k, cfg.seed)
        near = quantize.nearest_codewords(x, cents, cfg.links_per_video)
        counts[node], feats[node] = cents.shape[0], cents
        names[node] = np.array([f"{modality}#{j}" for j in range(cents.shape[0])], dtype=object)
        pairs[("video", node)] = np.stack([np.repeat(np.arange(ds.num_videos), near.shape[1]), near.ravel()], 1)

    say("building tags and tag tree")
    tag_names, vt, ut, tree, derived, tag_feats = _tags(ds, cfg)
    counts["tag"], names["tag"] = tag_names.shape[0], tag_names
    if tag_feats is not None:
        feats["tag"] = tag_feats
    pairs[("video", "tag")], pairs[("user", "tag")], pairs[("tag", "tag")] = vt, ut, tree

    attr_names: list[str] = []
    attr_pairs: list[np.ndarray] = []
    for col in sorted(ds.user_attributes):
        vals = np.asarray(ds.user_attributes[col]).astype(str)
        known = np.flatnonzero(vals != "")  # "" = unknown: no node, no edge
        uniq, inv = np.unique(vals[known], return_inverse=True)
        attr_pairs.append(np.stack([known, len(attr_names) + inv], axis=1))
        attr_names.extend(f"{col}={v}" for v in uniq)
    counts["user_attr"], names["user_attr"] = len(attr_names), np.array(attr_names, dtype=object)
    if attr_pairs:
        pairs[("user", "user_attr")] = np.concatenate(attr_pairs)

    say("assembling CSR adjacency")
    offsets = np.concatenate([[0], np.cumsum([counts[t] for t in NODE_TYPES])]).astype(np.int64)
    n = int(offsets[-1])
    src_parts, dst_parts = [], []
    for (a, b), p in pairs.items():
        if p.size == 0:
            continue
        s = p[:, 0].astype(np.int64) + offsets[NODE_TYPES.index(a)]
        d = p[:, 1].astype(np.int64) + offsets[NODE_TYPES.index(b)]
        src_parts += [s, d]
        dst_parts += [d, s]
    src = np.concatenate(src_parts)
    dst = np.concatenate(dst_parts)
    adj = sp.csr_matrix((np.ones(src.shape[0], dtype=np.int8), (src, dst)), shape=(n, n))
    del src, dst, src_parts, dst_parts
    adj.sum_duplicates()  # sorts neighbours; duplicate edges (e.g. repeated tags) collapse to one
    node_type = np.repeat(np.arange(len(NODE_TYPES), dtype=np.int8), np.diff(offsets))
    return HeteroGraph(offsets, adj.indptr.astype(np.int64), adj.indices.astype(np.int32), node_type,
                       feats, names, np.asarray(tree, dtype=np.int32).reshape(-1, 2), derived, split.fingerprint)
