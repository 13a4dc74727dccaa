"""An app that only calls backburner never imports FastAPI or SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys


def test_the_client_imports_neither_fastapi_nor_sqlalchemy() -> None:
    code = (
        "import sys, backburner.client, backburner as bb; bb.Client; bb.AsyncClient; "
        "heavy = {'fastapi', 'starlette', 'sqlalchemy', 'alembic'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_lazy_names_still_resolve_and_are_listed() -> None:
    import backburner as bb

    assert bb.Backburner.__name__ == "Backburner" and bb.JobPage.__name__ == "JobPage"
    assert set(bb.__all__) <= set(dir(bb))
