"""Evaluation SQL: the statements of the set-based evaluation (``dxmon.store.progress_repository``).

Each builder returns the SQL of one step over the temp tables of ``dxmon.store.evaluation_plan``:
the facts pass over period_values, the (unit, indicator) pairs, the milestone outcomes (provisional,
auto-lock, frozen), the statuses (``progress_sql``: the rules of ``dxmon.progress`` in precedence
order), the reporting rates over reports, the successors' rollups, and the writes of the results.
``satisfies`` and ``judge`` are SQL fragments of the pure rules, also used by a dashboard. Only
constants and column expressions are formatted into SQL; every value is a parameter. One file of
~500 lines on purpose: the statements read top to bottom in the order they run, each beside the temp
table columns the next one reads.
"""

from __future__ import annotations

from dxmon.catalog import Measure
from dxmon.progress import WORST_FIRST

# An automatic lock at the cut-off: who and why (outcome rows and the derived audit, outcomes_repository).
AUTO_LOCK_BY = "dx-monitor"
AUTO_LOCK_REASON = "chốt số liệu tự động sau ngày chốt"

SESSION = "SET LOCAL work_mem = '256MB'; SET LOCAL jit = off; SET LOCAL parallel_tuple_cost = 0.001"
# In a full pass the pair-level statements join whole tables; estimates for fresh temp tables are
# rough, and a nested loop or merge join chosen on them costs seconds. Their rare look-ups are
# subplans, which these settings do not touch. Incremental passes keep index probes.
HASH_JOINS_ONLY = "SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off"
ANY_JOINS = "SET LOCAL enable_nestloop = on; SET LOCAL enable_mergejoin = on"
_LOCAL_TZ = "Asia/Ho_Chi_Minh"


def satisfies(value: str, comparator: str, target: str) -> str:
    """satisfies is the SQL of ``dxmon.progress.satisfies`` over three column expressions (constants)."""
    return (
        f"(CASE {comparator} WHEN '>=' THEN {value} >= {target} WHEN '>' THEN {value} > {target} "
        f"WHEN '<=' THEN {value} <= {target} WHEN '<' THEN {value} < {target} "
        f"WHEN '==' THEN {value} = {target} END)"
    )


def _glide(start_day: str, start_value: str, day: str) -> str:
    """The SQL of ``dxmon.progress.glide_path`` from (start_day, start_value) to the row's next milestone."""
    fraction = (
        f"least(greatest(({day} - {start_day})::double precision / nullif(next_deadline - {start_day}, 0), 0.0), 1.0)"
    )
    raw = f"({start_value} * (1 - {fraction}) + next_value * {fraction})"
    return (
        f"(CASE WHEN next_deadline <= {start_day} THEN next_value "
        f"WHEN direction = 'higher_is_better' THEN least({raw}, next_value) ELSE greatest({raw}, next_value) END)"
    )


def facts_sql(passed: int, incremental: bool) -> str:
    """The facts pass: one grouped scan of period_values.

    ``at_j`` = [epoch, value, epoch received] in force at deadline j (within the deadline's period);
    ``due_row`` = [epoch, epoch of the first receipt] of the due period's value in force.
    $1 indicators, $2 their trend window starts, $3 as_of, $4 the earliest row any aggregate uses,
    $5/$6 the due period's bounds, then ends and window starts per deadline j.
    """
    x = "date_part('epoch', pv.observed_at) / 86400"
    at = "".join(
        f",\n       max(ARRAY[date_part('epoch', pv.observed_at), pv.value, date_part('epoch', pv.received_at)])"
        f" FILTER (WHERE pv.observed_at >= i.win_{j} AND pv.observed_at < i.end_{j}) AS at_{j}"
        for j in range(1, passed + 1)
    )
    columns = "".join(f", end_{j}, win_{j}" for j in range(1, passed + 1))
    arrays = "".join(f", ${7 + 2 * j}::timestamptz[], ${8 + 2 * j}::timestamptz[]" for j in range(passed))
    scope = f"\n  AND pv.unit = ANY(${7 + 2 * passed}::text[])" if incremental else ""
    return f"""
CREATE TEMP TABLE _facts ON COMMIT DROP AS
SELECT pv.unit, pv.indicator,
       regr_slope(pv.value, {x}) FILTER (WHERE pv.observed_at >= i.trend_from) AS slope,
       regr_intercept(pv.value, {x}) FILTER (WHERE pv.observed_at >= i.trend_from) AS intercept,
       regr_count(pv.value, {x}) FILTER (WHERE pv.observed_at >= i.trend_from) AS points,
       max(ARRAY[date_part('epoch', pv.observed_at), date_part('epoch', pv.first_received_at)])
           FILTER (WHERE pv.observed_at >= i.due_from AND pv.observed_at < i.due_to) AS due_row{at}
FROM period_values pv
JOIN unnest($1::text[], $2::timestamptz[], $5::timestamptz[], $6::timestamptz[]{arrays})
     AS i(code, trend_from, due_from, due_to{columns}) ON i.code = pv.indicator
WHERE pv.category = '' AND pv.observed_at <= $3::timestamptz AND pv.observed_at >= $4::timestamptz{scope}
GROUP BY pv.unit, pv.indicator
"""


