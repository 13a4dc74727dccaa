"""``GET /v1/jobs/{id}/artifacts/{name}``: a job's binary output, with the job's owner check.

A page shows one with ``<img src="/v1/jobs/{id}/artifacts/portrait.png?access_token=bbt_…">``.
Another owner's job, a missing job and a missing artifact all answer the same 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from ..app import Backburner
from .auth import CallerDep, owned_job

__all__ = ["router"]

router = APIRouter(tags=["artifacts"])

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
    """The artifact's bytes with the media type it was saved with."""
    app: Backburner = request.app.state.backburner
    await owned_job(app, caller, job_id)
    blob = await app.artifacts.read(job_id, name)
    headers = _HEADERS | {"Content-Disposition": f'inline; filename="{name}"'}
    return Response(blob.data, media_type=blob.content_type, headers=headers)
