-- CISA's Known Exploited Vulnerabilities catalog (store.KEV): one catalog,
-- replaced whole by each import, one row per CVE in kev_entries and its
-- description in the single row of kev_catalog. Column names follow the
-- catalog's fields. cve_id uses the "C" collation so that ORDER BY sorts
-- bytes, as the SQLite store and Go do. Text columns are text, not json:
-- the store refuses NUL characters (kev.Entry.Validate) before writing.
CREATE TABLE kev_entries (
	cve_id                        text COLLATE "C" NOT NULL PRIMARY KEY,
	vendor_project                text NOT NULL,
	product                       text NOT NULL,
	vulnerability_name            text NOT NULL,
	date_added                    date NOT NULL,
	short_description             text NOT NULL,
	required_action               text NOT NULL,
	due_date                      date NOT NULL,
	known_ransomware_campaign_use text NOT NULL,
	notes                         text NOT NULL,
	cwes                          text[] NOT NULL
);

CREATE TABLE kev_catalog (
	singleton   integer NOT NULL PRIMARY KEY CHECK (singleton = 1),
	name        text NOT NULL,
	location    text NOT NULL,
	version     text NOT NULL,
	released    timestamptz,
	entries     integer NOT NULL,
	imported_at timestamptz NOT NULL,
	digest      text NOT NULL
);
