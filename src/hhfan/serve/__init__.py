"""The HTTP service over a trained run (DESIGN §8, issue 14): ``hhfan serve --run RUN_DIR``.

A FastAPI app (:func:`hhfan.serve.app.create_app`) that recommends the top-K unseen videos of a user, explains
them (watched -> tag/attribute -> candidate paths, Eq. (7) attention), takes new videos (embedded inductively,
recommendable at once) and new interactions, and keeps what it was told in an append-only journal next to the
run (``RUN_DIR/serve/``), so a restarted server still has it.

Modules: :mod:`~hhfan.serve.index` (exact top-K, FAISS past a catalogue size), :mod:`~hhfan.serve.journal`
(the fsync'd journal), :mod:`~hhfan.serve.explain` (path search), :mod:`~hhfan.serve.state` (the service's
in-memory state and its one writer lock), :mod:`~hhfan.serve.schemas` (request/response models) and
:mod:`~hhfan.serve.app` (routes and error answers). Nothing is imported here, so ``import hhfan.serve.index``
does not pull in FastAPI.
"""
