"""The one small interface every recommender implements (HHFAN and every baseline).

The trainer, the evaluator and the recommend/serve code only ever talk to this interface, so there
is one trainer for all models (no trainer subclass per model):

* :meth:`Recommender.embed` — embeddings of a set of users and a set of videos, computed together so
  that full-graph models (LightGCN...) propagate once per batch and sampled models (HHFAN) gather
  only the neighbourhoods they need;
* :meth:`Recommender.score` — preference logits; Eq. (8)'s sigmoid is applied by the loss, never
  needed for ranking;
* :meth:`Recommender.score_matrix` — logits of a batch of users against many videos (evaluation and
  recommendation); inner product unless the model scores pairs otherwise (NeuMF, DeepFM...);
* :meth:`Recommender.l2_terms` — the tensors that Eq. (10)'s ``λ‖θ‖²`` penalises for one batch.

A model without trainable parameters (most-popular) is "fitted" in its constructor; the trainer then
only validates and checkpoints it.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn


class Recommender(nn.Module):
    """Base class: a model that embeds users and videos into one space and scores pairs by inner product.

    Attributes:
        num_users: users the model knows (index range of ``users`` arguments).
        num_videos: videos the model knows.
    """

    num_users: int
    num_videos: int

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(E_u [len(users), d], E_v [len(videos), d])`` for int64 index tensors."""
        raise NotImplementedError

    def score(self, user_emb: Tensor, video_emb: Tensor) -> Tensor:
        """Pairwise logits ``E_uᵀ E_v`` for aligned rows (Eq. 8 before the sigmoid)."""
        return (user_emb * video_emb).sum(dim=-1)

    def score_matrix(self, user_emb: Tensor, video_emb: Tensor) -> Tensor:
        """Logits of every user row against every video row, ``[B, d] x [N, d] -> [B, N]``.

        Must agree with :meth:`score` (``score_matrix(u, v)[i, j] == score(u[i], v[j])``).
        """
        return user_emb @ video_emb.T

    @property
    def device(self) -> torch.device:
        """Device of the model's parameters (or buffers, for a model without parameters)."""
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def l2_terms(self, users: Tensor, videos: Tensor) -> Iterator[Tensor]:
        """Tensors penalised by ``λ‖θ‖²`` for a batch; default: every parameter of the model."""
        yield from self.parameters()

    @torch.no_grad()
    def all_embeddings(self, batch_size: int = 4096) -> tuple[Tensor, Tensor]:
        """Embeddings of every user and every video (evaluation), computed in chunks without gradients."""
        device = self.device
        vids = torch.arange(self.num_videos, device=device)
        users = torch.arange(self.num_users, device=device)
        ev_parts, eu_parts = [], []
        for s in range(0, max(self.num_users, self.num_videos), batch_size):
            eu, ev = self.embed(users[s : s + batch_size], vids[s : s + batch_size])
            eu_parts.append(eu)
            ev_parts.append(ev)
        return torch.cat(eu_parts), torch.cat(ev_parts)


class FullGraphRecommender(Recommender):
    """A model whose every node embedding comes from one full-graph propagation (LightGCN, GraphSAGE...).

    Subclasses implement :meth:`propagate`, returning ``[num_users + num_videos (+ other nodes), d]``
    with users first, then videos; a batch propagates once and picks its rows, and evaluation
    propagates once for everyone.
    """

    def propagate(self) -> Tensor:
        """Final embeddings of every user, then every video (then any other node type)."""
        raise NotImplementedError

    def embed(self, users: Tensor, videos: Tensor) -> tuple[Tensor, Tensor]:
        """Propagate once, then pick the batch's rows."""
        h = self.propagate()
        return h[users], h[videos + self.num_users]

    @torch.no_grad()
    def all_embeddings(self, batch_size: int = 4096) -> tuple[Tensor, Tensor]:
        """One propagation for everyone."""
        h = self.propagate()
        return h[: self.num_users], h[self.num_users : self.num_users + self.num_videos]