# Trend fits of units that ceased, over the windows ending on their last day (few units).
CEASED_TRENDS = """
CREATE TEMP TABLE _ceased_trends ON COMMIT DROP AS
SELECT pv.unit, pv.indicator,
       regr_slope(pv.value, date_part('epoch', pv.observed_at) / 86400) AS slope,
       regr_intercept(pv.value, date_part('epoch', pv.observed_at) / 86400) AS intercept,
       regr_count(pv.value, date_part('epoch', pv.observed_at) / 86400) AS points
FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[])
     AS u(code, cutoff, tf1, tf3, tf12)
JOIN period_values pv ON pv.unit = u.code
JOIN unnest($6::text[], $7::int[]) AS i(code, months) ON i.code = pv.indicator
WHERE pv.category = '' AND pv.observed_at >= CASE i.months WHEN 1 THEN u.tf1 WHEN 3 THEN u.tf3 ELSE u.tf12 END
  AND pv.observed_at <= u.cutoff
GROUP BY pv.unit, pv.indicator
"""


def _at(passed: int, j: str, facts: str) -> str:
    """SQL picking the [epoch, value] array in force at deadline number ``j`` from a row with at_1 …."""
    if passed == 0:
        return "NULL::double precision[]"
    return f"(CASE {j} " + " ".join(f"WHEN {n} THEN {facts}.at_{n}" for n in range(1, passed + 1)) + " END)"


def pairs_sql(passed: int) -> str:
    """The (unit, indicator) pairs a target applies to, with their facts: a table whose size the
    planner knows, read by the status and the outcome statements."""
    at = "".join(f", f.at_{j}" for j in range(1, passed + 1))
    return f"""
CREATE TEMP TABLE _pairs ON COMMIT DROP AS
SELECT x.unit, x.indicator, x.grp, x.level, x.valid_from, x.valid_to, x.cutoff, x.active,
       CASE WHEN x.active THEN x.slope ELSE (x.ct).slope END AS slope,
       CASE WHEN x.active THEN x.intercept ELSE (x.ct).intercept END AS intercept,
       CASE WHEN x.active THEN x.points ELSE (x.ct).points END AS points,
       CASE WHEN x.active THEN x.due_row END AS due_row{at.replace("f.", "x.")}
FROM (
    SELECT u.code AS unit, k.indicator, u.grp, u.level, u.valid_from, u.valid_to, u.cutoff, u.active,
           f.slope, f.intercept, f.points, f.due_row{at},
           -- The few units that ceased: an index probe each (a join would hash every pair).
           CASE WHEN NOT u.active THEN (
               SELECT ct FROM _ceased_trends ct WHERE ct.unit = u.code AND ct.indicator = k.indicator) END AS ct
    FROM _units u
    JOIN _keys k ON k.grp = u.grp AND k.rank = 0
    LEFT JOIN _facts f ON f.unit = u.code AND f.indicator = k.indicator
    WHERE u.valid_from <= k.last_deadline
    OFFSET 0
) x
"""


def judge(value: str, comparator: str, target: str) -> str:
    """judge is the SQL of ``dxmon.progress.judge``: exceeded, met or missed for a passed milestone."""
    return (
        f"(CASE WHEN {value} IS NULL OR NOT {satisfies(value, comparator, target)} THEN 'missed' "
        f"WHEN {comparator} IN ('>=', '<=') AND {value} <> {target} THEN 'exceeded' ELSE 'met' END)"
    )


