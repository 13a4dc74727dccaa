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

from .app import Backburner
from .config import Settings
from .context import Context, SyncContext
from .durations import parse_duration
from .errors import (
    BackburnerError,
    ConfigError,
    Fail,
    InputNotSerializable,
    InputTooLarge,
    InputValidationError,
    InvalidDuration,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    JobTimeout,
    Retry,
    StorageError,
    UnknownKind,
    UnsupportedDatabase,
)
from .jobs import ErrorType, Event, Job, JobError, JobStatus
from .retry import RetryPolicy
from .storage import JobPage
from .sync import SyncBackburner
from .worker import Worker

__all__ = [
    "Backburner",
    "BackburnerError",
    "ConfigError",
    "Context",
    "ErrorType",
    "Event",
    "Fail",
    "InputNotSerializable",
    "InputTooLarge",
    "InputValidationError",
    "InvalidDuration",
    "InvalidInput",
    "InvalidTransition",
    "Job",
    "JobError",
    "JobNotFound",
    "JobPage",
    "JobStatus",
    "JobTimeout",
    "Retry",
    "RetryPolicy",
    "Settings",
    "StorageError",
    "SyncBackburner",
    "SyncContext",
    "UnknownKind",
    "UnsupportedDatabase",
    "Worker",
    "__version__",
    "parse_duration",
]

__version__ = "0.1.0"
