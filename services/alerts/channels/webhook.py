"""WebhookChannel POSTs a digest's structured JSON payload (``dx-alerts/1``) to an HTTP(S) URL."""

from __future__ import annotations

import httpx

from services.alerts.channels import DeliveryError, retryable_status
from services.alerts.messages import Message


class WebhookChannel:
    """WebhookChannel: 2xx is delivered; 5xx, 408, 429, timeouts and connection errors are retryable."""

    def __init__(self, url: str, timeout: float) -> None:
        try:
            httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ValueError(f"invalid webhook URL: {exc}") from None
        self.url = url
        self.timeout = timeout

    async def notify(self, message: Message) -> None:
        """notify implements the Notifier protocol."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(self.url, json=message.payload)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retryable=True) from exc
        if response.is_success:
            return
        raise DeliveryError(
            f"HTTP {response.status_code}: {response.text[:200]}", retryable=retryable_status(response.status_code)
        )
