-- 0012: the target set each progress row is judged against. A unit's progress on an indicator follows
-- the programme's path (NQ 09, continued by NQ09-2030) while it has a milestone ahead; otherwise the
-- binding set with the nearest milestone ahead (Catalog.governing_target): CT2026-BCDTW's DG-20 for
-- communes in 2026, for instance, which the programme does not target. Filled by the next evaluation.

ALTER TABLE progress_current ADD COLUMN target_set text;
