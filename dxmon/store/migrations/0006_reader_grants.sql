-- 0006: the dashboards' role (dx_reader, Grafana's login) reads only what the dashboards show.
-- Any Grafana Viewer can send its own SQL through the datasource (/api/ds/query), so what dx_reader
-- may SELECT is what every Viewer may read. Notification bodies and delivery errors (outbox,
-- delivery_attempts), who is told what (subscriptions, notification_log, channels), report notes
-- and sending systems (reports.note, source, agency, key_id) and raw dead-letter bodies
-- (dead_letters.payload) are for the alerts service and operators only.
-- Silences and acknowledgements stay readable: the Cảnh báo dashboard shows who muted what and why.
-- The statement timeout and connection limit are on the login (dxmon db create-users), since
-- role settings are not inherited from a group.

REVOKE SELECT ON outbox, delivery_attempts, notification_log, subscriptions, channels FROM dx_reader;

-- Column grants: every column except the sensitive ones listed here, read from the catalog now,
-- so columns earlier migrations added stay readable. A column added to these tables by a later
-- migration is not readable by dx_reader until that migration grants it.
DO $$
DECLARE
    sensitive CONSTANT jsonb := '{"reports": ["note", "source", "agency", "key_id"],
                                  "dead_letters": ["payload"]}';
    tbl text;
    readable text;
BEGIN
    FOR tbl IN SELECT jsonb_object_keys(sensitive) LOOP
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO readable
        FROM pg_attribute a
        WHERE a.attrelid = tbl::regclass AND a.attnum > 0 AND NOT a.attisdropped
          AND a.attname <> ALL (SELECT jsonb_array_elements_text(sensitive -> tbl));
        -- Revoking the table privilege also drops any column privileges; then grant the columns.
        EXECUTE format('REVOKE SELECT ON %I FROM dx_reader', tbl);
        EXECUTE format('GRANT SELECT (%s) ON %I TO dx_reader', readable, tbl);
    END LOOP;
END $$;

-- Deny by default from here on: a table created by a later migration is readable by the dashboards
-- only when that migration grants it (0002 and 0003 already grant explicitly).
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM dx_reader;
