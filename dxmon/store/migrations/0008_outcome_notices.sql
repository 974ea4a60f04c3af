-- 0008: a final outcome is announced once, in a "final outcomes" notice (Kết quả chính thức), by the
-- alerts service (services/alerts/dispatch.py); the rules are in services/alerts/README.md.
--
-- milestone_outcomes
--   announced_at                       when the alerts service announced the outcome (or passed over it:
--                                      an outcome whose cut-off ended more than 30 days earlier is history,
--                                      marked without sending); NULL = not yet
--   announced_status, announced_value  the outcome as announced: an operator's lock that changes status or
--                                      value makes it news again, a lock that changes neither does not
-- Outcomes already final when this migration runs are left unannounced: those whose cut-off ended in the
-- last 30 days get their notice at the first flush, the older ones are history.

ALTER TABLE milestone_outcomes
    ADD COLUMN announced_at timestamptz,
    ADD COLUMN announced_status text,
    ADD COLUMN announced_value double precision;

-- What a flush looks for: final outcomes not announced as they are now (few rows, read every flush).
CREATE INDEX milestone_outcomes_unannounced_idx ON milestone_outcomes (target_set, milestone)
    WHERE final AND NOT reopened
      AND (announced_at IS NULL OR (status, value) IS DISTINCT FROM (announced_status, announced_value));

-- dx_alerts already updates milestone_outcomes (0002); said again for the columns it writes here.
GRANT UPDATE (announced_at, announced_status, announced_value) ON milestone_outcomes TO dx_alerts;
