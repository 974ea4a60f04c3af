"""AppriseChannel sends a digest's subject and body through apprise (mail, Telegram, Zalo, Slack, Teams…).

apprise 2.x returns an AppriseResult, not a bool; its attempt logs carry the HTTP status
(``error=500.``) that tells a retryable failure from a final one.
"""

from __future__ import annotations

import re

import apprise

from services.alerts.channels import DeliveryError, retryable_status
from services.alerts.messages import Message

_HTTP_STATUS = re.compile(r"error=(\d{3})\b")


class AppriseChannel:
    """AppriseChannel wraps one apprise URL; an unparsable URL is refused when the channel is built."""

    def __init__(self, url: str, timeout: float) -> None:
        self.apprise = apprise.Apprise()
        if not self.apprise.add(url):
            scheme = url.split("://", 1)[0] if "://" in url else url[:20]
            raise ValueError(f"not a usable channel URL (apprise does not understand '{scheme}://…' as given)")
        self.timeout = timeout

    async def notify(self, message: Message) -> None:
        """notify implements the Notifier protocol."""
        result = await self.apprise.async_notify(
            title=message.subject,
            body=message.body,
            notify_type=message.notify_type,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=self.timeout,
            log_level="WARNING",
        )
        if result.status == apprise.AppriseResultStatus.SUCCESS:
            return
        logs = [entry.message for r in result.results for attempt in r.attempts for entry in attempt.logs]
        detail = "; ".join(logs)[:300] or result.status.name
        if result.status == apprise.AppriseResultStatus.TIMEOUT:
            raise DeliveryError(f"timeout: {detail}", retryable=True)
        statuses = [int(m) for line in logs for m in _HTTP_STATUS.findall(line)]
        # Without an HTTP status (connection refused, SMTP error…) the failure may be passing: retry.
        retryable = not statuses or any(retryable_status(s) for s in statuses)
        raise DeliveryError(detail, retryable=retryable)
