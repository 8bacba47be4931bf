"""The FastAPI app of ``hhfan serve`` (routes, error answers, start and stop).

Endpoints (their schema is served at ``/openapi.json``, interactive docs at ``/docs``):

* ``GET /health`` — the model, the catalogue size, how top-K is answered now.
* ``GET /users/{user_id}/recommendations?k=10&explain=false`` — top-K unseen videos with scores; with
  ``explain=true`` also the strongest watched -> tag/attribute -> candidate paths of each and the Eq. (7)
  attention of the user's embedding. A user the model does not know gets the most popular unseen videos,
  marked ``"fallback": "popular"``.
* ``POST /videos`` — a new video, embedded inductively and recommendable as soon as the answer (201) is sent;
  an existing id is a 409. ``GET /videos/{video_id}``.
* ``POST /interactions`` — new interactions (what changes at once: :data:`hhfan.serve.state.INTERACTIONS_EFFECT`).

Ids may hold any character but control characters (``/`` included: the routes take the rest of the path), so
a client URL-encodes them. Every error is JSON ``{"detail": "...", "code": "..."}`` with one line naming the
field or id at fault: a malformed body or query is a 422 (``body.features.visual: expected 128 values, got
3``), never a 500 or a traceback.
"""

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from hhfan.runner import Run, load_run
from hhfan.serve.schemas import (
    ErrorOut,
    HealthOut,
    InteractionsIn,
    InteractionsOut,
    RecommendationsOut,
    VideoIn,
    VideoOut,
)
from hhfan.serve.state import ServeConfig, ServeError, ServeState

ERRORS: dict[int | str, dict[str, Any]] = {422: {"model": ErrorOut, "description": "malformed request"}}


def field_name(loc: Sequence[int | str]) -> str:
    """``("body", "features", "visual", 3)`` -> ``body.features.visual[3]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "request"


def validation_message(errors: Sequence[Any]) -> str:
    """One line for pydantic/FastAPI validation errors, each naming its field."""
    parts = []
    for e in errors[:5]:
        loc = tuple(e.get("loc", ()))
        if e.get("type") == "json_invalid":
            why = (e.get("ctx") or {}).get("error", "")
            parts.append(f"body: invalid JSON{f' ({why})' if why else ''} at character {loc[-1] if loc else '?'}")
        else:
            parts.append(f"{field_name(loc)}: {e.get('msg', 'invalid')}")
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "; ".join(parts)


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """``model`` serialised once by pydantic (a returned Response is not validated again by FastAPI)."""
    return Response(model.model_dump_json(), status_code=status_code, media_type="application/json")


def create_app(run_dir: Path | None = None, data_dir: Path | None = None, config: ServeConfig | None = None,
               run: Run | None = None, say: Callable[[str], None] | None = None) -> FastAPI:
    """The service over a trained run: ``run_dir`` is loaded with :func:`hhfan.runner.load_run` (or ``run`` given).

    The state (embeddings, index, journal replay) is built here, so a broken run or journal fails before any
    request; it is released when the app shuts down (uvicorn, or leaving a ``TestClient`` block), or by
    ``app.state.serve.close()``.

    Args:
        run_dir: a run directory written by ``hhfan train``.
        data_dir: the run's dataset if it moved (as ``hhfan recommend --data``).
        config: service settings (state folder, index, limits).
        run: an already loaded run, instead of ``run_dir``.
        say: where start-up notes go.
    """
    if run is None:
        if run_dir is None:
            raise ValueError("create_app needs run_dir or run")
        run = load_run(Path(run_dir), data_dir=data_dir)
    cfg = config or ServeConfig()
    state = ServeState(run, cfg, say=say)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        """Serve; on shutdown close the journal and release the state folder."""
        yield
        state.close()

    app = FastAPI(title="hhfan", version="0.1.0", lifespan=lifespan,
                  description=f"HHFAN micro-video recommendations over run {run.run_dir} (model "
                              f"{run.config.model_name}).")
    app.state.serve = state

    @app.exception_handler(ServeError)
    async def serve_error(_request: Request, exc: ServeError) -> JSONResponse:
        """A refusal of the service: its status, code and one-line detail."""
        return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """A body or query the schema refuses: 422 with one line naming each field."""
        return JSONResponse({"detail": validation_message(list(exc.errors())), "code": "invalid"}, status_code=422)

    @app.get("/health", response_model=HealthOut, summary="Service status")
    def health() -> HealthOut:
        """The model, the catalogue and how top-K is answered now."""
        return state.health()

    @app.get("/users/{user_id:path}/recommendations", response_model=RecommendationsOut, responses=ERRORS,
             summary="Top-K unseen videos of a user")
    async def recommendations(user_id: str,
                              k: Annotated[int, Query(ge=1, le=cfg.max_k, description="how many videos")] = 10,
                              explain: Annotated[bool, Query(description="add paths and Eq. (7) attention")] = False,
                              ) -> Response:
        """The top-K videos the user has not seen, best first; a user the model does not know gets the most
        popular ones (``fallback: popular``). ``explain=true`` adds paths and the Eq. (7) attention."""
        # a FAISS query or a small exact one (about a millisecond) is answered on the event loop; anything longer
        # (a large exact search, explanations) in the thread pool, so the loop keeps taking requests meanwhile
        if state.answers_fast(explain):
            out = state.recommend(user_id, k, explain)
        else:
            out = await run_in_threadpool(state.recommend, user_id, k, explain)
        return json_response(out)

    @app.post("/videos", response_model=VideoOut, status_code=201, summary="Add a new video",
              responses={**ERRORS, 409: {"model": ErrorOut, "description": "the video id exists"},
                         503: {"model": ErrorOut, "description": "the journal could not be written"}})
    def post_video(body: VideoIn) -> VideoOut:
        """Embed a new video without retraining and make it recommendable at once (journaled first)."""
        return state.add_video(body)

    @app.get("/videos/{video_id:path}", response_model=VideoOut, summary="A video of the catalogue",
             responses={404: {"model": ErrorOut, "description": "unknown video id"}})
    def get_video(video_id: str) -> VideoOut:
        """A video of the catalogue (the run's or posted)."""
        return state.video(video_id)

    @app.post("/interactions", response_model=InteractionsOut, summary="Record new interactions",
              responses={**ERRORS, 503: {"model": ErrorOut, "description": "the journal could not be written"}})
    def post_interactions(body: InteractionsIn) -> InteractionsOut:
        """Record interactions: the users' seen-sets and popularity change at once (journaled first)."""
        return state.add_interactions(body)

    return app
