-- 0015: one outcome per target set. Two binding sets may give an indicator and level a milestone on the
-- same day (DG-20 for the communes in CT2026-BCDTW and QD11-2026, both 31/12/2026; DE-01 and DE-03 for the
-- province in NQ09-2030, DH16 and HDND316, all 31/12/2030). Until now milestone_outcomes kept one outcome
-- per unit, indicator and deadline, stored under the first set, so the other set's scorecard lacked it and
-- an operator could not reopen or lock it (`dxmon outcomes … --target-set`). The key now names the set.
-- Existing rows keep their set; the next evaluation adds the other sets' outcomes of a shared deadline.
ALTER TABLE milestone_outcomes DROP CONSTRAINT milestone_outcomes_pkey;
ALTER TABLE milestone_outcomes ADD PRIMARY KEY (unit, indicator, milestone, target_set);

-- progress_alternatives: where a unit answers for an indicator to several targets with a milestone ahead
-- (a commune's DG-14 in 2026: CT2026-BCDTW by 2026, NQ09-2030 and QD749 by 2030), progress_current holds
-- the one it stands worst against (what dashboards and alerts show) and this table the others, so the
-- official report for a set shows that set's judgement. Rewritten by every evaluation; few rows.
CREATE TABLE progress_alternatives (
    unit                 text COLLATE "C" NOT NULL,
    indicator            text COLLATE "C" NOT NULL,
    target_set           text NOT NULL,
    status               text NOT NULL,
    value                double precision,
    expected             double precision,
    target               double precision NOT NULL,
    comparator           text NOT NULL,
    milestone            date NOT NULL,
    last_observed_at     timestamptz,
    provisional          boolean NOT NULL,
    final                boolean NOT NULL,
    cutoff               date,
    deciding_value       double precision,
    deciding_observed_at timestamptz,
    evaluated_at         timestamptz NOT NULL,
    PRIMARY KEY (unit, indicator, target_set)
);
GRANT SELECT ON progress_alternatives TO dx_reader, dx_alerts;
GRANT INSERT, UPDATE, DELETE ON progress_alternatives TO dx_alerts;