def progress_sql(passed: int) -> str:
    """Results and reporting in the precedence order of dxmon.progress; the row's current state rides along.

    A pair whose every milestone has passed takes its last milestone's outcome from milestone_outcomes
    (written just before).
    $1 tolerance points, $2 relative tolerance, $3 trend min points, $4 as_of.
    """
    return f"""
CREATE TEMP TABLE _progress ON COMMIT DROP AS
WITH pairs AS (
    SELECT u.unit, u.valid_from, u.cutoff, u.active, u.due_row, k.*,
           lv.observed_at AS lv_at, lv.value AS lv_value, lv.received_at AS lv_received,
           c.status AS old_status, c.status_since AS old_since, c.unit IS NOT NULL AS existing,
           c.value AS old_value, c.target AS old_target, c.milestone AS old_milestone,
           c.evaluated_at AS old_evaluated_at, u.slope, u.intercept, u.points,
           -- The last milestone's outcome once all have passed; the restart milestone's (its deciding value
           -- starts the next set's path) while a later one is ahead. Never both: a restart needs a next
           -- deadline. An index probe for the pairs that need one (a join would hash every pair).
           CASE WHEN k.next_deadline IS NULL OR k.restart_day IS NOT NULL THEN (
               SELECT o FROM milestone_outcomes o
               WHERE o.unit = u.unit AND o.indicator = u.indicator
                 AND o.milestone = coalesce(k.restart_day, k.last_deadline) AND o.target_set = k.outcome_set)
           END AS o
    FROM _pairs u
    JOIN _keys k ON k.grp = u.grp AND k.indicator = u.indicator
    LEFT JOIN latest_values lv ON lv.unit = u.unit AND lv.indicator = u.indicator AND lv.category = ''
    LEFT JOIN progress_current c ON c.unit = u.unit AND c.indicator = u.indicator
),
outcome AS (
    SELECT p.*, (p.o).status AS o_status, (p.o).final AS o_final, (p.o).value AS o_value,
           (p.o).deciding_observed_at AS o_observed_at, (p.o).revised_value AS o_revised_value,
           (p.o).revised_at AS o_revised_at, (p.o).cutoff AS o_cut_day,
           -- A value of the restart deadline's own period only (dxmon.progress.evaluate).
           CASE WHEN p.restart_day IS NOT NULL AND (p.o).deciding_observed_at >= p.restart_from THEN (p.o).value END
               AS restart_value
    FROM pairs p
    OFFSET 0  -- a fence: the look-up above runs once per row
),
data AS (
    -- latest_values holds the newest period; only a unit evaluated before its newest period
    -- (ceased, or an as_of in the past) needs a look into period_values. Scalar subqueries inside
    -- CASE run only for the rows that take that branch.
    SELECT p.*, (p.own).observed_at AS own_at, (p.own).value AS own_value,
           CASE WHEN p.lv_at <= p.cutoff THEN p.lv_at ELSE (p.back).observed_at END AS last_observed_at,
           CASE WHEN p.lv_at <= p.cutoff THEN p.lv_value ELSE (p.back).value END AS value,
           CASE WHEN p.lv_at <= p.cutoff THEN p.lv_received ELSE (p.back).received_at END AS last_received_at,
           CASE WHEN p.active THEN p.due_row ELSE (
               SELECT ARRAY[date_part('epoch', pv.observed_at), date_part('epoch', pv.first_received_at)]
               FROM period_values pv
               WHERE pv.unit = p.unit AND pv.indicator = p.indicator AND pv.category = ''
                 AND pv.observed_at >= (p.due_start::timestamp AT TIME ZONE '{_LOCAL_TZ}')
                 AND pv.observed_at < ((p.due_end + 1)::timestamp AT TIME ZONE '{_LOCAL_TZ}')
               ORDER BY pv.period_start DESC LIMIT 1) END AS due_value
    FROM (
        SELECT p0.*,
               CASE WHEN p0.lv_at > p0.cutoff THEN (
                   SELECT pv FROM period_values pv
                   WHERE pv.unit = p0.unit AND pv.indicator = p0.indicator AND pv.category = ''
                     AND pv.observed_at <= p0.cutoff
                   ORDER BY pv.period_start DESC LIMIT 1) END AS back,
               -- The unit's own value starts the glide path only when the target gives no anchor: its
               -- last before the target's set began (own_from, off the programme's path), else its first.
               CASE WHEN p0.anchor_day IS NULL AND p0.next_deadline IS NOT NULL AND p0.measure <> 'boolean'
                         AND p0.lv_at IS NOT NULL THEN coalesce(
                   CASE WHEN p0.own_from IS NOT NULL THEN (
                       SELECT pv FROM period_values pv
                       WHERE pv.unit = p0.unit AND pv.indicator = p0.indicator AND pv.category = ''
                         AND pv.observed_at < p0.own_from AND pv.observed_at <= p0.cutoff
                       ORDER BY pv.period_start DESC LIMIT 1) END, (
                   SELECT pv FROM period_values pv
                   WHERE pv.unit = p0.unit AND pv.indicator = p0.indicator AND pv.category = ''
                     AND pv.observed_at <= p0.cutoff
                   ORDER BY pv.period_start LIMIT 1)) END AS own
        FROM outcome p0
        OFFSET 0  -- a fence: each subquery above runs once per row, not once per reference
    ) p
),
derived AS (
    SELECT d.*,
           CASE WHEN d.restart_value IS NOT NULL THEN {_glide("d.restart_day", "d.restart_value", "d.day")}
                WHEN d.anchor_day IS NOT NULL OR d.own_at IS NULL THEN d.expected
                WHEN d.next_deadline <= d.own_day THEN d.next_value
                WHEN d.direction = 'higher_is_better' THEN least(d.own_path, d.next_value)
                ELSE greatest(d.own_path, d.next_value) END AS expected_value,
           CASE WHEN d.restart_value IS NOT NULL THEN d.restart_day
                WHEN d.anchor_day IS NOT NULL OR d.own_at IS NULL THEN d.anchor_day ELSE d.own_day END AS start_day,
           CASE WHEN d.restart_value IS NOT NULL THEN d.restart_value
                WHEN d.anchor_day IS NOT NULL OR d.own_at IS NULL THEN d.anchor_value ELSE d.own_value END
               AS start_value,
           CASE WHEN d.value IS NULL OR d.latest_day >= d.due_start OR d.due_end < d.valid_from THEN NULL
                ELSE (date_trunc(CASE d.months WHEN 1 THEN 'month' WHEN 3 THEN 'quarter' ELSE 'year' END,
                                 d.latest_day::timestamp)
                      + make_interval(months => 2 * d.months))::date + d.grace_days END AS overdue_since,
           CASE WHEN d.points >= $3::int AND d.slope IS NOT NULL AND d.next_deadline IS NOT NULL
                     AND d.measure <> 'boolean'
                THEN d.intercept + d.slope * d.x_deadline END AS projection
    FROM (
        SELECT dd.*, (dd.own_at AT TIME ZONE '{_LOCAL_TZ}')::date AS own_day,
               (dd.last_observed_at AT TIME ZONE '{_LOCAL_TZ}')::date AS latest_day,
               dd.own_value * (1 - f.fraction) + dd.next_value * f.fraction AS own_path
        FROM data dd
        CROSS JOIN LATERAL (
            SELECT least(greatest((dd.day - (dd.own_at AT TIME ZONE '{_LOCAL_TZ}')::date)::double precision
                                  / nullif(dd.next_deadline - (dd.own_at AT TIME ZONE '{_LOCAL_TZ}')::date, 0),
                                  0.0), 1.0) AS fraction
        ) f
        OFFSET 0
    ) d
    OFFSET 0
),
pathed AS (
    -- The glide path on the day the latest value describes (dxmon.progress.path_at): "behind" compares
    -- a figure with where the path stood when it was measured.
    SELECT e.*,
           CASE WHEN e.start_day IS NULL OR e.next_deadline IS NULL OR e.latest_day IS NULL THEN e.expected_value
                WHEN e.next_deadline <= e.start_day THEN e.next_value
                WHEN e.direction = 'higher_is_better' THEN least(e.raw_path, e.next_value)
                ELSE greatest(e.raw_path, e.next_value) END AS value_path
    FROM (
        SELECT e0.*, e0.start_value * (1 - f.fraction) + e0.next_value * f.fraction AS raw_path
        FROM derived e0
        CROSS JOIN LATERAL (
            SELECT least(greatest((least(e0.latest_day, e0.day) - e0.start_day)::double precision
                                  / nullif(e0.next_deadline - e0.start_day, 0), 0.0), 1.0) AS fraction
        ) f
        OFFSET 0
    ) e
),
decided AS (
    SELECT e.*,
           CASE
               WHEN e.value IS NULL THEN 'no_data'
               WHEN e.next_deadline IS NULL THEN coalesce(e.o_status, 'missed')
               WHEN {satisfies("e.value", "e.next_comparator", "e.next_value")} THEN 'met'
               WHEN e.measure = 'boolean' THEN 'at_risk'
               WHEN e.value_path IS NOT NULL
                    AND (CASE WHEN e.direction = 'higher_is_better' THEN e.value_path - e.value
                              ELSE e.value - e.value_path END)
                        > (CASE WHEN e.measure IN ('ratio', 'percent') THEN $1::double precision
                                ELSE $2::double precision * abs(e.value_path) END) THEN 'behind'
               WHEN e.projection IS NOT NULL
                    AND NOT {satisfies("e.projection", "e.next_comparator", "e.next_value")} THEN 'at_risk'
               ELSE 'on_track'
           END AS status,
           CASE
               WHEN e.value IS NULL OR e.due_end < e.valid_from THEN NULL
               WHEN e.overdue_since IS NOT NULL THEN 'missing'
               -- The due period's first report came after its period end + timely days.
               WHEN e.due_value IS NOT NULL AND e.due_value[2] >= date_part('epoch',
                    (e.due_end + e.timely_days + 1)::timestamp AT TIME ZONE '{_LOCAL_TZ}') THEN 'late'
               ELSE 'on_time'
           END AS reporting
    FROM pathed e
    OFFSET 0
)
SELECT unit, indicator, rank, level, pillar, target_set, status, reporting, value, expected_value AS expected,
       coalesce(next_value, last_value) AS target, coalesce(next_comparator, last_comparator) AS comparator,
       coalesce(next_deadline, last_deadline) AS milestone,
       start_value AS baseline, start_day AS baseline_date, projection, last_observed_at, last_received_at,
       overdue_since, day, active,
       next_deadline IS NULL AND value IS NOT NULL AND NOT coalesce(o_final, false) AS provisional,
       next_deadline IS NULL AND value IS NOT NULL AND coalesce(o_final, false) AS final,
       CASE WHEN next_deadline IS NULL AND value IS NOT NULL THEN o_cut_day END AS cutoff,
       CASE WHEN next_deadline IS NULL AND value IS NOT NULL THEN o_value END AS deciding_value,
       CASE WHEN next_deadline IS NULL AND value IS NOT NULL THEN o_observed_at END AS deciding_observed_at,
       CASE WHEN next_deadline IS NULL AND value IS NOT NULL THEN o_revised_value END AS revised_value,
       CASE WHEN next_deadline IS NULL AND value IS NOT NULL THEN o_revised_at END AS revised_at,
       CASE WHEN old_status = status THEN old_since ELSE $4::timestamptz END AS status_since,
       existing, old_status IS DISTINCT FROM status AS changed, old_evaluated_at,
       active AND (NOT existing OR (old_status, old_value, old_target, old_milestone)
                   IS DISTINCT FROM (status, value, coalesce(next_value, last_value),
                                     coalesce(next_deadline, last_deadline))) AS snapshot
FROM decided
"""


