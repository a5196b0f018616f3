-- The node agent's process baselines (store.Baselines), one per image
-- digest and container name. Key columns use the "C" collation so that
-- ORDER BY sorts bytes, as the SQLite store and Go do. body is the
-- baseline as JSON (baseline.Baseline, times UTC), json rather than jsonb
-- for the reason given for objects.body in 0001_init.sql (executable paths
-- may hold "\u0000"); locked_at is copied out of it for queries, NULL
-- while it learns.
CREATE TABLE baselines (
	digest    text COLLATE "C" NOT NULL,
	container text COLLATE "C" NOT NULL,
	body      json NOT NULL,
	locked_at timestamptz,
	PRIMARY KEY (digest, container)
);
