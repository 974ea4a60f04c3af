-- 0004: values in force are keyed by reporting period (and category), not by the exact instant; event
-- ids are scoped to the sending agency.
--
-- reports        gains period_start (first local day of the report's period of its indicator's cadence,
--                computed by the aggregator), category ('' = none) and stream_seq (the DX_REPORTS stream
--                sequence: one total order of arrival across ingest replicas, unlike their clocks).
--                Its primary key (event_id, observed_at) goes: the same event id from two agencies is
--                two reports. Uniqueness per (agency, event_id) lives in report_ids, a plain table,
--                because a TimescaleDB hypertable can only enforce unique keys that hold observed_at.
-- report_ids     one row per stored report: (agency, event_id) → observed_at and a digest of its
--                content, so a resubmission is recognised as a replay (same digest: nothing stored)
--                or as an event id reused for different content (dead-lettered `event-id-reused`).
-- period_values  the value in force per (unit, indicator, category, period_start): the report of that
--                period received last, ordered by (stream_seq, received_at, event_id); `reports`
--                counts how many arrived. For an indicator with categories, category '' is the total:
--                ratios by summed numerators and denominators, counts by sum; includes_percent_only
--                says a member had only a published percentage (its counts could not be summed).
-- latest_values  the newest period's row per (unit, indicator, category).
--
-- Existing rows: period_start from the indicators table's cadence in calendar periods (the programme
-- setting `reporting_window` is not in the database; Quảng Ninh uses calendar periods), category '',
-- stream_seq NULL (ordered before any report that has one); period_values, latest_values and
-- report_ids are rebuilt from reports.

