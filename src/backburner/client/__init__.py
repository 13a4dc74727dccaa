"""Call a backburner server over HTTP: `Client` (sync) and `AsyncClient`.

```python
import backburner as bb

with bb.Client("http://localhost:8000", api_key) as client:
    job = client.submit("chapter", {"journal_entry": "Today I walked along the sea."})
    job = client.wait(job.id, timeout=300, on_change=lambda j: print(j.progress, j.message))
    print(job.output)
```

Both classes make the same calls over one I/O-free `BaseClient`, which builds each request
and turns each response into a `Job` or one of the `errors` classes. This module imports
only the core (no FastAPI, no SQLAlchemy): an app that only calls backburner stays light.
"""

from __future__ import annotations

from .async_client import AsyncClient
from .base import BaseClient, CreditReport, JobList
from .sync import Client

__all__ = ["AsyncClient", "BaseClient", "Client", "CreditReport", "JobList"]
