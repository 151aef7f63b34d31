-- Baseline: the foundation creates no tables. Later migrations add each domain's tables.
SELECT 1;
