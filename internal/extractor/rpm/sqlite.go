package rpm

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"modernc.org/sqlite"
	sqlitelib "modernc.org/sqlite/lib"
)

// rpm's SQLite database (rpmdb.sqlite, RHEL 9, Fedora 33 and later) keeps
// each header blob in a row of the table
//
//	CREATE TABLE Packages (hnum INTEGER PRIMARY KEY AUTOINCREMENT, blob BLOB NOT NULL)
//
// It is read in memory: the bytes are handed to SQLite with
// sqlite3_deserialize on a private in-memory connection, so no file is
// written. SQLite reports a corrupt file as an error.
var sqliteMagic = []byte("SQLite format 3\x00")

// deserializer is the method of modernc.org/sqlite's connections that loads
// a database image.
type deserializer interface {
	Deserialize(buf []byte) error
}

func sqliteBlobs(ctx context.Context, b []byte, c *collector) error {
	if len(b) < 100 {
		return fmt.Errorf("sqlite: %d bytes, shorter than the database header: truncated", len(b))
	}
	// SQLite reads a truncated file as far as it goes; the header says how
	// long the file was when the header is current (its change counter
	// equals the version-valid-for number).
	pageSize := uint64(binary.BigEndian.Uint16(b[16:]))
	if pageSize == 1 {
		pageSize = 65536
	}
	pages := uint64(binary.BigEndian.Uint32(b[28:]))
	if pages != 0 && binary.BigEndian.Uint32(b[24:]) == binary.BigEndian.Uint32(b[92:]) && pages*pageSize > uint64(len(b)) {
		return fmt.Errorf("sqlite: %d pages of %d bytes, but the file has %d bytes: truncated", pages, pageSize, len(b))
	}
	// An in-memory database cannot be in WAL mode, which rpm leaves its
	// database in: bytes 18 and 19 (file format write and read versions)
	// say 2 for WAL, 1 for the rollback journal. The WAL file itself is
	// another file and is not read. b is the extractor's own copy of the
	// file (see readHeaders), so it is patched in place rather than copied
	// once more: SQLite's deserialisation makes a copy of its own anyway.
	if b[18] == 2 || b[19] == 2 {
		b[18], b[19] = 1, 1
	}
	db, err := sql.Open("sqlite", ":memory:")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		d, ok := dc.(deserializer)
		if !ok {
			return fmt.Errorf("driver connection %T cannot load a database from memory", dc)
		}
		return d.Deserialize(b)
	})
	if err != nil {
		return fmt.Errorf("sqlite: loading the database: %w", err)
	}
	// No value may exceed the file; schema code the file brings may not
	// call functions with side effects.
	if _, err := sqlite.Limit(conn, sqlitelib.SQLITE_LIMIT_LENGTH, len(b)); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "PRAGMA trusted_schema = OFF; PRAGMA query_only = ON"); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	// A view or virtual table named Packages could compute rows without
	// end; only a plain table is read.
	var schema string
	err = conn.QueryRowContext(ctx, "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'Packages'").Scan(&schema)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: no Packages table: not an rpm database")
	}
	if err != nil {
		return fmt.Errorf("sqlite: reading the schema: %w", err)
	}
	if !strings.HasPrefix(strings.ToUpper(strings.TrimSpace(schema)), "CREATE TABLE") {
		return fmt.Errorf("sqlite: Packages is not a plain table")
	}
	rows, err := conn.QueryContext(ctx, "SELECT blob FROM Packages ORDER BY hnum")
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer rows.Close()
	// The collector decodes each blob at once and keeps none of its bytes,
	// so it can be the driver's own, valid until the next row.
	var blob sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&blob); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if err := c.add(blob); err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}
