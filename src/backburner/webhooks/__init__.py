"""Webhooks: signed per the Standard Webhooks spec; `verify` checks them on the receiving end.

```python
from backburner.webhooks import verify, WebhookVerificationError

event = verify(request_body, request.headers, secret)   # the owner's whsec_… secret
```

Light on purpose: a receiver imports this without the database or the server.
"""

from __future__ import annotations

from .signing import WebhookVerificationError, sign, verify

__all__ = ["WebhookVerificationError", "sign", "verify"]
