-- 0009: a report may carry an explanation (Nguyên nhân, giải pháp: why the value is what it is and what
-- is being done), kept with the period's value.
--
-- reports        gains explanation: as sent (NFC, trimmed; NULL = the report said nothing about it,
--                '' = it withdrew the period's explanation).
-- period_values  gain explanation, the period's explanation in force (NULL = none), and the order key of the
-- latest_values  report that last set or withdrew it (explanation_event_id, _received_at, _stream_seq; NULL
--                when no report of the period carried the field). The period's explanation is that of
--                the report received last among those that carried the field, in the same order as the
--                value in force (stream_seq, received_at, event_id): a correction that leaves the field
--                out keeps the explanation, one with '' withdraws it. A total (category '') has no
--                report of its own: its explanation stays NULL and its categories keep theirs.
-- dx_report_digest  takes the explanation too, so an event id reused with another explanation is
--                   dead-lettered like any other change of content. A NULL explanation adds nothing to
--                   the digest: every digest stored before this migration stays valid, and a
--                   9-argument call (an aggregator not yet upgraded) computes what it always did.
--
-- Existing rows: nothing to fill (no report had an explanation). Grants: the writer and the alerts
-- service (which builds the official report) hold table grants that cover new columns. The dashboards'
-- role (dx_reader) reads the period's explanation in period_values and latest_values through their
-- table grant (0004); reports.explanation, the history, is not granted to it (0006 grants reports column
-- by column, deny by default): the dashboards show only the explanation in force.

DROP FUNCTION dx_report_digest(text, text, text, timestamptz, double precision, double precision,
                               double precision, text, text);

CREATE FUNCTION dx_report_digest(unit text, indicator text, category text, observed_at timestamptz,
                                 value double precision, numerator double precision,
                                 denominator double precision, note text, source text,
                                 explanation text DEFAULT NULL)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    -- concat_ws skips a NULL: without an explanation the digest is 0004's, byte for byte.
    SELECT md5(concat_ws(chr(31), unit, indicator, category, extract(epoch FROM observed_at)::text,
                         coalesce(encode(float8send(value), 'hex'), '-'),
                         coalesce(encode(float8send(numerator), 'hex'), '-'),
                         coalesce(encode(float8send(denominator), 'hex'), '-'),
                         coalesce(md5(note), '-'), coalesce(md5(source), '-'),
                         'explanation:' || md5(explanation)))
$$;

-- A nullable column without a default is added to a compressed TimescaleDB hypertable in place (no
-- rewrite, no decompression).
ALTER TABLE reports ADD COLUMN explanation text;

ALTER TABLE period_values
    ADD COLUMN explanation text,
    ADD COLUMN explanation_event_id uuid,
    ADD COLUMN explanation_received_at timestamptz,
    ADD COLUMN explanation_stream_seq bigint;
-- Same columns in the same order: latest_values mirrors period_values row for row.
ALTER TABLE latest_values
    ADD COLUMN explanation text,
    ADD COLUMN explanation_event_id uuid,
    ADD COLUMN explanation_received_at timestamptz,
    ADD COLUMN explanation_stream_seq bigint;
