// Package migrate reads the embedded schema migrations of a SQL store and
// decides which of them a database still needs. Each store applies them with
// its own SQL dialect and locking.
package migrate

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Migration is one schema change, read from a file named
// NNNN_description.sql.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

// Load reads the *.sql files of dir in fsys. Versions must start at 1 and
// have no gaps, so that a missing file is caught by the tests, not by users.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("reading migrations: %w", err)
	}
	var out []Migration
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %s: name must be NNNN_description.sql", name)
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("reading migration %s: %w", name, err)
		}
		out = append(out, Migration{Version: v, Name: name, SQL: string(b)})
	}
	slices.SortFunc(out, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d (versions start at 1 without gaps or duplicates)", m.Name, i+1)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no migrations in %s", dir)
	}
	return out, nil
}

// Pending returns the migrations not in applied, in order. It fails when the
// database has a version this binary does not know: it was migrated by a
// newer Palisade, and this one must not write to it.
func Pending(all []Migration, applied []int) ([]Migration, error) {
	known := make(map[int]bool, len(all))
	for _, m := range all {
		known[m.Version] = true
	}
	done := make(map[int]bool, len(applied))
	for _, v := range applied {
		if !known[v] {
			return nil, fmt.Errorf("database schema version %d is newer than this Palisade knows (latest %d); upgrade Palisade or point it at another database", v, all[len(all)-1].Version)
		}
		done[v] = true
	}
	var out []Migration
	for _, m := range all {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}
