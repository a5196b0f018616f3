-- What scanning found per image digest (store.Scans). Times are UTC RFC
-- 3339 with microseconds; a NULL time is the zero time.
--
-- sboms: the SBOM of one image as JSON (sbom.SBOM); created_at is copied
-- out of it for operators reading the table by hand.
CREATE TABLE sboms (
	digest     TEXT NOT NULL PRIMARY KEY,
	body       TEXT NOT NULL,
	created_at TEXT
) STRICT;

-- matches: the latest match of a digest's SBOM against the vulnerability
-- database; findings is the JSON array of findings.
CREATE TABLE matches (
	digest     TEXT NOT NULL PRIMARY KEY,
	db_version TEXT NOT NULL,
	matched_at TEXT,
	findings   TEXT NOT NULL
) STRICT;

-- scan_status: the scheduler's record of a digest.
CREATE TABLE scan_status (
	digest       TEXT NOT NULL PRIMARY KEY,
	last_attempt TEXT,
	last_success TEXT,
	failures     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT NOT NULL DEFAULT '',
	next_attempt TEXT
) STRICT;
