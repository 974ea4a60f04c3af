-- 0016: a cut-off locks its outcomes by one row, not by rewriting each (192,000 rows at 5,000 units ×
-- 40 indicators: the lock day's evaluation spent a second on it, the one routine pass over 5 s).
--
-- outcome_cutoffs        one row per cut-off day that a full evaluation has passed: when it did
--                        (locked_at). Every outcome with that cut-off that was still provisional then
--                        (not locked or reopened by an operator) is final from that moment, locked by
--                        dx-monitor at locked_at — exactly what rewriting each row said.
-- milestone_outcome_rows the outcomes as stored (the table milestone_outcomes was). ``final``,
--                        ``locked_by``, ``lock_reason`` and ``auto_locked_at`` hold explicit locks only:
--                        an operator's, a lock written with a changed outcome (an official value that
--                        differs from the last provisional one, a revision, an outcome first seen after
--                        its cut-off) and locks written by earlier releases.
-- milestone_outcomes     a view: the rows with the cut-offs' locks applied. Everything that reads
--                        outcomes reads it, unchanged; writers write the table.
--
-- The evaluation, not the clock, records a cut-off: an outcome becomes final when the first full
-- evaluation after its cut-off has checked it against the reports received by then, as before. Who
-- and why of such a lock are evaluation_sql.AUTO_LOCK_BY and AUTO_LOCK_REASON (a test reads them back
-- through the view).

ALTER TABLE milestone_outcomes RENAME TO milestone_outcome_rows;

CREATE TABLE outcome_cutoffs (
    cutoff    date PRIMARY KEY,
    locked_at timestamptz NOT NULL
);

CREATE VIEW milestone_outcomes AS
SELECT o.unit, o.indicator, o.milestone, o.status, o.value, o.target, o.comparator, o.evaluated_at,
       o.target_set, o.cutoff,
       o.final OR l.locked_at IS NOT NULL AS final,
       o.reopened, o.deciding_observed_at, o.revised_value, o.revised_at,
       CASE WHEN l.locked_at IS NOT NULL THEN 'dx-monitor' ELSE o.locked_by END AS locked_by,
       CASE WHEN l.locked_at IS NOT NULL THEN 'chốt số liệu tự động sau ngày chốt' ELSE o.lock_reason END
           AS lock_reason,
       o.announced_at, o.announced_status, o.announced_value,
       coalesce(l.locked_at, o.auto_locked_at) AS auto_locked_at
FROM milestone_outcome_rows o
LEFT JOIN outcome_cutoffs l ON l.cutoff = o.cutoff AND NOT o.final AND NOT o.reopened;

GRANT SELECT ON outcome_cutoffs, milestone_outcomes TO dx_reader, dx_alerts;
GRANT INSERT ON outcome_cutoffs TO dx_alerts;
