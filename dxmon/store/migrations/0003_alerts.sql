-- 0003: alerts service state. Everything the alerts service knows lives here, so a restart (or a
-- second instance taking over) forgets nothing and sends nothing twice.
-- No foreign keys to the catalog tables: sync_catalog replaces them wholesale.

-- One row per fingerprint (unit, indicator, kind): the current or last episode.
CREATE TABLE alerts (
    fingerprint  text PRIMARY KEY,
    unit         text NOT NULL,
    indicator    text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('behind', 'at_risk', 'missed', 'overdue')),
    severity     text NOT NULL CHECK (severity IN ('warning', 'critical')),
    state        text NOT NULL CHECK (state IN ('firing', 'resolved')),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz,
    status_since timestamptz,
    value        double precision,
    expected     double precision,
    target       double precision,
    milestone    date,
    updated_at   timestamptz NOT NULL,
    UNIQUE (unit, indicator, kind)
);
CREATE INDEX alerts_firing_idx ON alerts (unit) WHERE state = 'firing';

-- Every state change, in order: the history dashboards show, and the source of the DX_ALERTS
-- events and Grafana annotations (published after commit, marked when done).
CREATE TABLE alert_events (
    id           bigserial PRIMARY KEY,
    fingerprint  text NOT NULL,
    unit         text NOT NULL,
    indicator    text NOT NULL,
    kind         text NOT NULL,
    severity     text NOT NULL,
    state        text NOT NULL CHECK (state IN ('firing', 'resolved')),
    at           timestamptz NOT NULL,
    starts_at    timestamptz NOT NULL,
    value        double precision,
    expected     double precision,
    target       double precision,
    milestone    date,
    published_at timestamptz,
    annotated_at timestamptz
);
CREATE INDEX alert_events_unpublished_idx ON alert_events (id) WHERE published_at IS NULL;
CREATE INDEX alert_events_unannotated_idx ON alert_events (id) WHERE annotated_at IS NULL;
CREATE INDEX alert_events_unit_at_idx ON alert_events (unit, at DESC);

-- A channel is one recipient (its URL may hold tokens: not readable by the Grafana role).
CREATE TABLE channels (
    id         bigserial PRIMARY KEY,
    url        text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE subscriptions (
    id               bigserial PRIMARY KEY,
    unit             text NOT NULL,
    with_descendants boolean NOT NULL DEFAULT false,
    pillars          text[] NOT NULL DEFAULT '{}',   -- empty = every pillar
    min_severity     text NOT NULL DEFAULT 'warning' CHECK (min_severity IN ('warning', 'critical')),
    channel_id       bigint NOT NULL REFERENCES channels (id),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_unit_idx ON subscriptions (unit);

CREATE TABLE silences (
    id         bigserial PRIMARY KEY,
    unit       text NOT NULL,
    indicator  text,                                  -- NULL = every indicator of the unit
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    reason     text NOT NULL,
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX silences_active_idx ON silences (ends_at);

CREATE TABLE acknowledgements (
    fingerprint text PRIMARY KEY,
    until       timestamptz NOT NULL,
    reason      text NOT NULL,
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The notification log: what each channel was last told about each alert (Alertmanager's nflog).
CREATE TABLE notification_log (
    channel_id  bigint NOT NULL,
    fingerprint text NOT NULL,
    state       text NOT NULL CHECK (state IN ('firing', 'resolved')),
    starts_at   timestamptz NOT NULL,
    notified_at timestamptz NOT NULL,
    PRIMARY KEY (channel_id, fingerprint)
);
CREATE INDEX notification_log_firing_idx ON notification_log (fingerprint) WHERE state = 'firing';

-- Digests waiting to be delivered, and those delivered or given up (kept for the record).
CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    channel_id      bigint NOT NULL,
    created_at      timestamptz NOT NULL,
    reason          text NOT NULL,
    subject         text NOT NULL,
    body            text NOT NULL,
    notify_type     text NOT NULL,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text,
    finished_at     timestamptz
);
CREATE INDEX outbox_pending_idx ON outbox (channel_id, id) WHERE state = 'pending';

-- Every delivery attempt, successful or not.
CREATE TABLE delivery_attempts (
    id          bigserial PRIMARY KEY,
    outbox_id   bigint NOT NULL REFERENCES outbox (id),
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed')),
    error       text,
    duration_ms double precision NOT NULL
);
CREATE INDEX delivery_attempts_outbox_idx ON delivery_attempts (outbox_id);

GRANT SELECT, INSERT, UPDATE, DELETE ON alerts, alert_events, channels, subscriptions, silences,
    acknowledgements, notification_log, outbox, delivery_attempts TO dx_alerts;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO dx_alerts;
-- 0001's default privileges give every role SELECT on new tables; channel URLs hold bot tokens,
-- webhook secrets and mail passwords, so only the alerts role reads them.
REVOKE SELECT ON channels FROM dx_reader, dx_writer;
