-- 0014: the first evaluation after a cut-off locks every outcome of the deadline at once (192,000 rows
-- at 5,000 units × 40 indicators). Two costs of that pass go:
--
-- auto_locked_at   when the evaluation locked the outcome at its cut-off (NULL: never, or before this
--                  migration). An automatic lock is no longer a row of outcome_changes each: the audit
--                  (outcomes_repository.changes) derives it from this column — by dx-monitor, at this
--                  time, the outcome as locked (the row, or the "before" of the first reopen after it).
--                  Operators' locks and reopens are rows, as before; automatic locks already audited
--                  as rows stay rows.
--
-- The partial index of 0008 names final, reopened, status, value and announced_* in its predicate, so
-- each lock (and each "announced" mark the alerts service writes next) wrote a new row version on
-- another page plus two index entries. Without it, and with two thirds of each page kept free (a lock
-- adds who and why: the new version is longer than the old), the new version stays on its page (a HOT
-- update, no index write): measured 0.66 s instead of 1.2 s for 192,000 locks, every one HOT. The flush that looks for unannounced
-- outcomes reads the table instead (one scan per flush interval: a few milliseconds for a
-- province's tens of thousands of outcomes).

ALTER TABLE milestone_outcomes ADD COLUMN auto_locked_at timestamptz;
DROP INDEX milestone_outcomes_unannounced_idx;
ALTER TABLE milestone_outcomes SET (fillfactor = 35);