# A pair with several candidate targets (_keys rank > 0) keeps in _progress the one it stands worst
# against (on a tie one with an expected value, then the nearest: dxmon.progress.evaluate_judged,
# WORST_FIRST); the others go to progress_alternatives. $1 as_of.
_ORDER = "ARRAY[" + ", ".join(f"'{s.value}'" for s in WORST_FIRST) + "]"
_ALTERNATIVE_COLUMNS = (
    "unit, indicator, target_set, status, value, expected, target, comparator, milestone, last_observed_at, "
    "provisional, final, cutoff, deciding_value, deciding_observed_at"
)
KEEP_WORST = f"""
WITH others AS (
    DELETE FROM _progress p USING _progress q
    WHERE q.unit = p.unit AND q.indicator = p.indicator AND q.rank <> p.rank
      AND (array_position({_ORDER}, q.status), q.expected IS NULL, q.rank)
          < (array_position({_ORDER}, p.status), p.expected IS NULL, p.rank)
    RETURNING p.*
)
INSERT INTO progress_alternatives ({_ALTERNATIVE_COLUMNS}, evaluated_at)
SELECT DISTINCT ON (unit, indicator, target_set) {_ALTERNATIVE_COLUMNS}, $1::timestamptz FROM others
ORDER BY unit, indicator, target_set
"""