-- The content of a report, as a digest: what a resubmission must repeat to count as the same report.
-- Binary float images and the epoch keep it independent of session settings (extra_float_digits,
-- TimeZone); hence IMMUTABLE.
CREATE FUNCTION dx_report_digest(unit text, indicator text, category text, observed_at timestamptz,
                                 value double precision, numerator double precision,
                                 denominator double precision, note text, source text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT md5(concat_ws(chr(31), unit, indicator, category, extract(epoch FROM observed_at)::text,
                         coalesce(encode(float8send(value), 'hex'), '-'),
                         coalesce(encode(float8send(numerator), 'hex'), '-'),
                         coalesce(encode(float8send(denominator), 'hex'), '-'),
                         coalesce(md5(note), '-'), coalesce(md5(source), '-')))
$$;

-- First local day of the calendar period of `cadence` holding `observed_at` (old rows only; the
-- aggregator computes new rows' periods with dxmon/periods.py, which also knows the NĐ 09 window).
CREATE FUNCTION dx_calendar_period_start(cadence text, observed_at timestamptz)
RETURNS date LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT date_trunc(CASE cadence WHEN 'yearly' THEN 'year' WHEN 'quarterly' THEN 'quarter' ELSE 'month' END,
                      (observed_at AT TIME ZONE 'Asia/Ho_Chi_Minh'))::date
$$;

DO $$
BEGIN
    IF current_setting('dxmon.timescale', true) = 'on' THEN
        -- Not every TimescaleDB version lets a hypertable with compression enabled take the UPDATE and
        -- constraint changes below: decompress, switch compression off, change, then switch it back on
        -- (end of file); the policy compresses the old chunks again on its next run.
        PERFORM decompress_chunk(c, true) FROM show_chunks('reports') c;
        PERFORM remove_compression_policy('reports', if_exists => true);
        ALTER TABLE reports SET (timescaledb.compress = false);
    END IF;
END
$$;

ALTER TABLE reports ADD COLUMN period_start date;
ALTER TABLE reports ADD COLUMN category text NOT NULL DEFAULT '';
ALTER TABLE reports ADD COLUMN stream_seq bigint;

UPDATE reports r
SET period_start = dx_calendar_period_start(
    coalesce((SELECT i.cadence FROM indicators i WHERE i.code = r.indicator), 'monthly'), r.observed_at);

ALTER TABLE reports ALTER COLUMN period_start SET NOT NULL;
ALTER TABLE reports DROP CONSTRAINT reports_pkey;

CREATE TABLE report_ids (
    agency      text NOT NULL,
    event_id    uuid NOT NULL,
    observed_at timestamptz NOT NULL,
    digest      text NOT NULL,
    PRIMARY KEY (agency, event_id)
);

-- Before 0004 the event id alone was the key, so the old rows are unique per (agency, event_id) too.
INSERT INTO report_ids (agency, event_id, observed_at, digest)
SELECT agency, event_id, observed_at,
       dx_report_digest(unit, indicator, category, observed_at, value, numerator, denominator, note, source)
FROM reports
ON CONFLICT DO NOTHING;

DROP TABLE latest_values;
DROP TABLE period_values;

CREATE TABLE period_values (
    unit                  text NOT NULL,
    indicator             text NOT NULL,
    category              text NOT NULL DEFAULT '',
    period_start          date NOT NULL,
    period_end            date NOT NULL,
    observed_at           timestamptz NOT NULL,       -- of the report in force (the latest member's for a total)
    value                 double precision NOT NULL,  -- ratios as percent
    numerator             double precision,
    denominator           double precision,
    percent_only          boolean NOT NULL DEFAULT false,
    includes_percent_only boolean NOT NULL DEFAULT false,
    event_id              uuid NOT NULL,
    received_at           timestamptz NOT NULL,
    stream_seq            bigint,
    reports               integer NOT NULL,
    PRIMARY KEY (unit, indicator, category, period_start)
);
CREATE INDEX period_values_indicator_idx ON period_values (indicator, period_start);

CREATE TABLE latest_values (LIKE period_values INCLUDING DEFAULTS);
ALTER TABLE latest_values ADD PRIMARY KEY (unit, indicator, category);

INSERT INTO period_values (unit, indicator, category, period_start, period_end, observed_at, value, numerator,
                           denominator, percent_only, event_id, received_at, stream_seq, reports)
SELECT DISTINCT ON (r.unit, r.indicator, r.category, r.period_start)
       r.unit, r.indicator, r.category, r.period_start,
       (r.period_start + CASE coalesce(i.cadence, 'monthly') WHEN 'yearly' THEN INTERVAL '1 year'
                            WHEN 'quarterly' THEN INTERVAL '3 months' ELSE INTERVAL '1 month' END
        - INTERVAL '1 day')::date,
       r.observed_at, coalesce(r.value, 100 * r.numerator / nullif(r.denominator, 0)), r.numerator,
       r.denominator, false, r.event_id, r.received_at, r.stream_seq,
       count(*) OVER (PARTITION BY r.unit, r.indicator, r.category, r.period_start)
FROM reports r
LEFT JOIN indicators i ON i.code = r.indicator
WHERE coalesce(r.value, 100 * r.numerator / nullif(r.denominator, 0)) IS NOT NULL
ORDER BY r.unit, r.indicator, r.category, r.period_start,
         coalesce(r.stream_seq, 0) DESC, r.received_at DESC, r.event_id DESC;

INSERT INTO latest_values
SELECT DISTINCT ON (unit, indicator, category) *
FROM period_values
ORDER BY unit, indicator, category, period_start DESC;

DO $$
BEGIN
    IF current_setting('dxmon.timescale', true) = 'on' THEN
        ALTER TABLE reports SET (
            timescaledb.compress,
            timescaledb.compress_segmentby = 'unit, indicator',
            timescaledb.compress_orderby = 'observed_at DESC, event_id'
        );
        PERFORM add_compression_policy('reports', INTERVAL '400 days');
    END IF;
END
$$;

GRANT SELECT ON period_values, latest_values, report_ids TO dx_writer, dx_alerts, dx_reader;
GRANT INSERT, UPDATE ON period_values, latest_values TO dx_writer;
GRANT INSERT ON report_ids TO dx_writer;
