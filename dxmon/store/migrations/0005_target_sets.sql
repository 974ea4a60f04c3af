-- 0005: target sets. Targets belong to a set named by its issuing document (NQ 09-NQ/TU to 2025, the
-- 2026–2030 sets), in force from applies_from to applies_to; `binding` sets oblige the province's units,
-- the others are references (national aggregates), shown but never alerted on. `cutoff` is the day
-- after which a set's outcomes are final (NULL: the set names none). `continues` names the set whose
-- document this one carries on (NQ09-2030 continues NQ09): the programme's path is a set and those
-- that continue it. Synced from catalog/target_sets.yaml
-- by `dxmon catalog sync` like the other catalog tables. Rows of targets and target_milestones that
-- exist when this runs belonged to NQ 09, so they get 'NQ09' (the next sync rewrites them anyway).

CREATE TABLE target_sets (
    code         text PRIMARY KEY,
    title_vi     text NOT NULL,
    document     text NOT NULL,
    applies_from date NOT NULL,
    applies_to   date NOT NULL,
    binding      boolean NOT NULL,
    cutoff       date,
    continues    text,
    source       text[] NOT NULL,
    CHECK (applies_to >= applies_from)
);

INSERT INTO target_sets (code, title_vi, document, applies_from, applies_to, binding, source)
VALUES ('NQ09',
        'Nghị quyết 09-NQ/TU về chuyển đổi số toàn diện tỉnh Quảng Ninh đến năm 2025, định hướng đến năm 2030 — mục tiêu đến năm 2025',
        'Nghị quyết 09-NQ/TU ngày 05/02/2022', DATE '2022-02-05', DATE '2025-12-31', true, ARRAY['SYT24']);

ALTER TABLE target_milestones DROP CONSTRAINT target_milestones_indicator_level_fkey;
ALTER TABLE target_milestones DROP CONSTRAINT target_milestones_pkey;
ALTER TABLE targets DROP CONSTRAINT targets_pkey;

ALTER TABLE targets ADD COLUMN target_set text NOT NULL DEFAULT 'NQ09'
    REFERENCES target_sets (code) ON DELETE CASCADE;
ALTER TABLE target_milestones ADD COLUMN target_set text NOT NULL DEFAULT 'NQ09';
-- Only the backfill gets a set silently; every later row names its own.
ALTER TABLE targets ALTER COLUMN target_set DROP DEFAULT;
ALTER TABLE target_milestones ALTER COLUMN target_set DROP DEFAULT;

-- One row per (indicator, level, set): sets overlap in time, each may target the same indicator and level.
ALTER TABLE targets ADD PRIMARY KEY (indicator, level, target_set);
ALTER TABLE target_milestones ADD PRIMARY KEY (indicator, level, target_set, deadline);
ALTER TABLE target_milestones ADD FOREIGN KEY (indicator, level, target_set)
    REFERENCES targets (indicator, level, target_set) ON DELETE CASCADE;

GRANT SELECT ON target_sets TO dx_reader, dx_alerts, dx_writer;
GRANT INSERT, UPDATE, DELETE ON target_sets TO dx_writer;