# The passed milestones of each pair on which the unit was valid: the outcomes the plan has.
PLANNED_JOIN = """_pairs u
    JOIN _milestones m ON m.indicator = u.indicator AND m.level = u.level AND m.deadline >= u.valid_from
                       AND (u.valid_to IS NULL OR m.deadline <= u.valid_to)"""
PLANNED_OUTCOMES = f"SELECT u.unit, m.indicator, m.deadline AS milestone, m.target_set FROM {PLANNED_JOIN}"


# The official total of an indicator with categories (dxmon.progress.category_total over
# official_outcome's winners): in the latest period observed by the deadline day, each category's latest
# report received by the end of the cut-off day; ratios by summed parts (percent-only members left out;
# with no parts, the percentages' mean), other measures by sum. Read per outcome ``v`` (rare: a period of
# categories corrected after its cut-off).
_RECEIVED_BY_CUTOFF = f"""r.unit = v.unit AND r.indicator = v.indicator AND r.category <> ''
                 AND r.received_at < ((v.cut_day + 1)::timestamp AT TIME ZONE '{_LOCAL_TZ}')"""
_OFFICIAL_TOTAL = f"""
    SELECT ARRAY[date_part('epoch', max(c.observed_at)),
                 CASE WHEN count(*) = 1 THEN max(c.pct)
                      WHEN v.measure <> '{Measure.RATIO}' THEN sum(c.pct)
                      WHEN bool_or(c.numerator IS NOT NULL AND c.denominator IS NOT NULL)
                      THEN 100 * sum(c.numerator) FILTER (WHERE c.denominator IS NOT NULL)
                           / nullif(sum(c.denominator) FILTER (WHERE c.numerator IS NOT NULL), 0)
                      ELSE avg(c.pct) END]
    FROM (
        SELECT DISTINCT ON (r.category) r.observed_at, r.numerator, r.denominator,
               coalesce(r.value, 100 * r.numerator / nullif(r.denominator, 0)) AS pct
        FROM reports r
        WHERE {_RECEIVED_BY_CUTOFF}
          AND r.period_start = (
              SELECT max(r.period_start) FROM reports r
              WHERE {_RECEIVED_BY_CUTOFF}
                AND r.observed_at < ((v.milestone + 1)::timestamp AT TIME ZONE '{_LOCAL_TZ}'))
        ORDER BY r.category, coalesce(r.stream_seq, 0) DESC, r.received_at DESC, r.event_id DESC
    ) c
    HAVING count(*) > 0"""


