-- CISA's Known Exploited Vulnerabilities catalog (store.KEV): one catalog,
-- replaced whole by each import, one row per CVE in kev_entries and its
-- description in the single row of kev_catalog. Column names follow the
-- catalog's fields; dates are YYYY-MM-DD, times UTC RFC 3339 with
-- microseconds (a NULL released is unknown), cwes a JSON array of strings.
CREATE TABLE kev_entries (
	cve_id                        TEXT NOT NULL PRIMARY KEY,
	vendor_project                TEXT NOT NULL,
	product                       TEXT NOT NULL,
	vulnerability_name            TEXT NOT NULL,
	date_added                    TEXT NOT NULL,
	short_description             TEXT NOT NULL,
	required_action               TEXT NOT NULL,
	due_date                      TEXT NOT NULL,
	known_ransomware_campaign_use TEXT NOT NULL,
	notes                         TEXT NOT NULL,
	cwes                          TEXT NOT NULL
) STRICT;

CREATE TABLE kev_catalog (
	singleton   INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
	name        TEXT NOT NULL,
	location    TEXT NOT NULL,
	version     TEXT NOT NULL,
	released    TEXT,
	entries     INTEGER NOT NULL,
	imported_at TEXT NOT NULL,
	digest      TEXT NOT NULL
) STRICT;
