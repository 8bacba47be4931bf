"""Embedding videos that have no interactions, without retraining (DESIGN §8; issue 14).

A new upload arrives with content (a feature vector per modality), maybe tags and a text, and no interaction.
:func:`embed_new_videos` embeds it with a trained run's model, so it can be scored against every user at once:

1. **Attach** it to the run's M-HIG as the graph builder attaches a dataset video
   (:class:`hhfan.graph.attach.Attacher`): per modality its ``graph.links_per_video`` nearest codewords (after
   the dataset's standardisation), and its tags (by name; a dataset without tags uses the derived tag tree, and
   the new video gets the derived leaf its features fall in).
2. **Sample** its neighbourhood with RWSS from the new node (:func:`hhfan.graph.attach.sample_attached`): the
   compiled sampler's walk on the graph augmented by this one node (appended as the next video), the run's
   sampler settings and quotas, the sampler's RNG stream for that node id with seed ``sampler.seed + seed``.
   ``seed=0`` is therefore exactly what the sampler gives the node; another ``seed`` draws another walk.
   Every video is attached alone (it never sees the other videos of the same call): the result does not
   depend on batching or order, and the same content and tags give the same embedding whatever the id.
3. **Embed** it with the model (:meth:`hhfan.model.base.Recommender.embed_new_videos`). For ``hhfan`` and
   ``hhfan-hybrid``: Eq. (1)-(7) of HHFAN on its content and sampled neighbourhood, and **no id embedding**:
   Eq. (1)'s learned id part is *omitted* for a video outside the table (its f(v) is the content projection
   alone, :meth:`hhfan.model.layers.FeatureTransformer.content_only`), which is exactly what a video of the
   dataset held out by the cold-start protocol gets, whose id row is *zeroed* and never trained
   (:func:`hhfan.model.base.hold_out_video_ids`). The hybrid variant's propagated input of a video without
   interactions is ``f(v) / (L + 1)`` (an isolated node of the interaction graph).

The same machinery embeds the cold-start protocol's held-out videos (``split.kind=cold``): they are in the
graph already, with their codeword and tag links and no interaction, and their RWSS rows are the tables the
run sampled; attaching one of them anew reproduces its links exactly, and a walk keyed by its own id on the
graph without its edges reproduces its rows exactly (``tests/graph/test_attach.py``), so the inductive
embedding equals the held-out one (``tests/test_inductive.py``). Through :func:`embed_new_videos` itself the
two differ slightly, and only by the walk: a new video is keyed as the *next* video id, not the held-out
video's, so its RNG stream differs, and its held-out twin is still in the graph for it to reach.

``NewVideo.text`` is carried for the caller (titles to show) but not embedded: a run holds no text encoder,
so a dataset with a ``textual`` modality needs ``features["textual"]`` computed as the dataset's were.

Which models embed uploads: ``hhfan`` and ``hhfan-hybrid`` (above), ``dropoutnet`` (its video tower on the
content, preference input 0), ``neumf`` with content (the content projection, id factors omitted) and ``pop``
(popularity 0) — each exactly as it embeds a held-out video of the cold-start protocol. The others raise
:class:`ColdStartUnsupported` naming why: BPR-MF, LightGCN, SemRec and SimGCL have nothing but interactions to go
on; HHFAN with ``model.pretrained_run`` takes another model's embedding of each video as input; the feature and
graph baselines (FM, DeepFM, GraphSAGE, PinSAGE, MMGCN, HAN, HetGNN, HERec, FREEDOM, BM3) embed the held-out
videos of the cold-start protocol, which sit in their tables and graphs, but not a video outside the dataset.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from hhfan.graph.attach import Attacher
from hhfan.graph.mhig import ATTRIBUTE_TYPES
from hhfan.model.base import ColdStartUnsupported, Recommender
from hhfan.model.inputs import NewVideoInputs
from hhfan.model.registry import display_name

if TYPE_CHECKING:
    from hhfan.runner import Run

__all__ = ["ColdStartUnsupported", "NewVideo", "embed_new_videos"]


@dataclass(frozen=True)
class NewVideo:
    """A video that is not in the run's dataset: what an upload brings.

    Attributes:
        video_id: its id (not used to embed it: the same content and tags give the same embedding).
        features: modality name -> float32 ``[d_m]``, exactly the dataset's modalities and dimensions.
        tags: tag names of the dataset (an unknown name is an error naming it); empty for a dataset without tags.
        text: free text (title, description), carried for the caller, not embedded (see the module docstring).
    """

    video_id: str
    features: dict[str, np.ndarray]
    tags: tuple[str, ...] = ()
    text: str = ""


@dataclass
class _Prepared:
    run: weakref.ref[Run]
    dataset_id: int
    graph_id: int
    attacher: Attacher


_CACHE: dict[int, _Prepared] = {}


def _attacher(run: Run) -> Attacher:
    """The run's :class:`Attacher`, built once per (run, dataset, graph) and dropped with the run."""
    key = id(run)
    hit = _CACHE.get(key)
    if hit is not None and hit.run() is run and hit.dataset_id == id(run.dataset) and \
            hit.graph_id == id(run.artifacts.graph):
        return hit.attacher
    att = Attacher(run.dataset, run.artifacts.graph, run.config.graph)
    _CACHE[key] = _Prepared(weakref.ref(run, lambda _r: _CACHE.pop(key, None)), id(run.dataset),
                            id(run.artifacts.graph), att)
    return att


