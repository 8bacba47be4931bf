"""Request and response models of the service (pydantic; they make its OpenAPI schema at ``/openapi.json``).

Requests refuse unknown fields (a typo such as ``feature`` is a 422 naming it, not silently ignored) and
non-finite numbers; what the schema cannot know (the run's modalities and their sizes, known video ids) is
checked by the service and answered with the same 422 form, naming the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def check_id(value: str) -> str:
    """An id: 1-256 characters, no control characters, no leading or trailing white space."""
    if not value or len(value) > 256:
        raise ValueError(f"an id has 1 to 256 characters, got {len(value)}")
    if value != value.strip():
        raise ValueError(f"an id has no leading or trailing white space, got {value!r}")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError(f"an id has no control characters, got {value!r}")
    return value


Id = Annotated[str, AfterValidator(check_id)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    """Every error answer: a one-line message that names the field or id at fault."""

    detail: str = Field(description="what is wrong, naming the field (e.g. body.features.visual) or the id")
    code: str = Field(description="machine-readable kind: invalid, unknown_video, video_exists, "
                      "cold_start_unsupported, unavailable, not_found")


class HealthOut(BaseModel):
    """``GET /health``."""

    status: Literal["ok"]
    model: str = Field(description="registry name of the run's model")
    run: str = Field(description="the run directory served")
    users: int = Field(description="users the model knows")
    videos: int = Field(description="videos in the catalogue (the run's plus posted ones)")
    posted_videos: int
    posted_interactions: int
    index: str = Field(description="how top-K is answered now: exact, faiss-ivf or faiss-flat")
    faiss_installed: bool
    new_videos: bool = Field(description="whether POST /videos can embed a new video with this model")


class PathOut(BaseModel):
    """One path watched video -> attribute node -> candidate (:mod:`hhfan.serve.explain`)."""

    watched: str = Field(description="a video the user watched (training interactions)")
    via: str = Field(description="the attribute node: a tag's name, or a codeword such as visual#12")
    via_type: str = Field(description="tag, image, audio or text")
    relevance: float = Field(description="watched_weight * candidate_weight")
    watched_weight: float = Field(description="r(watched, via): the attribute's weight for the watched video")
    candidate_weight: float = Field(description="r(candidate, via)")
    walk_probability: float = Field(description="1/deg(watched) * 1/deg(via): a uniform walk's chance of this path")


class RecommendationOut(BaseModel):
    """One recommended video."""

    video_id: str
    score: float = Field(description="the model's logit (for the popular fallback: interaction count)")
    paths: list[PathOut] | None = Field(default=None, description="with explain=true: the strongest paths, best first")
    num_paths: int | None = Field(default=None, description="with explain=true: how many paths there are in all")


class RecommendationsOut(BaseModel):
    """``GET /users/{user_id}/recommendations``."""

    user_id: str
    k: int
    fallback: Literal["popular"] | None = Field(
        description="'popular' when the model does not know the user: most-interacted unseen videos")
    index: str = Field(description="exact, faiss-ivf, faiss-flat, or popular")
    recommendations: list[RecommendationOut]
    attention: dict[str, float] | None = Field(
        default=None,
        description="with explain=true, HHFAN: Eq. (7) weights of the user's embedding over its candidates")
    relevance_kind: str | None = Field(
        default=None, description="with explain=true: 'affinity' (HHFAN: r(v, a) = softmax over v's attributes of "
                          "<E_v, f(a)>) or 'uniform' (r(v, a) = 1/|A(v)|, models without attribute embeddings)")


class VideoIn(_Strict):
    """``POST /videos``: a new video."""

    video_id: Id
    features: dict[str, list[Finite]] = Field(
        default_factory=dict, description="modality (visual, acoustic, textual) -> feature vector of the run's size")
    tags: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(default_factory=list, max_length=1000)
    text: str = Field(default="", max_length=100_000)


class VideoOut(BaseModel):
    """``GET /videos/{video_id}`` and the answer of ``POST /videos``."""

    video_id: str
    source: Literal["run", "posted", "synthetic"] = Field(
        description="'run': in the training data; 'posted': POST /videos; 'synthetic': a load test's filler")
    tags: list[str]
    linked_tags: list[str] = Field(description="the tags that are tag nodes of the run's graph")
    text: str
    modalities: dict[str, int] = Field(description="modality -> feature size")
    interactions: int = Field(description="training interactions plus posted ones")


class InteractionIn(_Strict):
    """One user-video interaction."""

    user_id: Id
    video_id: Id
    timestamp: int | None = None


class InteractionsIn(_Strict):
    """``POST /interactions``."""

    interactions: list[InteractionIn] = Field(min_length=1, max_length=10_000)


class InteractionsOut(BaseModel):
    """What ``POST /interactions`` changed."""

    accepted: int = Field(description="interactions recorded (journaled)")
    new: int = Field(description="of those, pairs not seen before (now excluded from the user's recommendations)")
    unknown_users: list[str] = Field(description="users the model does not know: they get the popular fallback")
    effective: str = Field(description="what changed at once and what waits for retraining")
