-- Inventory objects, one row per key. body is the JSON of the model object;
-- uid and resource_version are copied out of it for operators reading the
-- table by hand. Times are UTC RFC 3339 with microseconds.
CREATE TABLE objects (
	cluster          TEXT NOT NULL,
	kind             TEXT NOT NULL,
	namespace        TEXT NOT NULL DEFAULT '',
	name             TEXT NOT NULL,
	uid              TEXT NOT NULL DEFAULT '',
	resource_version TEXT NOT NULL DEFAULT '',
	body             TEXT NOT NULL,
	updated_at       TEXT NOT NULL,
	PRIMARY KEY (cluster, kind, namespace, name)
) STRICT;

-- API tokens. Only the hex SHA-256 of a secret is stored.
CREATE TABLE tokens (
	name       TEXT NOT NULL PRIMARY KEY,
	role       TEXT NOT NULL,
	hash       TEXT NOT NULL UNIQUE,
	created_at TEXT NOT NULL
) STRICT;
