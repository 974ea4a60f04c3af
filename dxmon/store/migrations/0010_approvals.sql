-- 0010: data approval (DHIS2-style), optional per programme (catalog `programme.approval`); the rules are in
-- dxmon/store/approvals_repository.py.
--
-- programme            one row: whether the programme approves its units' periods (synced from the catalog
--                      with the other catalog tables), so dashboard SQL knows whether to show approval
-- approval_decisions   every decision, never updated or deleted: a unit's period (period_start..period_end,
--                      `period` its code, e.g. 2026-11 or 2026-Q3) approved or returned, for the whole
--                      unit-period (indicator '') or one indicator, with the comment, who (`by`: the approver
--                      key's agency or the operator), the key (key_id, NULL from the CLI) and when (`at`)
-- approval_notices     which returned decisions the alerts service has told the unit's subscribers about
--                      (one row each, written with the notice in the flush's transaction)
-- dx_approval_states(unit, as_of)   the approval of each of the unit's values in force (period_values,
--                      category ''): `submitted` when no decision covers it or a report of it was stored
--                      after the decision that covers it (the latest of the whole unit-period's and the
--                      indicator's), else that decision: `approved` or `returned`
-- dx_approver          group role of the entry service's approval routes: reads what a decision checks,
--                      inserts decisions

CREATE TABLE programme (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    approval  boolean NOT NULL DEFAULT false
);
INSERT INTO programme DEFAULT VALUES;

CREATE TABLE approval_decisions (
    id           bigserial PRIMARY KEY,
    unit         text NOT NULL,
    period       text NOT NULL,
    period_start date NOT NULL,
    period_end   date NOT NULL,
    indicator    text NOT NULL DEFAULT '',  -- '' = the whole unit-period
    decision     text NOT NULL CHECK (decision IN ('approved', 'returned')),
    comment      text NOT NULL DEFAULT '',
    by           text NOT NULL,
    key_id       text,
    at           timestamptz NOT NULL,
    CHECK (period_end >= period_start),
    CHECK (decision = 'approved' OR comment <> '')
);
CREATE INDEX approval_decisions_unit_idx ON approval_decisions (unit, period_start, period_end, at DESC);

-- The audit is append-only, whoever connects: no role may change or remove a decision.
CREATE FUNCTION dx_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: a decision is never changed or deleted', TG_TABLE_NAME;
END $$;
CREATE TRIGGER approval_decisions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON approval_decisions
    FOR EACH STATEMENT EXECUTE FUNCTION dx_refuse_change();

CREATE TABLE approval_notices (
    decision_id  bigint PRIMARY KEY REFERENCES approval_decisions (id),
    announced_at timestamptz NOT NULL
);

CREATE FUNCTION dx_approval_states(p_unit text, p_as_of timestamptz)
RETURNS TABLE (unit text, indicator text, period_start date, period_end date, approval text,
               last_stored_at timestamptz, decision_id bigint, decided_at timestamptz, decided_by text,
               comment text)
LANGUAGE sql STABLE AS $$
    SELECT pv.unit, pv.indicator, pv.period_start, pv.period_end,
           CASE WHEN d.id IS NULL OR arrived.last > d.at THEN 'submitted' ELSE d.decision END,
           arrived.last, d.id, d.at, d.by, d.comment
    FROM period_values pv
    CROSS JOIN LATERAL (
        SELECT max(r.stored_at) AS last FROM reports r
        WHERE r.unit = pv.unit AND r.indicator = pv.indicator AND r.period_start = pv.period_start
          AND r.stored_at <= p_as_of
    ) arrived
    LEFT JOIN LATERAL (
        SELECT a.id, a.decision, a.at, a.by, a.comment FROM approval_decisions a
        WHERE a.unit = pv.unit AND a.period_start = pv.period_start AND a.period_end = pv.period_end
          AND a.indicator IN ('', pv.indicator) AND a.at <= p_as_of
        ORDER BY a.at DESC, a.id DESC
        LIMIT 1
    ) d ON true
    WHERE pv.unit = p_unit AND pv.category = '' AND arrived.last IS NOT NULL
$$;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dx_approver') THEN
        CREATE ROLE dx_approver NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO dx_approver;

-- The catalog sync (the aggregator) writes the setting; everyone reads it.
GRANT SELECT ON programme TO dx_writer, dx_alerts, dx_reader, dx_approver;
GRANT UPDATE ON programme TO dx_writer;
-- Dashboards show the decisions (who decided and why, as the Cảnh báo dashboard shows who muted what),
-- not which key made them (as for reports.key_id, 0006).
GRANT SELECT (id, unit, period, period_start, period_end, indicator, decision, comment, by, at)
    ON approval_decisions TO dx_reader;
GRANT SELECT ON approval_decisions TO dx_alerts, dx_approver;
GRANT SELECT, INSERT ON approval_notices TO dx_alerts;
GRANT INSERT ON approval_decisions TO dx_approver;
GRANT USAGE ON SEQUENCE approval_decisions_id_seq TO dx_approver;
GRANT SELECT ON period_values, units, indicators TO dx_approver;
GRANT SELECT (unit, indicator, period_start, stored_at) ON reports TO dx_approver;
