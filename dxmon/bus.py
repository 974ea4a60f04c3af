"""Bus: the one place that connects to NATS and declares streams, the aggregator's consumer and KV buckets.

Declaring everything here (and ``declare=False`` in FastStream) avoids the trap where a service
re-declares a stream with partial options and silently resets the rest (ag2ai/faststream#1830).
``ensure_topology`` is idempotent and updates existing streams and consumers in place.
"""

from __future__ import annotations

import logging

import nats
from faststream.exceptions import IncorrectState
from faststream.nats import NatsBroker
from faststream.security import SASLPlaintext
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError, BucketNotFoundError, NotFoundError

from dxmon.contracts import (
    ALERTS_STREAM,
    ALERTS_SUBJECTS,
    DEADLETTER_STREAM,
    DEADLETTER_SUBJECTS,
    KEYS_BUCKET,
    LEASES_BUCKET,
    REPORTS_STREAM,
    REPORTS_SUBJECTS,
)
from dxmon.settings import NatsSettings

log = logging.getLogger(__name__)

AGGREGATOR_DURABLE = "aggregator"
DAY = 86400.0


def inbox_prefix(settings: NatsSettings) -> str:
    """inbox_prefix is where replies to this connection arrive: ``_INBOX.<user>`` for a NATS user.

    Every reply (PubAcks, pulled messages, KV reads and watches) goes to the client's inbox. With a
    prefix per user the server can let each user subscribe to its own inboxes only (deploy/nats/
    auth.conf), so no service can listen to another's replies, e.g. ingest's key-bucket watch.
    """
    return f"_INBOX.{settings.nats_user}" if settings.nats_user else "_INBOX"


def connect_options(settings: NatsSettings, name: str) -> dict:
    """connect_options are the nats-py connection options shared by every service."""
    opts: dict = {
        "servers": [s.strip() for s in settings.nats_url.split(",") if s.strip()],
        "name": name,
        "reconnect_time_wait": 1,
        "max_reconnect_attempts": -1,
        "connect_timeout": 2,
        "inbox_prefix": inbox_prefix(settings),
    }
    if settings.nats_user:
        opts["user"] = settings.nats_user
        opts["password"] = settings.nats_password.get_secret_value() if settings.nats_password else ""
    return opts


async def connect(settings: NatsSettings, name: str) -> Client:
    """connect opens a NATS connection; it fails fast when no server answers, then reconnects forever."""
    return await nats.connect(**connect_options(settings, name))


def stream_configs(settings: NatsSettings) -> list[StreamConfig]:
    """stream_configs returns the full configuration of every stream dx-monitor owns."""
    return [
        # Interest retention: a report leaves the stream once the aggregator has committed and acked it,
        # so max_bytes bounds the *backlog*. discard=NEW makes a full stream refuse new reports (ingest
        # answers 503) instead of silently dropping old, unstored ones.
        StreamConfig(
            name=REPORTS_STREAM,
            description="Reports accepted by ingest, waiting to be stored",
            subjects=[REPORTS_SUBJECTS],
            retention=RetentionPolicy.INTEREST,
            storage=StorageType.FILE,
            discard=DiscardPolicy.NEW,
            max_age=settings.reports_max_age_days * DAY,
            max_bytes=settings.reports_max_bytes,
            duplicate_window=settings.dedup_window_seconds,
            num_replicas=settings.stream_replicas,
        ),
        StreamConfig(
            name=DEADLETTER_STREAM,
            description="Reports the aggregator could not store, with the reason in headers",
            subjects=[DEADLETTER_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=90 * DAY,
            num_replicas=settings.stream_replicas,
        ),
        StreamConfig(
            name=ALERTS_STREAM,
            description="Alert state changes (firing, resolved)",
            subjects=[ALERTS_SUBJECTS],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=90 * DAY,
            num_replicas=settings.stream_replicas,
        ),
    ]


def aggregator_consumer_config(ack_wait: float, max_ack_pending: int = 20_000) -> ConsumerConfig:
    """aggregator_consumer_config is the durable pull consumer shared by every aggregator process.

    ``max_deliver`` is unlimited on purpose: a database outage must never turn good reports into
    dead letters. Poison messages are dead-lettered by the aggregator itself, not by the server.
    """
    return ConsumerConfig(
        durable_name=AGGREGATOR_DURABLE,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=max_ack_pending,
        filter_subject=REPORTS_SUBJECTS,
    )


async def ensure_topology(js: JetStreamContext, settings: NatsSettings) -> None:
    """ensure_topology creates or updates the streams, the aggregator consumer and the KV buckets.

    The consumer is created here too, not only by the aggregator: with interest retention a report
    published while no consumer exists would be discarded at once.
    """
    for cfg in stream_configs(settings):
        assert cfg.name is not None  # stream_configs names every stream
        try:
            info = await js.stream_info(cfg.name)
        except NotFoundError:
            await js.add_stream(cfg)
            log.info("created stream %s", cfg.name)
            continue
        if info.config.retention != cfg.retention:
            # Retention cannot change in place; say so instead of failing obscurely.
            raise RuntimeError(
                f"stream {cfg.name} exists with retention {info.config.retention}; expected {cfg.retention}. "
                "Drain and delete it, then start again."
            )
        try:
            await js.update_stream(cfg)
        except BadRequestError as exc:  # e.g. replicas change on a single node
            log.warning("stream %s not updated: %s", cfg.name, exc)
    await js.add_consumer(REPORTS_STREAM, aggregator_consumer_config(settings.ack_wait_seconds))
    await ensure_buckets(js, settings)


async def ensure_buckets(js: JetStreamContext, settings: NatsSettings) -> None:
    """ensure_buckets creates the API-key and lease buckets when missing."""
    for bucket, cfg in (
        (KEYS_BUCKET, KeyValueConfig(bucket=KEYS_BUCKET, history=5, replicas=settings.stream_replicas)),
        (LEASES_BUCKET, KeyValueConfig(bucket=LEASES_BUCKET, history=1, ttl=10, replicas=settings.stream_replicas)),
    ):
        try:
            await js.key_value(bucket)
        except BucketNotFoundError:
            await js.create_key_value(cfg)


async def aggregator_backlog(js: JetStreamContext) -> int:
    """aggregator_backlog: reports in DX_REPORTS not yet committed and acked by the aggregator."""
    info = await js.consumer_info(REPORTS_STREAM, AGGREGATOR_DURABLE)
    return info.num_pending + info.num_ack_pending


def make_broker(settings: NatsSettings, name: str, logger: logging.Logger, **options) -> NatsBroker:
    """make_broker is the FastStream NatsBroker every service uses: reconnecting forever, with the
    service's NATS user and its own inbox prefix when one is configured.

    FastStream's line per received and processed message is DEBUG (``log_level``): at INFO one line
    per report buries everything else. Handler errors are still logged as errors.
    """
    options.setdefault("log_level", logging.DEBUG)
    security = None
    if settings.nats_user:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        security = SASLPlaintext(username=settings.nats_user, password=password)
    return NatsBroker(
        [s.strip() for s in settings.nats_url.split(",") if s.strip()],
        name=name,
        reconnect_time_wait=1,
        max_reconnect_attempts=-1,
        connect_timeout=2,
        security=security,
        logger=logger,
        inbox_prefix=inbox_prefix(settings),
        **options,
    )


def broker_connected(broker: NatsBroker) -> bool:
    """broker_connected: the broker's NATS connection is up (False before it first connected, too)."""
    try:
        return broker.connection.is_connected
    except IncorrectState:  # FastStream raises until the first connection succeeds
        return False