def outcomes_sql(passed: int, full: bool) -> str:
    """Passed milestones on which the unit was valid, each provisional, newly final (auto-lock) or frozen.

    ``now_*`` is the value in force at the end of the deadline day ([epoch, value, epoch received]);
    a final outcome keeps its deciding value, and a different value in force now is its revision.
    A ``full`` pass skips the frozen outcomes nothing can have revised: those whose period in force at
    the deadline has no receipt after the cut-off and that carry no revision. The statement
    takes $1, as_of's local day. One statement: the inputs are read once, never written to a table.
    """
    revisable = (
        f"\nWHERE NOT x.frozen OR x.old_revised_value IS NOT NULL"
        f" OR x.now_at[3] >= date_part('epoch', (x.cut_day + 1)::timestamp AT TIME ZONE '{_LOCAL_TZ}')"
        if full
        else ""
    )
    inputs = f"""
SELECT x.*, NOT coalesce(x.old_final OR x.reopened, false) AND x.cut_day < $1::date AS lock
FROM (
    SELECT u.unit, m.indicator, m.deadline AS milestone, m.target_set, m.value AS target, m.comparator, m.cut_day,
           i.categorized, i.measure, o.unit IS NOT NULL AS existing, coalesce(o.reopened, false) AS reopened,
           coalesce(o.final AND NOT o.reopened, false) AS frozen,
           o.status AS old_status, o.value AS old_value, o.deciding_observed_at AS old_observed_at,
           o.final AS old_final, o.target AS old_target, o.comparator AS old_comparator,
           o.revised_value AS old_revised_value, o.revised_at AS old_revised_at, o.cutoff AS old_cut_day,
           o.locked_by AS old_locked_by, o.lock_reason AS old_lock_reason, o.target_set AS old_target_set,
           o.auto_locked_at AS old_auto_locked_at,
           coalesce({_at(passed, "m.j", "u")}, (
               SELECT ARRAY[date_part('epoch', pv.observed_at), pv.value, date_part('epoch', pv.received_at)]
               FROM period_values pv
               WHERE pv.unit = u.unit AND pv.indicator = m.indicator AND pv.category = ''
                 AND pv.observed_at < ((m.deadline + 1)::timestamp AT TIME ZONE '{_LOCAL_TZ}')
               ORDER BY pv.period_start DESC LIMIT 1)) AS now_at
    FROM {PLANNED_JOIN}
    JOIN _indicators i ON i.indicator = m.indicator
    LEFT JOIN milestone_outcomes o ON o.unit = u.unit AND o.indicator = m.indicator AND o.milestone = m.deadline
                                  AND o.target_set = m.target_set
    OFFSET 0
) x{revisable}
"""
    # A full pass records the cut-offs it passed (outcome_cutoffs), which locks every provisional outcome
    # of that day at once: an outcome it would only lock is left as it is (not a change).
    locked = "z.final AND NOT (z.lock AND z.existing)" if full else "z.final"
    decided = f"""
CREATE TEMP TABLE _outcomes ON COMMIT DROP AS
SELECT * FROM (
SELECT z.*,
       (z.old_status, z.old_value, z.old_final, z.old_target, z.old_comparator, z.old_revised_value,
        z.old_cut_day, z.old_observed_at, z.old_target_set)
           IS DISTINCT FROM (z.status, z.value, {locked}, z.target, z.comparator, z.revised_value, z.cut_day,
                             z.deciding_observed_at, z.target_set) AS changed
FROM (
    SELECT y.unit, y.indicator, y.milestone, y.target_set, y.cut_day, y.existing, y.reopened, y.lock, y.frozen,
           y.old_status, y.old_value, y.old_final, y.old_target, y.old_comparator, y.old_revised_value,
           y.old_cut_day, y.old_observed_at, y.old_target_set, y.old_auto_locked_at,
           CASE WHEN y.frozen THEN y.old_status ELSE {judge("y.value", "y.comparator", "y.target")} END AS status,
           y.value, y.observed_at AS deciding_observed_at, y.frozen OR y.lock AS final,
           CASE WHEN y.frozen THEN y.old_target ELSE y.target END AS target,
           CASE WHEN y.frozen THEN y.old_comparator ELSE y.comparator END AS comparator,
           CASE WHEN (y.frozen OR y.lock) AND y.now_at[2] IS DISTINCT FROM y.value THEN y.now_at[2] END
               AS revised_value,
           CASE WHEN (y.frozen OR y.lock) AND y.now_at[2] IS DISTINCT FROM y.value
                THEN to_timestamp(y.now_at[3]) END AS revised_at,
           CASE WHEN y.lock THEN '{AUTO_LOCK_BY}' ELSE y.old_locked_by END AS locked_by,
           CASE WHEN y.lock THEN '{AUTO_LOCK_REASON}' ELSE y.old_lock_reason END AS lock_reason
    FROM (
        SELECT w.*,
               CASE WHEN w.frozen THEN w.old_value WHEN w.lock THEN w.official[2] ELSE w.now_at[2] END AS value,
               CASE WHEN w.frozen THEN w.old_observed_at WHEN w.lock THEN to_timestamp(w.official[1])
                    ELSE to_timestamp(w.now_at[1]) END AS observed_at
        FROM (
            -- The official value: each period's (and category's) latest receipt by the end of the
            -- cut-off day; the latest period observed by the end of the deadline day decides
            -- (dxmon.progress.official_outcome). When every report of the period now in force at the
            -- deadline arrived by the cut-off (its latest receipt is now_at[3]), that is the official
            -- value; only a period corrected after the cut-off sends the look-up back to the report
            -- history, where an indicator with categories sums each category's value in force by then.
            SELECT v.*, CASE WHEN NOT v.lock THEN NULL
                             WHEN v.now_at IS NULL THEN NULL
                             WHEN v.now_at[3] < date_part('epoch', (v.cut_day + 1)::timestamp
                                                          AT TIME ZONE '{_LOCAL_TZ}')
                                 THEN v.now_at[1:2]
                             WHEN v.categorized THEN ({_OFFICIAL_TOTAL})
                             ELSE (
                       SELECT ARRAY[date_part('epoch', r.observed_at),
                                    coalesce(r.value, 100 * r.numerator / nullif(r.denominator, 0))]
                       FROM reports r
                       WHERE r.unit = v.unit AND r.indicator = v.indicator AND r.category = ''
                         AND r.observed_at < ((v.milestone + 1)::timestamp AT TIME ZONE '{_LOCAL_TZ}')
                         AND r.received_at < ((v.cut_day + 1)::timestamp AT TIME ZONE '{_LOCAL_TZ}')
                       ORDER BY r.period_start DESC, coalesce(r.stream_seq, 0) DESC, r.received_at DESC,
                                r.event_id DESC
                       LIMIT 1) END AS official
            FROM ({inputs}) v
            OFFSET 0
        ) w
        OFFSET 0
    ) y
) z
) c
WHERE changed  -- only what is written
"""
    return decided


# The rates that changed, as the reader connection hands them over (rates_sql's _rates, changed rows).
RATES_COLUMNS = (
    "unit text, period text, period_start date, period_end date, expected int, actual int, on_time int, "
    "existing boolean, changed boolean"
)
CHANGED_RATES = f"SELECT {', '.join(c.split()[0] for c in RATES_COLUMNS.split(', '))} FROM _rates WHERE changed"


