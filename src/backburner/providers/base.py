"""Where a provider lives (`ProviderConfig`) and the HTTP every provider shares (`HttpProvider`).

Every request goes through `HttpProvider.request`, the one place an answer or a broken
connection becomes a `ProviderError` (see `backburner.providers.errors`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Self

import httpx

from ..errors import ConfigError
from .errors import ProviderUnavailable, clip, error_for_response, error_for_transport

__all__ = ["HttpProvider", "ProviderConfig"]

#: OpenAI's API: the default base URL of the OpenAI-compatible providers.
OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class ProviderConfig:
    """Where a provider lives and how long to wait for it.

    ```python
    nvidia = ProviderConfig(
        base_url="https://integrate.api.nvidia.com/v1",
        api_key=os.environ["NVIDIA_API_KEY"],
        model="stepfun-ai/step-3.5-flash",
        timeout_s=120,
    )
    ```
    """

    #: The API's root, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:11434/v1``.
    base_url: str = OPENAI_BASE_URL
    #: Sent as ``Authorization: Bearer …`` to ``base_url``'s host only; ``None`` sends none.
    api_key: str | None = field(default=None, repr=False)
    #: The model to ask for when a call names none.
    model: str | None = None
    #: Seconds to wait for an answer (reading, writing, a free pooled connection).
    timeout_s: float = 120.0
    #: Seconds to wait for a connection.
    connect_timeout_s: float = 10.0
    #: Extra headers sent with every request to ``base_url``'s host.
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must be an http(s) URL, got {self.base_url!r}")
        if not (self.timeout_s > 0 and self.connect_timeout_s > 0):
            raise ConfigError("timeout_s and connect_timeout_s must be more than 0")

    @classmethod
    def from_env(
        cls,
        prefix: str = "OPENAI",
        *,
        base_url: str = OPENAI_BASE_URL,
        model: str | None = None,
        model_env: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ProviderConfig:
        """A config from ``{prefix}_BASE_URL``, ``{prefix}_API_KEY`` (or ``_API_TOKEN``),
        ``{prefix}_MODEL`` (or ``model_env``) and ``{prefix}_TIMEOUT_S``; the arguments are
        the defaults. Nothing is read until it is called.

        ``ProviderConfig.from_env()`` reads ``OPENAI_*``;
        ``ProviderConfig.from_env("NVIDIA", base_url="https://integrate.api.nvidia.com/v1")``
        reads ``NVIDIA_*``.
        """
        env = os.environ if environ is None else environ
        timeout = env.get(f"{prefix}_TIMEOUT_S")
        try:
            timeout_s = float(timeout) if timeout else cls.timeout_s
        except ValueError:
            raise ConfigError(f"{prefix}_TIMEOUT_S must be a number, got {timeout!r}") from None
        return cls(
            base_url=env.get(f"{prefix}_BASE_URL") or base_url,
            api_key=env.get(f"{prefix}_API_KEY") or env.get(f"{prefix}_API_TOKEN") or None,
            model=env.get(model_env or f"{prefix}_MODEL") or model,
            timeout_s=timeout_s,
        )


class HttpProvider:
    """The HTTP a provider shares: one pooled `httpx.AsyncClient` (made on first use, or
    passed in), auth headers, and answers turned into `ProviderError`.

    Use one provider per event loop; close it with ``await provider.aclose()`` or
    ``async with``. A client passed in is the caller's to close.
    """

    #: The variable naming the model, after the prefix (``OPENAI`` + ``_IMAGE_MODEL``).
    model_variable: ClassVar[str] = "_MODEL"

    def __init__(self, config: ProviderConfig, *, client: httpx.AsyncClient | None = None) -> None:
        #: Where the provider lives and how long to wait for it.
        self.config = config
        self._client = client
        self._owns_client = client is None

    @classmethod
    def from_env(
        cls, prefix: str = "OPENAI", *, base_url: str = OPENAI_BASE_URL, model: str | None = None
    ) -> Self:
        """A provider configured by ``{prefix}_BASE_URL``, ``_API_KEY``, the model variable
        (``_MODEL``; ``_IMAGE_MODEL`` for images …) and ``_TIMEOUT_S`` (see
        `ProviderConfig.from_env`)."""
        variable = f"{prefix}{cls.model_variable}"
        config = ProviderConfig.from_env(prefix, base_url=base_url, model=model, model_env=variable)
        return cls(config)

    @property
    def client(self) -> httpx.AsyncClient:
        """The HTTP client (made on first use)."""
        if self._client is None:
            timeout = httpx.Timeout(self.config.timeout_s, connect=self.config.connect_timeout_s)
            self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=True)
        return self._client

    def url(self, path: str) -> str:
        """``path`` under the base URL (an absolute URL is kept as it is)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.config.base_url.rstrip('/')}/{path.lstrip('/')}"

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        timeout_s: float | None = None,
    ) -> httpx.Response:
        """Send one request; the answer when it is a 2xx, else the `ProviderError` it means."""
        url = self.url(path)
        timeout = httpx.USE_CLIENT_DEFAULT if timeout_s is None else httpx.Timeout(timeout_s)
        try:
            response = await self.client.request(
                method, url, json=json, headers=self._headers_for(url), timeout=timeout
            )
        except httpx.TransportError as exc:
            raise error_for_transport(exc, url) from exc
        if not response.is_success:
            raise error_for_response(response)
        return response

    async def request_json(
        self, method: str, path: str, *, json: Any = None, timeout_s: float | None = None
    ) -> dict[str, Any]:
        """`request`, and its answer's JSON object; an answer that is not one is a (retryable)
        `ProviderUnavailable`: a proxy's error page, a truncated body."""
        response = await self.request(method, path, json=json, timeout_s=timeout_s)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ProviderUnavailable(
                f"the answer from {self.url(path)} is not a JSON object: {clip(response.text)!r}",
                status=response.status_code,
            )
        return body

    async def aclose(self) -> None:
        """Close the HTTP client if this provider made it."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _headers_for(self, url: str) -> dict[str, str]:
        # The key goes only to the provider's own host: an image URL on a CDN must not see it.
        if httpx.URL(url).netloc != httpx.URL(self.config.base_url).netloc:
            return {}
        headers = dict(self.config.headers)
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        return headers
