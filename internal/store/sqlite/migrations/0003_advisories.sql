-- The vulnerability database of `palisade db import`: OSV records by
-- source, one row per (source, id). body is the record as OSV JSON;
-- modified is copied out of it for operators reading the table by hand.
-- Times are UTC RFC 3339 with microseconds.
CREATE TABLE advisories (
	source   TEXT NOT NULL,
	id       TEXT NOT NULL,
	modified TEXT NOT NULL,
	body     TEXT NOT NULL,
	PRIMARY KEY (source, id)
) STRICT;

-- One row per imported source: where it came from, how many records it
-- holds, when it was imported and the SHA-256 of its records.
CREATE TABLE advisory_sources (
	name        TEXT NOT NULL PRIMARY KEY,
	location    TEXT NOT NULL,
	records     INTEGER NOT NULL,
	imported_at TEXT NOT NULL,
	digest      TEXT NOT NULL
) STRICT;
