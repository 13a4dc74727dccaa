"""backburner: durable background jobs for slow, flaky AI generation.

```python
import backburner as bb

app = bb.Backburner()

@app.task(timeout="2m", attempts=3)
async def chapter(ctx: bb.Context, entry: ChapterIn) -> ChapterOut:
    await ctx.progress(0.1, "Crafting your chapter…")
    ...
```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import Settings
from .durations import parse_duration
from .errors import (
    BackburnerError,
    ConfigError,
    Fail,
    InputNotSerializable,
    InputTooLarge,
    InputValidationError,
    InsufficientCredits,
    InvalidDuration,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    JobTimeout,
    LimitExceeded,
    NotBackburner,
    RateLimited,
    Retry,
    StorageError,
    UnknownKind,
    UnsupportedDatabase,
)
from .jobs import ErrorType, Event, Job, JobError, JobStatus, Webhook
from .ledger import CreditBalance, CreditEntry
from .retry import RetryPolicy

if TYPE_CHECKING:
    from .app import Backburner
    from .client import AsyncClient, Client
    from .context import Context, SyncContext
    from .storage import JobPage
    from .sync import SyncBackburner
    from .worker import Worker

#: Names imported on first use (PEP 562): they pull in SQLAlchemy or httpx, and
#: ``import backburner.client`` must not import SQLAlchemy or FastAPI.
_LAZY = {
    "AsyncClient": ".client",
    "Backburner": ".app",
    "Client": ".client",
    "Context": ".context",
    "JobPage": ".storage",
    "SyncBackburner": ".sync",
    "SyncContext": ".context",
    "Worker": ".worker",
}

__all__ = [
    "AsyncClient",
    "Backburner",
    "BackburnerError",
    "Client",
    "ConfigError",
    "Context",
    "CreditBalance",
    "CreditEntry",
    "ErrorType",
    "Event",
    "Fail",
    "InputNotSerializable",
    "InputTooLarge",
    "InputValidationError",
    "InsufficientCredits",
    "InvalidDuration",
    "InvalidInput",
    "InvalidTransition",
    "Job",
    "JobError",
    "JobNotFound",
    "JobPage",
    "JobStatus",
    "JobTimeout",
    "LimitExceeded",
    "NotBackburner",
    "RateLimited",
    "Retry",
    "RetryPolicy",
    "Settings",
    "StorageError",
    "SyncBackburner",
    "SyncContext",
    "UnknownKind",
    "UnsupportedDatabase",
    "Webhook",
    "Worker",
    "__version__",
    "parse_duration",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """Import a lazy public name on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
