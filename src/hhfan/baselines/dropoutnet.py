"""DropoutNet (Volkovs, Yu & Poutanen, "DropoutNet: Addressing Cold Start in Recommender Systems", NeurIPS 2017).

The dedicated cold-start baseline (issue 14). Each side has two inputs, a *preference* vector learned from
interactions and a *content* vector, and one deep tower (DropoutNet §4, the authors' ``DeepCF``)::

    f_U(u) = W_U^out · tanh(BN(W_U^L ... tanh(BN(W_U^1 [U_u ⊕ Φ^U_u])) ...)) + b_U^out
    f_V(v) = W_V^out · tanh(BN(W_V^L ... tanh(BN(W_V^1 [V_v ⊕ Φ^V_v])) ...)) + b_V^out
    s(u, v) = f_U(u)ᵀ f_V(v)

(hidden sizes ``config.hidden``, each a ``Linear -> BatchNorm1d(momentum 0.01, eps 1e-3) -> tanh`` block as in
the authors' PyTorch code, output size ``config.dim``). The point of the method is **input dropout**
(DropoutNet §4.1): while training, each video's preference input is set to 0 with probability
``config.item_dropout`` (and each user's with ``config.user_dropout``), so the towers learn to score from content
alone, which is exactly the input a video without interactions has (``V_v = 0``). Inputs here:

* ``U_u``, ``V_v``: the rank-``pref_dim`` truncated SVD of the binary *training* interaction matrix
  ``R ≈ P Σ Qᵀ`` (PureSVD, Cremonesi et al., RecSys 2010), ``U = P √Σ``, ``V = Q √Σ``, each column standardised
  over the rows that have a training interaction and clipped to ±5 (the authors' ``prep_standardize``); a user or
  video without training interactions has the dropout input 0. The authors feed a pre-trained WMF model's
  factors; a closed-form SVD is deterministic for the seed, takes seconds at build time and needs no second run.
* ``Φ^V_v``: the video's standardised concatenated modality features and its tags in the M-HIG (multi-hot,
  ``1/n`` per tag; real or derived tags); ``Φ^U_u``: one-hot user attributes of the M-HIG, when there are any.

Adaptations: the shared BPR trainer instead of DropoutNet's regression of the pre-trained scores
``U_uᵀ V_v`` (its Eq. 3), as every baseline here is trained with Eq. (10) so that comparisons differ in the
model only; Adam instead of SGD with momentum; a batch's videos (and users) are dropped independently with the
given probability rather than an exact share of the batch; ``init_std`` is the std of the authors' truncated
normal initialisation of every weight (0.01 in their code). Preference inputs and contents are non-persistent
buffers rebuilt deterministically at build time, so a checkpoint holds only the towers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from sklearn.utils.extmath import randomized_svd
from torch import Tensor, nn

from hhfan.baselines.config import EmbeddingConfig, check_dropout, check_mlp, check_positive
from hhfan.model.base import Recommender
from hhfan.model.inputs import video_content

if TYPE_CHECKING:
    from hhfan.model.inputs import NewVideoInputs
    from hhfan.model.registry import BuildContext


@dataclass(frozen=True)
class DropoutNetConfig(EmbeddingConfig):
    """DropoutNet.

    Attributes:
        dim: output size of both towers (the authors' ``rank_out``).
        init_std: std of the truncated-normal initialisation of every weight (biases 0).
        pref_dim: rank of the SVD preference inputs (capped by the interaction matrix's size).
        hidden: hidden sizes of each tower, first layer first.
        item_dropout: probability that a video's preference input is dropped (set to 0) in a training batch.
        user_dropout: the same for users (0: users are never cold in item cold start).
        svd_iters: power iterations of the randomised SVD.
    """

    init_std: float = 0.01
    pref_dim: int = 64
    hidden: tuple[int, ...] = (200, 100)
    item_dropout: float = 0.5
    user_dropout: float = 0.0
    svd_iters: int = 5

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive(self, "pref_dim", "svd_iters")
        check_mlp(self.hidden)
        check_dropout(self.user_dropout)
        if not 0.0 <= self.item_dropout <= 1.0:
            raise ValueError(f"item_dropout must be in [0, 1], got {self.item_dropout}")


def preference_inputs(user: np.ndarray, video: np.ndarray, num_users: int, num_videos: int, rank: int,
                      iters: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(U [num_users, r], V [num_videos, r])`` float32: standardised rank-``r`` SVD factors of the interactions.

    ``R ≈ P Σ Qᵀ`` (binary ``R`` of the given pairs), ``U = P √Σ``, ``V = Q √Σ``; each column is standardised over
    the rows with an interaction, clipped to ±5, and rows without any interaction are 0 (DropoutNet's cold input).
    """
    r = sp.csr_matrix((np.ones(user.shape[0], np.float32), (user, video)), shape=(num_users, num_videos))
    r.data[:] = 1.0
    rank = max(1, min(rank, min(num_users, num_videos) - 1))
    p, s, qt = randomized_svd(r, rank, n_iter=iters, random_state=seed)
    root = np.sqrt(s)[None, :]
    out = []
    for factors, seen in ((p * root, np.diff(r.indptr) > 0), (qt.T * root, np.diff(r.tocsc().indptr) > 0)):
        f = np.zeros_like(factors, dtype=np.float32)
        if seen.any():
            x = factors[seen]
            std = x.std(axis=0)
            f[seen] = np.clip((x - x.mean(axis=0)) / np.where(std > 0, std, 1.0), -5.0, 5.0)
        out.append(f.astype(np.float32))
    return out[0], out[1]


def multi_hot(pairs: np.ndarray, rows: int, cols: int, normalise: bool = True) -> np.ndarray:
    """Dense ``[rows, cols]`` float32 with 1 (``1/n`` when ``normalise``) at the ``n`` columns of each row in
    ``pairs`` (int ``[m, 2]`` rows ``(row, column)``)."""
    out = np.zeros((rows, cols), np.float32)
    if pairs.size:
        pairs = np.unique(np.asarray(pairs, dtype=np.int64).reshape(-1, 2), axis=0)
        n = np.bincount(pairs[:, 0], minlength=rows)
        out[pairs[:, 0], pairs[:, 1]] = 1.0 / n[pairs[:, 0]] if normalise else 1.0
    return out


class TanhBlock(nn.Module):
    """``tanh(BN(W x + b))``, one hidden layer of the authors' towers (``TanHBlock``)."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.layer = nn.Linear(d_in, d_out)
        self.bn = nn.BatchNorm1d(d_out, momentum=0.01, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        """``[n, d_in] -> [n, d_out]``; a training batch of one row uses the running statistics (BN needs two)."""
        h = self.layer(x)
        if self.training and h.shape[0] < 2:
            h = F.batch_norm(h, self.bn.running_mean, self.bn.running_var, self.bn.weight, self.bn.bias, False,
                             0.0, self.bn.eps)
        else:
            h = self.bn(h)
        return torch.tanh(h)


class Tower(nn.Module):
    """One side's deep network: TanhBlocks, then a linear output layer (DropoutNet's ``f_U`` / ``f_V``)."""

    def __init__(self, d_in: int, hidden: tuple[int, ...], d_out: int) -> None:
        super().__init__()
        dims = [d_in, *hidden]
        self.blocks = nn.Sequential(*(TanhBlock(a, b) for a, b in pairwise(dims)))
        self.out = nn.Linear(dims[-1], d_out)

    def forward(self, x: Tensor) -> Tensor:
        """``[n, d_in] -> [n, d_out]``."""
        return self.out(self.blocks(x))


class DropoutNet(Recommender):
    """Two towers over ``[preference ⊕ content]`` inputs with preference-input dropout (module docstring)."""

    user_pref: Tensor
    video_pref: Tensor
    user_content: Tensor
    video_content: Tensor
    cold_start = ("its preference input is 0, the input DropoutNet's item dropout trains for: the video tower maps its "
                  "content (modality features and tags) alone")

    def __init__(self, user_pref: np.ndarray, video_pref: np.ndarray, user_content: np.ndarray,
                 video_content: np.ndarray, config: DropoutNetConfig | None = None, num_tags: int = 0) -> None:
        super().__init__()
        cfg = config or DropoutNetConfig()
        self.config, self.num_tags = cfg, num_tags  # the last num_tags columns of video_content are its tags
        self.num_users, self.num_videos = user_pref.shape[0], video_pref.shape[0]
        if user_content.shape[0] != self.num_users or video_content.shape[0] != self.num_videos:
            raise ValueError("content and preference inputs must have one row per user / video")
        for name, x in (("user_pref", user_pref), ("video_pref", video_pref), ("user_content", user_content),
                        ("video_content", video_content)):
            self.register_buffer(name, torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), persistent=False)
        self.user_tower = Tower(user_pref.shape[1] + user_content.shape[1], cfg.hidden, cfg.dim)
        self.video_tower = Tower(video_pref.shape[1] + video_content.shape[1], cfg.hidden, cfg.dim)
        for m in self.modules():
            if isinstance(m, nn.Linear):  # the authors' init: truncated normal (±2 std), biases 0
                nn.init.trunc_normal_(m.weight, 0.0, cfg.init_std, -2 * cfg.init_std, 2 * cfg.init_std)
                nn.init.zeros_(m.bias)

    def _dropped(self, pref: Tensor, p: float) -> Tensor:
        """Training only: each row of ``pref`` set to 0 with probability ``p`` (DropoutNet §4.1)."""
        if not self.training or p <= 0:
            return pref
        keep = torch.rand(pref.shape[0], 1, device=pref.device) >= p
        return pref * keep

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """``(f_U(u), f_V(v))``; in training the preference inputs are dropped at random."""
        u_in = torch.cat([self._dropped(self.user_pref[users], self.config.user_dropout), self.user_content[users]], 1)
        v_in = torch.cat([self._dropped(self.video_pref[videos], self.config.item_dropout),
                          self.video_content[videos]], 1)
        return self.user_tower(u_in), self.video_tower(v_in)

    def embed_new_videos(self, videos: NewVideoInputs) -> Tensor:
        """``f_V([0 ⊕ Φ^V])`` of new videos: their content (features and tag links), no preference input."""
        n = videos.count
        dev = self.video_pref.device
        parts = [torch.zeros(n, self.video_pref.shape[1], device=dev)]
        n_feat = self.video_content.shape[1] - self.num_tags
        if n_feat:
            if videos.content is None or videos.content.shape[1] != n_feat:
                raise ValueError(f"DropoutNet needs the {n_feat} content features of each new video")
            parts.append(videos.content.to(dev).float())
        if self.num_tags:
            tags = videos.links.get("tag", [torch.empty(0, dtype=torch.int64)] * n)
            pairs = np.array([(i, int(t)) for i, ts in enumerate(tags) for t in ts.tolist()], np.int64).reshape(-1, 2)
            parts.append(torch.from_numpy(multi_hot(pairs, n, self.num_tags)).to(dev))
        return self.video_tower(torch.cat(parts, 1))

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """Every weight matrix of both towers (no embedding table: the inputs are fixed)."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                yield m.weight


def build(ctx: BuildContext) -> DropoutNet:
    """Registry entry: SVD preference inputs of the training interactions, contents from the data and the M-HIG."""
    ds, g, cfg = ctx.dataset, ctx.artifacts.graph, ctx.config
    u_pref, v_pref = preference_inputs(ctx.train_user, ctx.train_video, ds.num_users, ds.num_videos, cfg.pref_dim,
                                       cfg.svd_iters, ctx.seed)
    feats = video_content(ds)
    parts = [] if feats is None else [feats]
    ntag = g.count("tag")
    if ntag:
        parts.append(multi_hot(g.edges_between("video", "tag"), ds.num_videos, ntag))
    if not parts:
        raise ValueError("DropoutNet needs video content (modality features or tags)")
    user_parts = [np.zeros((ds.num_users, 0), np.float32)]
    if g.count("user_attr"):
        user_parts.append(multi_hot(g.edges_between("user", "user_attr"), ds.num_users, g.count("user_attr"),
                                    normalise=False))
    return DropoutNet(u_pref, v_pref, np.concatenate(user_parts, 1), np.concatenate(parts, 1), cfg, ntag)