def reported_sql(words: int, incremental: bool) -> str:
    """The rates pass over reports (a SELECT whose rows become the temp table ``_reported``, on the
    reader connection when there is one): per unit, cadence (months) and period number, masks (int8 words) of the
    indicators reported and of those with a report received before the end of period end +
    timely_days (on time).

    $1 indicators, $2 their cadence in months, $3 their timely days, $4 month starts (see _plan),
    then each indicator's bit in each mask word, [then the units].
    """
    bits = "".join(f", b{w}" for w in range(words))
    bit_arrays = "".join(f", ${5 + w}::int8[]" for w in range(words))
    reported = ", ".join(f"bit_or(b{w})" for w in range(words))
    on_time = ", ".join(
        f"bit_or(b{w}) FILTER (WHERE received_at < ($4::timestamptz[])[(p + 1) * months + 1] + timely)"
        for w in range(words)
    )
    scope = f"\n      AND r.unit = ANY(${5 + words}::text[])" if incremental else ""
    return f"""
SELECT unit, months, p, ARRAY[{reported}] AS reported, ARRAY[{on_time}] AS on_time
FROM (
    SELECT r.unit, r.received_at, i.months, i.timely{bits},
           (width_bucket(r.observed_at, $4::timestamptz[]) - 1) / i.months AS p
    FROM reports r
    JOIN unnest($1::text[], $2::int[], $3::interval[]{bit_arrays}) AS i(code, months, timely{bits})
         ON i.code = r.indicator
    WHERE r.observed_at >= ($4::timestamptz[])[1]{scope}
) x
GROUP BY unit, months, p
"""


def rates_sql(words: int) -> str:
    """Reporting rates per unit, cadence and closed period: bits of the level's mask that were set."""

    def count(mask: str) -> str:
        return " + ".join(f"bit_count((coalesce({mask}[{w}], 0) & lc.mask[{w}])::bit(64))" for w in range(1, words + 1))

    return f"""
CREATE TEMP TABLE _rates ON COMMIT DROP AS
SELECT x.*, rr.unit IS NOT NULL AS existing,
       (rr.expected, rr.actual, rr.on_time) IS DISTINCT FROM (x.expected, x.actual, x.on_time) AS changed
FROM (
    SELECT u.code AS unit, p.period, p.period_start, p.period_end, lc.expected,
           ({count("r.reported")})::int AS actual, ({count("r.on_time")})::int AS on_time
    FROM _units u
    JOIN _level_cadences lc ON lc.level = u.level
    JOIN _periods p ON p.months = lc.months AND p.period_end >= u.valid_from
                   AND (u.valid_to IS NULL OR p.period_start <= u.valid_to)
    LEFT JOIN _reported r ON r.unit = u.code AND r.months = p.months AND r.p = p.p
) x
LEFT JOIN reporting_rates rr ON rr.unit = x.unit AND rr.period = x.period AND rr.period_start = x.period_start
"""


# The latest value per predecessor and period is summed (ratios by parts, counts by value); other
# measures have no meaningful sum and are left out. A SELECT of SUCCESSOR_COLUMNS over arrays (not temp
# tables), so the reader connection can run it: $1 predecessors, $2 their successors, $3 partial links,
# $4 indicators, $5 their measures, $6 their periods (date_trunc units).
SUCCESSOR_COLUMNS = "unit, indicator, period_start, observed_at, value, numerator, denominator, parts, partial_parts"
SUCCESSORS = f"""
SELECT successor COLLATE "C" AS unit, indicator COLLATE "C" AS indicator, period_start,
       max(observed_at) AS observed_at,
       CASE WHEN measure = 'ratio' THEN 100 * sum(numerator) / nullif(sum(denominator), 0) ELSE sum(value) END
           AS value,
       CASE WHEN measure = 'ratio' THEN sum(numerator) END AS numerator,
       CASE WHEN measure = 'ratio' THEN sum(denominator) END AS denominator,
       count(*)::int AS parts, (count(*) FILTER (WHERE partial))::int AS partial_parts
FROM (
    SELECT DISTINCT ON (s.successor, s.predecessor, pv.indicator, 3)
           s.successor, pv.indicator,
           date_trunc(i.trunc, (pv.observed_at AT TIME ZONE '{_LOCAL_TZ}')::date::timestamp)::date AS period_start,
           pv.observed_at, pv.value, pv.numerator, pv.denominator, i.measure, s.partial
    FROM unnest($1::text[], $2::text[], $3::boolean[]) AS s(predecessor, successor, partial)
    JOIN period_values pv ON pv.unit = s.predecessor AND pv.category = ''
    JOIN unnest($4::text[], $5::text[], $6::text[]) AS i(indicator, measure, trunc)
         ON i.indicator = pv.indicator AND i.measure IN ('{Measure.RATIO}', '{Measure.COUNT}')
    ORDER BY s.successor, s.predecessor, pv.indicator, 3, pv.observed_at DESC
) latest_per_period
GROUP BY successor, indicator, period_start, measure
"""


def successor_changes_sql(incremental: bool) -> tuple[str, str]:
    """The successors pass as changes to successor_values (run on the reader, in the snapshot the table is
    read in before this evaluation writes it): the rows to insert (new or changed) and the keys to delete
    (gone or changed). Most history is that of units that ceased long ago and changes rarely, so a pass
    rewrites little. Arguments as SUCCESSORS, then $7 the successors re-aggregated (incremental)."""
    stored = f"SELECT {SUCCESSOR_COLUMNS} FROM successor_values"
    if incremental:
        stored += " WHERE unit = ANY($7::text[])"
    new = f"SELECT * FROM ({SUCCESSORS}) fresh EXCEPT {stored}"
    gone = f"SELECT unit, indicator, period_start FROM ({stored} EXCEPT {SUCCESSORS}) x"
    return new, gone


