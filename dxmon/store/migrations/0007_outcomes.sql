-- 0007: two judgements (result and reporting), cut-off (chốt số liệu) with provisional and final
-- outcomes, revisions after the cut-off, and the audit of every lock and reopen. The rules are in
-- dxmon/progress.py ("Two judgements", "Cut-off").
--
-- progress_current
--   status               the result: exceeded | met | on_track | at_risk | behind | missed | no_data
--                        ('overdue' is no longer a result: it is reporting = 'missing')
--   reporting            on_time | late | missing, NULL when no period is due yet or nothing was reported
--   overdue_since        first day reporting counted as missing (NULL otherwise)
--   provisional, final   for a pair whose every milestone has passed: its last milestone's outcome is
--                        provisional until the cut-off, then final; both false before that
--   cutoff               the last milestone's cut-off day (NULL while a milestone is ahead)
--   deciding_value, deciding_observed_at   the value that decided the outcome (may differ from value,
--                        the latest value in force)
--   revised_value, revised_at              a value in force at the deadline received after the cut-off
-- milestone_outcomes
--   status               exceeded | met | missed
--   value                the deciding value; deciding_observed_at its instant
--   cutoff, final        final after the cut-off (auto-lock) or an operator's lock; reopened = an operator
--                        reopened it: provisional, recomputed from everything in force, never auto-locked
--   revised_value, revised_at   see progress_current
--   locked_by, lock_reason      who locked it and why (auto-locks: 'dx-monitor')
-- outcome_changes       every lock, reopen and auto-lock: who, when, why, the row before and after
-- period_values.first_received_at, latest_values.first_received_at  when the period's first report
--                       arrived (timeliness)

DELETE FROM progress_current WHERE status = 'overdue';  -- re-evaluated by the next pass
ALTER TABLE progress_current DROP CONSTRAINT IF EXISTS progress_current_status_check;
ALTER TABLE progress_current ADD CONSTRAINT progress_current_status_check
    CHECK (status IN ('exceeded', 'met', 'on_track', 'at_risk', 'behind', 'missed', 'no_data'));
ALTER TABLE progress_current
    ADD COLUMN reporting text CHECK (reporting IN ('on_time', 'late', 'missing')),
    ADD COLUMN provisional boolean NOT NULL DEFAULT false,
    ADD COLUMN final boolean NOT NULL DEFAULT false,
    ADD COLUMN cutoff date,
    ADD COLUMN deciding_value double precision,
    ADD COLUMN deciding_observed_at timestamptz,
    ADD COLUMN revised_value double precision,
    ADD COLUMN revised_at timestamptz;

ALTER TABLE milestone_outcomes DROP CONSTRAINT IF EXISTS milestone_outcomes_status_check;
ALTER TABLE milestone_outcomes ADD CONSTRAINT milestone_outcomes_status_check
    CHECK (status IN ('exceeded', 'met', 'missed'));
ALTER TABLE milestone_outcomes
    ADD COLUMN target_set text NOT NULL DEFAULT 'NQ09',
    ADD COLUMN cutoff date,
    ADD COLUMN final boolean NOT NULL DEFAULT false,
    ADD COLUMN reopened boolean NOT NULL DEFAULT false,
    ADD COLUMN deciding_observed_at timestamptz,
    ADD COLUMN revised_value double precision,
    ADD COLUMN revised_at timestamptz,
    ADD COLUMN locked_by text,
    ADD COLUMN lock_reason text;

CREATE TABLE outcome_changes (
    id         bigserial PRIMARY KEY,
    unit       text NOT NULL,
    indicator  text NOT NULL,
    target_set text NOT NULL,
    deadline   date NOT NULL,
    action     text NOT NULL CHECK (action IN ('lock', 'reopen', 'auto-lock')),
    by         text NOT NULL,
    reason     text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now(),
    before     jsonb,
    after      jsonb NOT NULL
);
CREATE INDEX outcome_changes_unit_idx ON outcome_changes (unit, indicator, deadline);

-- The period's first receipt, per category; a total (category '') takes the first of any category.
ALTER TABLE period_values ADD COLUMN first_received_at timestamptz;
ALTER TABLE latest_values ADD COLUMN first_received_at timestamptz;
UPDATE period_values pv SET first_received_at = (
    SELECT min(r.received_at) FROM reports r
    WHERE r.unit = pv.unit AND r.indicator = pv.indicator AND r.period_start = pv.period_start
      AND (pv.category = '' OR r.category = pv.category));
UPDATE period_values SET first_received_at = received_at WHERE first_received_at IS NULL;
ALTER TABLE period_values ALTER COLUMN first_received_at SET NOT NULL;
UPDATE latest_values lv SET first_received_at = pv.first_received_at
FROM period_values pv
WHERE pv.unit = lv.unit AND pv.indicator = lv.indicator AND pv.category = lv.category
  AND pv.period_start = lv.period_start;
UPDATE latest_values SET first_received_at = received_at WHERE first_received_at IS NULL;
ALTER TABLE latest_values ALTER COLUMN first_received_at SET NOT NULL;

GRANT SELECT ON outcome_changes TO dx_reader, dx_alerts;
GRANT INSERT ON outcome_changes TO dx_alerts;
GRANT USAGE ON SEQUENCE outcome_changes_id_seq TO dx_alerts;
