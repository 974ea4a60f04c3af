-- 0001: catalog tables, reports (hypertable where TimescaleDB is loaded), derived tables, roles.
-- The runner sets dxmon.timescale to 'on' or 'off' for this session before applying a file; the
-- DO blocks below read it, so the same file builds a TimescaleDB or a plain PostgreSQL schema.

CREATE TABLE dx_meta (
    key   text PRIMARY KEY,
    value text NOT NULL
);

-- Catalog, synced from catalog/*.yaml by `dxmon catalog sync` (and at aggregator start).
CREATE TABLE units (
    code        text PRIMARY KEY,
    name_vi     text NOT NULL,
    level       text NOT NULL CHECK (level IN ('province', 'department', 'district', 'commune')),
    type        text NOT NULL,
    parent      text,
    valid_from  date NOT NULL,
    valid_to    date,
    gso         text,
    CHECK (valid_to IS NULL OR valid_to >= valid_from)
);
CREATE INDEX units_parent_idx ON units (parent);

CREATE TABLE unit_successors (
    predecessor text NOT NULL REFERENCES units (code) ON DELETE CASCADE,
    successor   text NOT NULL REFERENCES units (code) ON DELETE CASCADE,
    partial     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (predecessor, successor)
);

CREATE TABLE indicators (
    code        text PRIMARY KEY,
    pillar      text NOT NULL,
    name_vi     text NOT NULL,
    name_en     text NOT NULL,
    measure     text NOT NULL,
    direction   text NOT NULL,
    applies_to  text[] NOT NULL,
    cadence     text NOT NULL,
    timely_days integer NOT NULL,
    grace_days  integer NOT NULL
);

-- One row per (indicator, level): targets may differ by level (e.g. 90% for the province, 60% for
-- communes), so the catalog's per-level-group targets are exploded here for simple joins on level.
CREATE TABLE targets (
    indicator      text NOT NULL REFERENCES indicators (code) ON DELETE CASCADE,
    level          text NOT NULL,
    baseline_value double precision,
    baseline_date  date,
    PRIMARY KEY (indicator, level)
);

CREATE TABLE target_milestones (
    indicator  text NOT NULL,
    level      text NOT NULL,
    deadline   date NOT NULL,
    value      double precision NOT NULL,
    comparator text NOT NULL,
    PRIMARY KEY (indicator, level, deadline),
    FOREIGN KEY (indicator, level) REFERENCES targets (indicator, level) ON DELETE CASCADE
);

-- One row per stored report, exactly as accepted (value is NULL for ratio indicators).
-- The primary key holds the partitioning column because TimescaleDB requires it; a resubmission
-- carries the same event_id and observed_at, so it still conflicts.
CREATE TABLE reports (
    observed_at    timestamptz NOT NULL,
    event_id       uuid NOT NULL,
    unit           text NOT NULL,
    indicator      text NOT NULL,
    value          double precision,
    numerator      double precision,
    denominator    double precision,
    note           text,
    source         text,
    agency         text NOT NULL,
    key_id         text NOT NULL,
    received_at    timestamptz NOT NULL,
    stored_at      timestamptz NOT NULL DEFAULT now(),
    schema_version smallint NOT NULL,
    PRIMARY KEY (event_id, observed_at)
);
CREATE INDEX reports_unit_indicator_idx ON reports (unit, indicator, observed_at DESC);

-- The value in force for each (unit, indicator, period): a later report for the same period is a
-- correction, so the latest received wins; `reports` counts how many arrived.
CREATE TABLE period_values (
    unit        text NOT NULL,
    indicator   text NOT NULL,
    observed_at timestamptz NOT NULL,
    value       double precision NOT NULL,
    numerator   double precision,
    denominator double precision,
    event_id    uuid NOT NULL,
    received_at timestamptz NOT NULL,
    reports     integer NOT NULL,
    PRIMARY KEY (unit, indicator, observed_at)
);
CREATE INDEX period_values_indicator_idx ON period_values (indicator, observed_at);

-- The newest period's value per (unit, indicator): what dashboards and alerts read first.
CREATE TABLE latest_values (
    unit        text NOT NULL,
    indicator   text NOT NULL,
    observed_at timestamptz NOT NULL,
    value       double precision NOT NULL,
    numerator   double precision,
    denominator double precision,
    event_id    uuid NOT NULL,
    received_at timestamptz NOT NULL,
    PRIMARY KEY (unit, indicator)
);

-- Pipeline health per minute of storage: how many reports were stored and how long they waited
-- between ingest (received_at) and commit.
CREATE TABLE ingest_minutely (
    bucket     timestamptz PRIMARY KEY,
    stored     bigint NOT NULL,
    lag_ms_sum double precision NOT NULL,
    lag_ms_max double precision NOT NULL
);

CREATE TABLE dead_letters (
    id          bigserial PRIMARY KEY,
    stream_seq  bigint NOT NULL UNIQUE,
    subject     text NOT NULL,
    reason      text NOT NULL,
    detail      text NOT NULL,
    payload     text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

DO $$
BEGIN
    IF current_setting('dxmon.timescale', true) = 'on' THEN
        PERFORM create_hypertable('reports', by_range('observed_at', INTERVAL '90 days'));
        ALTER TABLE reports SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'unit, indicator',
            timescaledb.compress_orderby = 'observed_at DESC, event_id'
        );
        PERFORM add_compression_policy('reports', INTERVAL '400 days');
        EXECUTE $v$
            CREATE MATERIALIZED VIEW reports_monthly WITH (timescaledb.continuous) AS
            SELECT time_bucket(INTERVAL '1 month', observed_at) AS month, unit, indicator,
                   count(*) AS reports,
                   last(coalesce(value, 100 * numerator / nullif(denominator, 0)), received_at) AS last_value,
                   max(received_at) AS last_received_at
            FROM reports GROUP BY 1, 2, 3 WITH NO DATA
        $v$;
        ALTER MATERIALIZED VIEW reports_monthly SET (timescaledb.materialized_only = false);
        PERFORM add_continuous_aggregate_policy('reports_monthly',
            start_offset => INTERVAL '3 years', end_offset => INTERVAL '1 day',
            schedule_interval => INTERVAL '15 minutes');
    ELSE
        -- Plain PostgreSQL: same names, computed on read. time_bucket is shimmed for dashboards.
        EXECUTE $f$
            CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
            LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
                SELECT CASE
                    WHEN bucket_width >= INTERVAL '1 year' THEN date_trunc('year', ts)
                    WHEN bucket_width >= INTERVAL '1 month' THEN date_trunc('month', ts)
                    -- time_bucket aligns multi-day buckets to Monday 2000-01-03; date_bin matches it.
                    ELSE date_bin(bucket_width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00')
                END
            $body$
        $f$;
        EXECUTE $v$
            CREATE VIEW reports_monthly AS
            SELECT time_bucket(INTERVAL '1 month', observed_at) AS month, unit, indicator,
                   count(*) AS reports,
                   (array_agg(coalesce(value, 100 * numerator / nullif(denominator, 0))
                              ORDER BY received_at DESC))[1] AS last_value,
                   max(received_at) AS last_received_at
            FROM reports GROUP BY 1, 2, 3
        $v$;
    END IF;
END
$$;

-- Least privilege: group roles; deployments create LOGIN users that are members of them.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dx_writer') THEN
        CREATE ROLE dx_writer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dx_alerts') THEN
        CREATE ROLE dx_alerts NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dx_reader') THEN
        CREATE ROLE dx_reader NOLOGIN;
    END IF;
END
$$;

GRANT USAGE ON SCHEMA public TO dx_writer, dx_alerts, dx_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO dx_writer, dx_alerts, dx_reader;
GRANT INSERT, UPDATE, DELETE ON units, unit_successors, indicators, targets, target_milestones TO dx_writer;
GRANT INSERT ON reports TO dx_writer;
GRANT INSERT, UPDATE ON period_values, latest_values, ingest_minutely TO dx_writer;
GRANT INSERT ON dead_letters TO dx_writer;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO dx_writer;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO dx_writer, dx_alerts, dx_reader;
