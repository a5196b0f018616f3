-- Used traffic (store.Flows): one row per path, source and UTC day of the
-- last sighting. An endpoint is a workload (kind, namespace and name, addr
-- empty) or an address (addr, the rest empty). Key columns use the "C"
-- collation, as elsewhere.
CREATE TABLE flows (
	cluster       text COLLATE "C" NOT NULL,
	src_kind      text COLLATE "C" NOT NULL,
	src_namespace text COLLATE "C" NOT NULL,
	src_name      text COLLATE "C" NOT NULL,
	src_addr      text COLLATE "C" NOT NULL,
	dst_kind      text COLLATE "C" NOT NULL,
	dst_namespace text COLLATE "C" NOT NULL,
	dst_name      text COLLATE "C" NOT NULL,
	dst_addr      text COLLATE "C" NOT NULL,
	port          integer NOT NULL,
	protocol      text COLLATE "C" NOT NULL,
	source        text COLLATE "C" NOT NULL,
	day           date NOT NULL,
	first_seen    timestamptz NOT NULL,
	last_seen     timestamptz NOT NULL,
	count         bigint NOT NULL,
	PRIMARY KEY (cluster, src_kind, src_namespace, src_name, src_addr, dst_kind, dst_namespace, dst_name, dst_addr, port, protocol, source, day)
);
CREATE INDEX flows_last_seen ON flows (last_seen);
