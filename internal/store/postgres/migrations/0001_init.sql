-- Inventory objects, one row per key. body is the JSON of the model object;
-- uid and resource_version are copied out of it for operators reading the
-- table by hand. Key columns use the "C" collation so that ORDER BY sorts
-- bytes, as the SQLite store and Go do, whatever the database's locale.
--
-- body is json, not jsonb: jsonb rejects "\u0000" in strings, and an
-- annotation holding one would make every batch that carries its object
-- fail, keeping that workload out of the inventory. json keeps the text as
-- sent and still answers the JSON operators (cast to jsonb in a query that
-- needs indexes).
CREATE TABLE objects (
	cluster          text COLLATE "C" NOT NULL,
	kind             text COLLATE "C" NOT NULL,
	namespace        text COLLATE "C" NOT NULL DEFAULT '',
	name             text COLLATE "C" NOT NULL,
	uid              text NOT NULL DEFAULT '',
	resource_version text NOT NULL DEFAULT '',
	body             json NOT NULL,
	updated_at       timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (cluster, kind, namespace, name)
);

-- API tokens. Only the hex SHA-256 of a secret is stored.
CREATE TABLE tokens (
	name       text COLLATE "C" NOT NULL PRIMARY KEY,
	role       text NOT NULL,
	hash       text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);
