"""``GET /v1/jobs/{id}/artifacts/{name}``: a job's binary output, with the job's owner check.

A page shows one with ``<img src="/v1/jobs/{id}/artifacts/portrait.png?access_token=bbt_…">``.
Another owner's job, a missing job and a missing artifact all answer the same 404.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from ..app import Backburner
from .auth import CallerDep, owned_job

__all__ = ["router"]

router = APIRouter(tags=["artifacts"])

#: One range of bytes (several in one request are answered with the whole body).
_RANGE = re.compile(r"bytes=(\d{0,18})-(\d{0,18})")
#: A range that starts past the end: 416.
_UNSATISFIABLE = (-1, -1)

#: Artifacts are whatever a handler saved: never let a browser run them as this origin's page
#: (an HTML "artifact" would otherwise read the dashboard's stored token), nor guess the type.
_HEADERS = {
    "Content-Security-Policy": "sandbox",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=3600",
}


@router.get(
    "/v1/jobs/{job_id}/artifacts/{name}",
    response_class=Response,
    responses={200: {"description": "the artifact's bytes, with its media type"}},
)
async def get_artifact(job_id: str, name: str, request: Request, caller: CallerDep) -> Response:
    """The artifact's bytes with the media type it was saved with, streamed in chunks; one
    ``Range: bytes=…`` gets ``206`` with that part (video players seek with them), an
    unsatisfiable one ``416``."""
    app: Backburner = request.app.state.backburner
    await owned_job(app, caller, job_id)
    reader = await app.artifacts.open(job_id, name)
    headers = _HEADERS | {
        "Content-Disposition": f'inline; filename="{name}"',
        "Accept-Ranges": "bytes",
    }
    size = reader.size
    wanted = _byte_range(request.headers.get("range"), size)
    if wanted == _UNSATISFIABLE:
        await reader.close()
        headers["Content-Range"] = f"bytes */{size}"
        return Response(status_code=416, headers=headers)
    start, end = wanted or (0, size - 1)
    if wanted is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end + 1 - start)
    return StreamingResponse(
        reader.chunks(start, end),
        status_code=200 if wanted is None else 206,
        media_type=reader.content_type,
        headers=headers,
        background=BackgroundTask(reader.close),  # if the stream never started
    )


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``(first, last)`` of a single ``bytes=`` range; `_UNSATISFIABLE` when it cannot be;
    ``None`` when there is none, or it is not one this serves (the whole body is sent)."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    elif last:  # the final N bytes
        start, end = max(size - int(last), 0), size - 1
    else:
        return None
    if start > end or start >= size:
        return _UNSATISFIABLE
    return start, end
