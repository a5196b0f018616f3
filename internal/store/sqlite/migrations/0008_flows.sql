-- Used traffic (store.Flows): one row per path, source and UTC day of the
-- last sighting. An endpoint is a workload (kind, namespace and name, addr
-- empty) or an address (addr, the rest empty). Times are UTC RFC 3339
-- with microseconds, day is YYYY-MM-DD; both sort as text.
CREATE TABLE flows (
	cluster       TEXT NOT NULL,
	src_kind      TEXT NOT NULL,
	src_namespace TEXT NOT NULL,
	src_name      TEXT NOT NULL,
	src_addr      TEXT NOT NULL,
	dst_kind      TEXT NOT NULL,
	dst_namespace TEXT NOT NULL,
	dst_name      TEXT NOT NULL,
	dst_addr      TEXT NOT NULL,
	port          INTEGER NOT NULL,
	protocol      TEXT NOT NULL,
	source        TEXT NOT NULL,
	day           TEXT NOT NULL,
	first_seen    TEXT NOT NULL,
	last_seen     TEXT NOT NULL,
	count         INTEGER NOT NULL,
	PRIMARY KEY (cluster, src_kind, src_namespace, src_name, src_addr, dst_kind, dst_namespace, dst_name, dst_addr, port, protocol, source, day)
) STRICT, WITHOUT ROWID;
CREATE INDEX flows_last_seen ON flows (last_seen);
