-- The node agent's process baselines (store.Baselines), one per image
-- digest and container name. body is the baseline as JSON
-- (baseline.Baseline, times UTC); locked_at is copied out of it for
-- queries (UTC RFC 3339 with microseconds, NULL while it learns).
CREATE TABLE baselines (
	digest    TEXT NOT NULL,
	container TEXT NOT NULL,
	body      TEXT NOT NULL,
	locked_at TEXT,
	PRIMARY KEY (digest, container)
) STRICT;
