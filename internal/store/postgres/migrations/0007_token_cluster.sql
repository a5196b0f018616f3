-- The cluster an agent token may report for. Empty for tokens of other
-- roles and for agent tokens stored before this column: those report for
-- the cluster of the server that checks them.
ALTER TABLE tokens ADD COLUMN cluster text NOT NULL DEFAULT '';