def _check(videos: Sequence[NewVideo], att: Attacher) -> None:
    for i, v in enumerate(videos):
        if not isinstance(v, NewVideo):
            raise TypeError(f"videos[{i}] must be a NewVideo, got {type(v).__name__}")
        if not isinstance(v.video_id, str) or not v.video_id.strip():
            raise ValueError(f"videos[{i}]: video_id must be a non-empty string, got {v.video_id!r}")
        att.check_video(v.features, v.tags, name=f"video {v.video_id!r}")


def _inputs(run: Run, videos: Sequence[NewVideo], seed: int) -> NewVideoInputs:
    """Attach, sample and collect the model inputs of ``videos`` (steps 1-2 of the module docstring)."""
    att = _attacher(run)
    _check(videos, att)
    n, g = len(videos), run.artifacts.graph
    links = att.links([v.features for v in videos], [v.tags for v in videos])
    sampler = replace(run.config.sampler, seed=(run.config.sampler.seed + int(seed)) % 2**64)
    tables = att.sample(links, sampler)
    content = None
    if att.modalities:
        if n:
            std = att.standardised([v.features for v in videos])
            content = torch.from_numpy(np.concatenate([std[m] for m in att.modalities], axis=1))
        else:
            content = torch.zeros(0, sum(att.dims.values()))
    local: dict[str, list[torch.Tensor]] = {}
    for t in ATTRIBUTE_TYPES:
        lo, hi = g.offset(t), g.offset(t) + g.count(t)
        if hi > lo:
            local[t] = [torch.from_numpy(lk[(lk >= lo) & (lk < hi)] - lo) for lk in links]
    return NewVideoInputs(count=n, content=content, links=local,
                          neighbor_ids={t: torch.from_numpy(a.astype(np.int64)) for t, a in tables.ids.items()},
                          neighbor_mask={t: torch.from_numpy(m) for t, m in tables.mask.items()})


def embed_new_videos(run: Run, videos: Sequence[NewVideo], seed: int = 0) -> torch.Tensor:
    """Embeddings ``[n, d]`` of videos without interactions, inductively, with ``run``'s trained model.

    Scored like the model's own video embeddings: ``run.model.score_matrix(user_emb, embed_new_videos(...))``
    with ``user_emb`` from ``run.model.all_embeddings()`` (an inner product for most models).

    Args:
        run: a loaded run (:func:`hhfan.runner.load_run`).
        videos: the new videos (see :class:`NewVideo`); each is attached to the graph alone.
        seed: added to the run's ``sampler.seed`` for the walks from the new nodes (0: the sampler's own draw).

    Returns:
        float tensor ``[len(videos), d]`` on the model's device (no gradient).

    Raises:
        ColdStartUnsupported: the run's model cannot embed a video without interactions (the message says why).
        ValueError: a video's features or tags do not fit the dataset (named: missing or unknown modality, wrong
            shape, non-finite values, unknown tag names), or an empty video id.
    """
    model: Recommender = run.model
    name = display_name(run.config.model_name)
    if type(model).embed_new_videos is Recommender.embed_new_videos:  # fail before any work
        try:
            model.embed_new_videos(NewVideoInputs(0, None, {}, {}, {}))
        except ColdStartUnsupported as e:
            raise ColdStartUnsupported(f"{name}: {e}") from None
    inputs = _inputs(run, videos, seed)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model.embed_new_videos(inputs)
    except ColdStartUnsupported as e:
        raise ColdStartUnsupported(f"{name}: {e}") from None
    finally:
        model.train(was_training)
