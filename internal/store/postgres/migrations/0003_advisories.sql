-- The vulnerability database of `palisade db import`: OSV records by
-- source, one row per (source, id). Key columns use the "C" collation so
-- that ORDER BY sorts bytes, as the SQLite store and Go do.
--
-- body is json, not jsonb, for the reason given for objects.body in
-- 0001_init.sql: jsonb rejects "\u0000" in strings, and a record holding
-- one (advisory text is free text from many feeds) would make the whole
-- import of its source fail. json keeps the record as imported.
CREATE TABLE advisories (
	source   text COLLATE "C" NOT NULL,
	id       text COLLATE "C" NOT NULL,
	modified timestamptz NOT NULL,
	body     json NOT NULL,
	PRIMARY KEY (source, id)
);

-- One row per imported source: where it came from, how many records it
-- holds, when it was imported and the SHA-256 of its records.
CREATE TABLE advisory_sources (
	name        text COLLATE "C" NOT NULL PRIMARY KEY,
	location    text NOT NULL,
	records     integer NOT NULL,
	imported_at timestamptz NOT NULL,
	digest      text NOT NULL
);
