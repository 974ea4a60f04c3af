"""Channels: URL checks, redaction, and which failures are retryable."""

from __future__ import annotations

import pytest

from services.alerts.channels import notifier_for, redact, retryable_status, validate_url
from services.alerts.channels.apprise_channel import AppriseChannel
from services.alerts.channels.webhook import WebhookChannel


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        pytest.param(500, True, id="500"),
        pytest.param(503, True, id="503"),
        pytest.param(429, True, id="429-rate-limited"),
        pytest.param(408, True, id="408-timeout"),
        pytest.param(400, False, id="400"),
        pytest.param(401, False, id="401-bad-token"),
        pytest.param(404, False, id="404"),
    ],
)
def test_retryable_status(status, retryable) -> None:
    assert retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        pytest.param("https://hooks.example.vn/dx", WebhookChannel, id="https-webhook"),
        pytest.param("mailto://smtp.example.vn:587?user=u&pass=p&to=staff@example.vn", AppriseChannel, id="mail"),
        pytest.param("tgram://123456:ABCDEF/-100200300", AppriseChannel, id="telegram"),
        pytest.param("zalo://123456789:AbCdEf_token/chat456", AppriseChannel, id="zalo-bot"),
        pytest.param("json://127.0.0.1:8080/hook", AppriseChannel, id="apprise-json"),
    ],
)
def test_notifier_for(url, kind) -> None:
    assert isinstance(notifier_for(url, 5), kind)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("nosuchscheme://x", id="unknown-scheme"),
        pytest.param("not a url", id="no-scheme"),
        pytest.param("tgram://", id="telegram-without-token"),
    ],
)
def test_invalid_urls_are_refused_with_a_reason(url) -> None:
    with pytest.raises(ValueError, match="channel URL"):
        validate_url(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("tgram://123456:SECRET/-100", "tgram://…", id="telegram-token-hidden"),
        pytest.param(
            "mailto://smtp.example.vn?user=u&pass=SECRET&to=a@example.vn",
            "mailto://smtp.example.vn?to=a@example.vn",
            id="mail-password-hidden",
        ),
        pytest.param("https://hooks.example.vn/SECRET", "https://hooks.example.vn/…", id="webhook-path-hidden"),
    ],
)
def test_redact(url, shown) -> None:
    assert redact(url) == shown
    assert "SECRET" not in redact(url)
