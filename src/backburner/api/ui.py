"""The dashboard's pages: ``/ui`` (an owner's jobs, live) and ``/ui/admin`` (the operator's).

Plain HTML that loads ES modules and one stylesheet from ``/static/ui/``; the pages sign in
in the browser (a browser token or key), so serving them needs no credentials.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

__all__ = ["router"]

router = APIRouter(tags=["dashboard"], include_in_schema=False)

_PAGES = files("backburner") / "static" / "ui"
#: The pages change only with the package: no caching surprises after an upgrade, though.
_HEADERS = {"Cache-Control": "no-cache"}


def _page(name: str) -> HTMLResponse:
    return HTMLResponse((_PAGES / name).read_text(encoding="utf-8"), headers=_HEADERS)


@router.get("/ui")
async def user_page() -> HTMLResponse:
    """The end user's page: their jobs as live cards, a form per kind, their credits."""
    return _page("index.html")


@router.get("/ui/admin")
async def admin_page() -> HTMLResponse:
    """The operator's page: queues, running jobs, workers, throughput (admin key)."""
    return _page("admin.html")
