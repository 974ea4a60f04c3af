"""Channels: where digests go. Each channel reports whether a failure is worth retrying.

``http://`` and ``https://`` URLs are plain JSON webhooks (``webhook.py``: the structured payload);
every other URL is handed to apprise (``apprise_channel.py``): ``mailto://``, ``tgram://``,
``zalo://``, ``slack://``, ``workflows://`` (MS Teams), ``json://``…
"""

from __future__ import annotations

from typing import Protocol
from urllib.parse import parse_qs, urlsplit

from services.alerts.messages import Message

WEBHOOK_SCHEMES = ("http", "https")


class DeliveryError(Exception):
    """DeliveryError: a channel did not accept a message; ``retryable`` says whether trying again can help.

    Timeouts, connection failures and 5xx (plus 408 and 429) are retryable; other 4xx are final.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


class Notifier(Protocol):
    """Notifier sends one message to one channel; it raises DeliveryError when the channel refuses it."""

    async def notify(self, message: Message) -> None: ...


def retryable_status(status: int) -> bool:
    """retryable_status: an HTTP answer that may turn into a success later."""
    return status >= 500 or status in (408, 429)


def notifier_for(url: str, timeout: float) -> Notifier:
    """notifier_for builds the notifier for a channel URL (raises ValueError for an unusable URL)."""
    from services.alerts.channels.apprise_channel import AppriseChannel
    from services.alerts.channels.webhook import WebhookChannel

    if urlsplit(url).scheme.lower() in WEBHOOK_SCHEMES:
        return WebhookChannel(url, timeout)
    return AppriseChannel(url, timeout)


def validate_url(url: str) -> None:
    """validate_url raises ValueError with a readable reason when ``url`` is no usable channel."""
    notifier_for(url, timeout=1.0)


def redact(url: str) -> str:
    """redact shows enough of a channel URL to recognise it, without tokens or passwords."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("mailto", "mailtos"):
        to = parse_qs(parts.query).get("to")
        return f"{scheme}://{parts.hostname or ''}" + (f"?to={','.join(to)}" if to else "")
    if scheme in WEBHOOK_SCHEMES or scheme in ("json", "jsons"):
        return f"{scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/…"
    return f"{scheme}://…"
