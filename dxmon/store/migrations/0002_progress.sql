-- 0002: progress evaluation results, written by dxmon.store.progress_repository.evaluate (the alerts
-- service runs it) and read by dashboards, the alerts lifecycle and `dxmon status`. The rules behind
-- every figure are in dxmon/progress.py. No foreign keys to the catalog tables: `sync_catalog` replaces
-- those wholesale. Days are local days in Asia/Ho_Chi_Minh. Codes use the "C" collation: keys are
-- compared byte by byte, which keeps the 10⁵-row writes of a full pass cheap.
--
-- progress_current     one row per (unit, indicator) that a target applies to: the latest evaluation.
--   unit, indicator      catalog codes; level, pillar copied from the catalog for rollups
--   status               met | on_track | behind | at_risk | missed | overdue | no_data
--   value                latest value in force (ratios as percent); NULL when no_data
--   expected             glide-path value on `day`; the target once every milestone has passed
--   target, comparator, milestone   the next milestone (the last one once all have passed)
--   baseline, baseline_date         where the current glide segment starts
--   projection           the trend line's value at the milestone deadline (NULL: too few points)
--   last_observed_at, last_received_at   of the latest value in force
--   overdue_since        first day the unit counted as overdue (NULL when it is not)
--   day                  the day evaluated: as_of's day, or valid_to for a unit that ceased earlier
--   active               the unit is valid on as_of's day (ceased units keep their final row)
--   status_since         evaluated_at of the evaluation that first gave the current status
--   evaluated_at         as_of of the evaluation that wrote the row
--   Contract for the alerts service: unit, indicator, status, value, expected, target, milestone,
--   status_since, evaluated_at keep these names and meanings.
-- progress_snapshots   history for dashboards, as a change log: a row (as_of, unit, indicator, status,
--                      value, expected, target, milestone) whenever an evaluation finds an active
--                      pair's status, value, target or milestone different from before; the state at
--                      time t is the latest row at or before t (draw it as steps). The glide path in
--                      between follows from the target.
-- milestone_outcomes   each passed milestone per (unit, indicator) for units valid on its deadline:
--                      met/missed from the value in force at the end of the deadline day;
--                      evaluated_at = the evaluation that decided it (or last changed it).
-- reporting_rates      per unit, cadence and period (DHIS2 style): expected = indicators of that
--                      cadence that apply to the unit's level while it was valid; actual = those with a
--                      report observed in the period; on_time = those with a report received by the end
--                      of period end + timely_days (reports.received_at); rates in percent. Each
--                      pass recomputes the closed periods that ended in the last 400 days; older
--                      rows keep their last figures. evaluated_at = the evaluation that last changed
--                      the row.
-- successor_values     history of ceased units re-aggregated onto each unit that succeeded them
--                      (directly or via a chain), per period: ratios by summed parts, counts by sum.
--                      parts = predecessors summed, partial_parts = those only partly taken over.
-- progress_rollup      view: active (unit, indicator) rows counted by level, pillar and status.

CREATE TABLE progress_current (
    unit             text COLLATE "C" NOT NULL,
    indicator        text COLLATE "C" NOT NULL,
    level            text NOT NULL,
    pillar           text NOT NULL,
    status           text NOT NULL
        CHECK (status IN ('met', 'on_track', 'behind', 'at_risk', 'missed', 'overdue', 'no_data')),
    value            double precision,
    expected         double precision,
    target           double precision NOT NULL,
    comparator       text NOT NULL,
    milestone        date NOT NULL,
    baseline         double precision,
    baseline_date    date,
    projection       double precision,
    last_observed_at timestamptz,
    last_received_at timestamptz,
    overdue_since    date,
    day              date NOT NULL,
    active           boolean NOT NULL,
    status_since     timestamptz NOT NULL,
    evaluated_at     timestamptz NOT NULL,
    PRIMARY KEY (unit, indicator)
) WITH (fillfactor = 45);  -- every pass rewrites every row: half of each page free keeps updates HOT

CREATE TABLE progress_snapshots (
    as_of     timestamptz NOT NULL,
    unit      text COLLATE "C" NOT NULL,
    indicator text COLLATE "C" NOT NULL,
    status    text NOT NULL,
    value     double precision,
    expected  double precision,
    target    double precision NOT NULL,
    milestone date NOT NULL,
    PRIMARY KEY (unit, indicator, as_of)
);

CREATE TABLE milestone_outcomes (
    unit         text COLLATE "C" NOT NULL,
    indicator    text COLLATE "C" NOT NULL,
    milestone    date NOT NULL,
    status       text NOT NULL CHECK (status IN ('met', 'missed')),
    value        double precision,
    target       double precision NOT NULL,
    comparator   text NOT NULL,
    evaluated_at timestamptz NOT NULL,
    PRIMARY KEY (unit, indicator, milestone)
);

CREATE TABLE reporting_rates (
    unit           text COLLATE "C" NOT NULL,
    period         text NOT NULL CHECK (period IN ('monthly', 'quarterly', 'yearly')),
    period_start   date NOT NULL,
    period_end     date NOT NULL,
    expected       integer NOT NULL CHECK (expected > 0),
    actual         integer NOT NULL,
    on_time        integer NOT NULL,
    reporting_rate double precision NOT NULL,
    on_time_rate   double precision NOT NULL,
    evaluated_at   timestamptz NOT NULL,
    PRIMARY KEY (unit, period, period_start)
);

CREATE TABLE successor_values (
    unit          text COLLATE "C" NOT NULL,
    indicator     text COLLATE "C" NOT NULL,
    period_start  date NOT NULL,
    observed_at   timestamptz NOT NULL,
    value         double precision,
    numerator     double precision,
    denominator   double precision,
    parts         integer NOT NULL,
    partial_parts integer NOT NULL,
    PRIMARY KEY (unit, indicator, period_start)
);

CREATE VIEW progress_rollup AS
SELECT level, pillar, status, count(*) AS units
FROM progress_current
WHERE active
GROUP BY level, pillar, status;

DO $$
BEGIN
    IF current_setting('dxmon.timescale', true) = 'on' THEN
        -- Chunks by month keep dashboard time ranges cheap as the history grows.
        PERFORM create_hypertable('progress_snapshots', by_range('as_of', INTERVAL '30 days'));
    END IF;
END
$$;

GRANT SELECT ON progress_current, progress_snapshots, milestone_outcomes, reporting_rates, successor_values,
    progress_rollup TO dx_reader, dx_alerts;
GRANT INSERT, UPDATE, DELETE ON progress_current, progress_snapshots, milestone_outcomes, reporting_rates,
    successor_values TO dx_alerts;
