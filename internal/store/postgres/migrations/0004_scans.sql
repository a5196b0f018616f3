-- What scanning found per image digest (store.Scans). Digest keys use the
-- "C" collation so that ORDER BY sorts bytes, as the SQLite store and Go
-- do. A NULL time is the zero time.
--
-- sboms: the SBOM of one image as JSON (sbom.SBOM); created_at is copied
-- out of it for operators reading the table by hand. body is json, not
-- jsonb, for the reason given for objects.body in 0001_init.sql: package
-- metadata and image labels are free text, and jsonb rejects "\u0000".
CREATE TABLE sboms (
	digest     text COLLATE "C" NOT NULL PRIMARY KEY,
	body       json NOT NULL,
	created_at timestamptz
);

-- matches: the latest match of a digest's SBOM against the vulnerability
-- database; findings is the JSON array of findings (json for the same
-- reason: advisory text is copied into findings).
CREATE TABLE matches (
	digest     text COLLATE "C" NOT NULL PRIMARY KEY,
	db_version text NOT NULL,
	matched_at timestamptz,
	findings   json NOT NULL
);

-- scan_status: the scheduler's record of a digest.
CREATE TABLE scan_status (
	digest       text COLLATE "C" NOT NULL PRIMARY KEY,
	last_attempt timestamptz,
	last_success timestamptz,
	failures     integer NOT NULL DEFAULT 0,
	last_error   text NOT NULL DEFAULT '',
	next_attempt timestamptz
);
