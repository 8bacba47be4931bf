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
* :meth:`Recommender.l2_terms` — the tensors that Eq. (10)'s ``λ‖θ‖²`` penalises for one batch;
* :meth:`Recommender.aux_loss` — optional: a model's own training objective beyond BPR (the contrastive
  term of SimGCL, BM3's bootstrapped alignment losses, FREEDOM's modality BPR), added to Eq. (10) by the
  trainer; the default is ``None`` and the trainer then adds nothing (the loss is bit-identical);
* :meth:`Recommender.start_epoch` — optional: a per-epoch hook (FREEDOM redraws its pruned training graph),
  called by the trainer right after it seeds torch for the epoch; the default does nothing;
* :meth:`Recommender.start_batch` — optional: the triples of the training batch about to be embedded (the
  ``hhfan-cl`` variant hides each positive edge from its own endpoints' neighbourhoods); default nothing.

Videos without interactions (cold start, DESIGN §8): :attr:`Recommender.cold_start` says how a model embeds a
video that has no training interaction (None: it cannot, e.g. BPR-MF, whose only video input is the id);
:meth:`Recommender.video_id_rows` names the rows of its tables that are a video's *id* part, which
:func:`hold_out_video_ids` zeroes and freezes for the held-out videos of the cold-start protocol (they never
receive a gradient, so nothing learned about their id is used: what remains is content and graph);
:meth:`Recommender.embed_new_videos` embeds videos that are not in the dataset at all (raises
:class:`ColdStartUnsupported` where the model cannot; :mod:`hhfan.inductive` is the public entry).

A model without trainable parameters (most-popular) is "fitted" in its constructor; the trainer then
only validates and checkpoints it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from hhfan.model.inputs import NewVideoInputs


class ColdStartUnsupported(ValueError):  # noqa: N818 (the name is the public API of hhfan.inductive)
    """The model cannot embed a video without interactions (its only video input is what interactions teach)."""


class Recommender(nn.Module):
    """Base class: a model that embeds users and videos into one space and scores pairs by inner product.

    Attributes:
        num_users: users the model knows (index range of ``users`` arguments).
        num_videos: videos the model knows.
        cold_start: how the model embeds a video without any training interaction (one sentence, shown in the
            cold-start results), or None when it cannot score such a video at all.
    """

    num_users: int
    num_videos: int
    cold_start: str | None = None

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

    def video_id_rows(self) -> Iterator[tuple[Tensor, int]]:
        """``(table, offset)`` pairs: row ``offset + v`` of ``table`` is an id-only part of video ``v`` (learned from
        interactions alone, nothing content- or graph-derived). Default: none."""
        return iter(())

    def embed_new_videos(self, videos: NewVideoInputs) -> Tensor:
        """Embeddings ``[n, d]`` of videos outside the dataset (no interactions), scored like :meth:`embed`'s.

        Raises :class:`ColdStartUnsupported` unless the model implements it (see :mod:`hhfan.inductive`).
        """
        raise ColdStartUnsupported(f"{type(self).__name__} cannot embed a video that is not in its dataset"
                                   + (f" (in the cold-start protocol: {self.cold_start})" if self.cold_start else
                                      ": it has nothing but interactions to go on"))

    def aux_loss(self, users: Tensor, positives: Tensor, negatives: Tensor) -> Tensor | None:
        """A model's own loss on one batch of training triples, added to Eq. (10) by the trainer.

        Args:
            users, positives, negatives: int64 ``[B]`` aligned rows of the batch's triples
                ``⟨u, v, v'⟩`` (as drawn; not de-duplicated). A model without negatives ignores ``negatives``.

        Returns:
            A scalar tensor (already weighted by the model's own coefficients), or ``None`` (the default):
            no auxiliary loss, and the trainer adds nothing. Randomness inside it (noise, dropout) follows
            :attr:`training`, as ``nn.Dropout`` does, so in eval mode it is a deterministic function.
        """
        return None

    def start_epoch(self, epoch: int) -> None:
        """Hook called by the trainer at the start of every training epoch (0-based), after torch is seeded
        for ``(seed, epoch)``, so whatever it draws repeats exactly on resume; default: nothing."""

    def start_batch(self, users: Tensor, positives: Tensor, negatives: Tensor) -> None:
        """Hook called by the trainer with a training batch's triples (aligned int64 ``[B]`` rows, as drawn)
        right before it embeds them (:func:`hhfan.train.trainer.bpr_loss`); default: nothing."""

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


def hold_out_video_ids(model: Recommender, videos: np.ndarray) -> None:
    """Zero the id rows (:meth:`Recommender.video_id_rows`) of ``videos`` and keep them zero while training.

    A gradient hook zeroes those rows of every gradient, so Adam never moves them (its moments stay 0) and the
    L2 term adds nothing: the held-out videos are embedded from what the model has besides ids. Calling it
    again adds videos to the held-out set.
    """
    idx = torch.as_tensor(np.asarray(videos, dtype=np.int64)).reshape(-1)
    if idx.numel() == 0:
        return
    held: dict[tuple[int, int], Tensor] = getattr(model, "_held_out_rows", {})
    for table, offset in model.video_id_rows():
        key = (id(table), offset)
        rows = torch.unique(torch.cat([held.get(key, idx.new_empty(0)), idx + offset]))
        with torch.no_grad():
            table.index_fill_(0, rows.to(table.device), 0.0)
        if key not in held and table.requires_grad:
            table.register_hook(lambda g, key=key: g.index_fill(0, held[key].to(g.device), 0.0))
        held[key] = rows
    setattr(model, "_held_out_rows", held)  # noqa: B010 (a plain attribute of an nn.Module)