DELETE_SUCCESSORS = """
DELETE FROM successor_values s USING unnest($1::text[], $2::text[], $3::date[]) AS g(unit, indicator, period_start)
WHERE s.unit = g.unit AND s.indicator = g.indicator AND s.period_start = g.period_start
"""

_CURRENT_COLUMNS = [
    "unit",
    "indicator",
    "level",
    "pillar",
    "status",
    "value",
    "expected",
    "target",
    "comparator",
    "milestone",
    "baseline",
    "baseline_date",
    "projection",
    "last_observed_at",
    "last_received_at",
    "overdue_since",
    "day",
    "active",
    "reporting",
    "provisional",
    "final",
    "cutoff",
    "deciding_value",
    "deciding_observed_at",
    "revised_value",
    "revised_at",
    "target_set",
]

# Evaluations take turns (the inserts below assume no other writer of these tables).
LOCK_KEY = 0x64787072  # "dxpr"

UPDATE_CURRENT = (
    "UPDATE progress_current c SET "
    + ", ".join(f"{col} = p.{col}" for col in [*_CURRENT_COLUMNS[2:], "status_since"])
    + ", evaluated_at = $1 FROM _progress p WHERE p.existing AND p.unit = c.unit AND p.indicator = c.indicator"
)
INSERT_CURRENT = (
    f"INSERT INTO progress_current ({', '.join(_CURRENT_COLUMNS)}, status_since, evaluated_at) "
    f"SELECT {', '.join(_CURRENT_COLUMNS)}, status_since, $1 FROM _progress WHERE NOT existing "
    "ORDER BY unit, indicator"
)

# A snapshot when the pair's state changed (the row's previous state rode along in _progress). Only
# a pair last evaluated at this very as_of can already have this snapshot: that one is replaced,
# and the rest is a plain insert (no ON CONFLICT, which costs twice as much per row).
REPLACE_SNAPSHOTS = """
DELETE FROM progress_snapshots s USING _progress p
WHERE p.snapshot AND p.old_evaluated_at = $1 AND s.unit = p.unit AND s.indicator = p.indicator AND s.as_of = $1
"""
INSERT_SNAPSHOTS = """
INSERT INTO progress_snapshots (as_of, unit, indicator, status, value, expected, target, milestone)
SELECT $1, unit, indicator, status, value, expected, target, milestone FROM _progress WHERE snapshot
ORDER BY unit, indicator
"""

_OUTCOME_COLUMNS = [
    "target_set",
    "status",
    "value",
    "target",
    "comparator",
    "cutoff",
    "final",
    "deciding_observed_at",
    "revised_value",
    "revised_at",
    "locked_by",
    "lock_reason",
]
_OUTCOME_SOURCE = {"cutoff": "cut_day"}
UPDATE_OUTCOMES = (
    "UPDATE milestone_outcome_rows o SET "
    + ", ".join(f"{c} = x.{_OUTCOME_SOURCE.get(c, c)}" for c in _OUTCOME_COLUMNS)
    # A cut-off's lock (outcome_cutoffs) is written into the row with the change that made it explicit.
    + ", auto_locked_at = CASE WHEN x.lock THEN $1 ELSE x.old_auto_locked_at END"
    + ", evaluated_at = $1 FROM _outcomes x WHERE x.existing AND x.unit = o.unit "
    "AND x.indicator = o.indicator AND x.milestone = o.milestone AND x.target_set = o.target_set"
)
INSERT_OUTCOMES = (
    f"INSERT INTO milestone_outcome_rows (unit, indicator, milestone, {', '.join(_OUTCOME_COLUMNS)}, auto_locked_at, "
    "evaluated_at) "
    f"SELECT unit, indicator, milestone, {', '.join(_OUTCOME_SOURCE.get(c, c) for c in _OUTCOME_COLUMNS)}, "
    "CASE WHEN lock THEN $1::timestamptz END, $1 "
    "FROM _outcomes WHERE NOT existing ORDER BY unit, indicator, milestone"
)
# A full pass: the cut-offs it has passed, each locking the outcomes of that day still provisional
# (the view milestone_outcomes, migration 0016). $1 as_of, $2 its local day.
RECORD_CUTOFFS = """
INSERT INTO outcome_cutoffs (cutoff, locked_at)
SELECT DISTINCT cut_day, $1::timestamptz FROM _milestones WHERE cut_day < $2::date
ON CONFLICT (cutoff) DO NOTHING
"""

UPDATE_RATES = """
UPDATE reporting_rates r SET period_end = x.period_end, expected = x.expected, actual = x.actual,
       on_time = x.on_time, reporting_rate = 100.0 * x.actual / x.expected,
       on_time_rate = 100.0 * x.on_time / x.expected, evaluated_at = $1
FROM _rates x
WHERE x.existing AND x.changed AND x.unit = r.unit AND x.period = r.period AND x.period_start = r.period_start
"""
INSERT_RATES = """
INSERT INTO reporting_rates (unit, period, period_start, period_end, expected, actual, on_time, reporting_rate,
                             on_time_rate, evaluated_at)
SELECT unit, period, period_start, period_end, expected, actual, on_time, 100.0 * actual / expected,
       100.0 * on_time / expected, $1
FROM _rates WHERE NOT existing
ORDER BY unit, period, period_start
"""
