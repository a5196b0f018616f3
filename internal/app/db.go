package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/config"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/store"
)

// errNoDatabase is returned by openAdvisories when the local SQLite
// database does not exist and the caller only reads.
var errNoDatabase = errors.New("no Palisade database")

func newDBCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "db",
		Short: "Manage the vulnerability database (OSV advisories) that scans match against",
	}
	cmd.AddCommand(newDBImportCmd(e), newDBUpdateCmd(e), newDBStatusCmd(e))
	return cmd
}

func newDBImportCmd(e *env) *cobra.Command {
	var name, database string
	var dl downloadFlags
	cmd := &cobra.Command{
		Use:   "import SOURCE...",
		Short: "Import OSV vulnerability data (zips, directories or record files) into the database",
		Long: `import loads OSV records from each SOURCE: an OSV export zip such as
all.zip, the Go vulnerability database module zip, a directory of OSV JSON or
YAML, or one record file. A SOURCE may also be an http:// or https:// URL
of a zip or a record: it is downloaded to a temporary file (removed
afterwards) within --timeout and --max-download-mb.

Each SOURCE replaces the stored records of the source of its name, in one
transaction. The name is set by --name for a single SOURCE; by default it is
the file's base name without extension, and for a URL the last path element
without extension, prefixed with its parent when that is "all"
(.../Debian/all.zip is "Debian-all"). Broken records are reported and
skipped; a SOURCE without any valid record is an error and keeps the
previous data.`,
		Example: `  palisade db import go-vulndb.zip debian-12-all.zip
  palisade db import ./advisories/ --name internal
  palisade db import https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := dl.options()
			if err := opts.validate(); err != nil {
				return err
			}
			if name != "" && len(args) > 1 {
				return usageError("--name names one source; import %d sources with their default names or one at a time", len(args))
			}
			names := make([]string, len(args))
			seen := map[string]string{}
			for i, src := range args {
				names[i] = firstNonEmpty(name, sourceName(src))
				if prev, dup := seen[names[i]]; dup {
					return usageError("%s and %s would both be imported as source %q; import them one at a time with --name", prev, shownSource(src), names[i])
				}
				seen[names[i]] = shownSource(src)
			}
			ctx := cmd.Context()
			st, adv, err := openAdvisories(ctx, e, database, false)
			if err != nil {
				return err
			}
			defer st.Close()
			var errs []error
			for i, src := range args {
				if err := importSource(ctx, e, adv, opts, names[i], src); err != nil {
					errs = append(errs, err)
				}
			}
			db, sources, err := storedDB(ctx, e, adv)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			fmt.Fprintf(e.stdout, "database version %s: %d records from %d sources\n", db.Version(), db.Len(), len(sources))
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "source name (default: the SOURCE's base name without extension)")
	cmd.Flags().StringVar(&database, "database", "", "SQLite file or PostgreSQL URL (default: the local SQLite database)")
	dl.register(cmd)
	return cmd
}

// downloadFlags are the flags bounding downloads, shared by import and
// update.
type downloadFlags struct {
	timeout time.Duration
	maxMB   int64
}

func (f *downloadFlags) register(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.timeout, "timeout", defaultDownloadTimeout, "time allowed for each download")
	cmd.Flags().Int64Var(&f.maxMB, "max-download-mb", defaultMaxDownloadMB, "refuse a download larger than this many MB")
}

func (f *downloadFlags) options() downloadOptions {
	return downloadOptions{timeout: f.timeout, maxBytes: f.maxMB << 20}
}

// shownSource is src as messages show it: URLs without credentials.
func shownSource(src string) string {
	if isURL(src) {
		return redactURL(src)
	}
	return src
}

// sourceName is the default source name of a SOURCE: its base name
// without extension (see urlSourceName for URLs).
func sourceName(src string) string {
	if isURL(src) {
		return urlSourceName(src)
	}
	base := filepath.Base(filepath.Clean(src))
	if info, err := os.Stat(src); err == nil && info.IsDir() {
		return base
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}

// importSource loads src, downloading it first when it is a URL, and
// replaces the stored records of source name with its valid records.
func importSource(ctx context.Context, e *env, adv store.Advisories, dl downloadOptions, name, src string) error {
	file, location := src, src
	if abs, err := filepath.Abs(src); err == nil {
		location = abs
	}
	if isURL(src) {
		f, cleanup, err := download(ctx, dl, src)
		if err != nil {
			return err
		}
		defer cleanup()
		file = f
		src = redactURL(src)
		location = src
	}
	recs, broken, err := osv.Load(ctx, file)
	if err != nil {
		return fmt.Errorf("importing %s: %w", src, err)
	}
	for _, b := range broken {
		b.Source = src
		fmt.Fprintf(e.stderr, "warning: skipped a broken OSV record: %v\n", b)
	}
	if len(recs) == 0 {
		return fmt.Errorf("importing %s: no valid OSV records (%d broken); the stored records of source %q are kept", src, len(broken), name)
	}
	// One record per id: the most recently modified wins.
	byID := make(map[string]*osv.Record, len(recs))
	for _, r := range recs {
		if prev, dup := byID[r.ID]; dup {
			fmt.Fprintf(e.stderr, "warning: %s: record %s appears twice; keeping the one modified last\n", src, r.ID)
			if !r.Modified.After(prev.Modified) {
				continue
			}
		}
		byID[r.ID] = r
	}
	advs := make([]store.Advisory, 0, len(byID))
	for id, r := range byID {
		body, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("importing %s: encoding record %s: %w", src, id, err)
		}
		advs = append(advs, store.Advisory{Source: name, ID: id, Modified: r.Modified, Body: body})
	}
	slices.SortFunc(advs, func(a, b store.Advisory) int { return strings.Compare(a.ID, b.ID) })
	h := sha256.New()
	for _, a := range advs {
		h.Write([]byte(a.ID))
		h.Write([]byte{0})
		h.Write(a.Body)
		h.Write([]byte{'\n'})
	}
	source := store.AdvisorySource{
		Name:       name,
		Location:   location,
		ImportedAt: time.Now().UTC().Truncate(time.Microsecond),
		Digest:     "sha256:" + hex.EncodeToString(h.Sum(nil)),
	}
	if err := adv.ReplaceAdvisories(ctx, source, advs); err != nil {
		return fmt.Errorf("importing %s: %w", src, err)
	}
	fmt.Fprintf(e.stdout, "imported %d records from %s as source %q (%d broken skipped)\n", len(advs), src, name, len(broken))
	return nil
}

// openAdvisories opens the database (the local SQLite file by default) and
// its vulnerability records. When readOnly, a missing SQLite file is
// errNoDatabase and is not created.
func openAdvisories(ctx context.Context, e *env, database string, readOnly bool) (store.Store, store.Advisories, error) {
	if database == "" {
		def, err := config.DefaultDatabase()
		if err != nil {
			return nil, nil, err
		}
		database = def
	}
	if readOnly && !config.IsPostgres(database) {
		if _, err := os.Stat(database); errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w at %s", errNoDatabase, database)
		}
	}
	st, err := openStore(ctx, e, database, readOnly)
	if err != nil {
		return nil, nil, err
	}
	adv, ok := st.(store.Advisories)
	if !ok {
		st.Close()
		return nil, nil, fmt.Errorf("the %T database does not hold vulnerability data; use the SQLite or PostgreSQL store", st)
	}
	return st, adv, nil
}

// storedDB builds the matching database from every stored advisory. A
// record stored by several sources counts once: the most recently
// modified copy, the first source's on a tie.
func storedDB(ctx context.Context, e *env, adv store.Advisories) (*match.DB, []store.AdvisorySource, error) {
	return match.Load(ctx, adv, func(err error) { fmt.Fprintf(e.stderr, "warning: %v\n", err) })
}

// dbStatus is the JSON form of `palisade db status`.
type dbStatus struct {
	Version string                 `json:"version"`
	Records int                    `json:"records"`
	Sources []store.AdvisorySource `json:"sources"`
}

func newDBStatusCmd(e *env) *cobra.Command {
	var database, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the imported vulnerability data: sources, record counts, import times and the database version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch output {
			case "table", "json", "yaml":
			default:
				return usageError("output format %q: want table, json or yaml", output)
			}
			ctx := cmd.Context()
			st, adv, err := openAdvisories(ctx, e, database, true)
			if errors.Is(err, errNoDatabase) {
				return fmt.Errorf("%w; import vulnerability data with \"palisade db import\"", err)
			}
			if err != nil {
				return err
			}
			defer st.Close()
			db, sources, err := storedDB(ctx, e, adv)
			if err != nil {
				return err
			}
			status := dbStatus{Version: db.Version(), Records: db.Len(), Sources: sources}
			if output != "table" {
				return writeOutput(e.stdout, output, status)
			}
			if len(sources) == 0 {
				_, err := fmt.Fprintln(e.stdout, "no vulnerability data imported; import some with \"palisade db import\"")
				return err
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SOURCE\tRECORDS\tIMPORTED\tDIGEST\tLOCATION")
			for _, s := range sources {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", s.Name, s.Records, s.ImportedAt.Format(time.RFC3339), s.Digest, s.Location)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			_, err = fmt.Fprintf(e.stdout, "\ndatabase version %s: %d records\n", status.Version, status.Records)
			return err
		},
	}
	cmd.Flags().StringVar(&database, "database", "", "SQLite file or PostgreSQL URL (default: the local SQLite database)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

// osvFeedBaseURL serves OSV's per-ecosystem exports, <base>/<Ecosystem>/all.zip.
const osvFeedBaseURL = "https://osv-vulnerabilities.storage.googleapis.com"

// defaultFeeds are the ecosystems `palisade db update` downloads without
// --ecosystem: those of the packages Palisade extracts from images (Go
// binaries, Python, npm, Java archives, dpkg, apk, rpm). Each name is the
// OSV ecosystem exactly as the OSV schema lists it, which is also the
// folder of its export in the bucket ("Red Hat" is escaped as Red%20Hat).
var defaultFeeds = []string{"Go", "PyPI", "npm", "Maven", "Debian", "Ubuntu", "Alpine", "Red Hat"}

// feedURL is the export URL of one OSV ecosystem under base.
func feedURL(base, ecosystem string) string {
	return strings.TrimSuffix(base, "/") + "/" + url.PathEscape(ecosystem) + "/all.zip"
}

func newDBUpdateCmd(e *env) *cobra.Command {
	var database, baseURL string
	var ecosystems []string
	var dl downloadFlags
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download the standard OSV feeds and import each as its own source",
		Long: `update downloads the OSV export of each ecosystem,
` + osvFeedBaseURL + `/<Ecosystem>/all.zip,
and imports it as "palisade db import URL" would, as the source
"<Ecosystem>-all". Without --ecosystem the ecosystems are
` + strings.Join(defaultFeeds, ", ") + `.
A failed feed is reported and the others are still imported; the command
then exits non-zero. Without internet access, import files copied from a
connected machine with "palisade db import".`,
		Example: `  palisade db update
  palisade db update --ecosystem Debian --ecosystem Go`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := dl.options()
			if err := opts.validate(); err != nil {
				return err
			}
			if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
				return usageError("--feed-base-url %q: want an http:// or https:// URL", redactURL(baseURL))
			}
			feeds := defaultFeeds
			if len(ecosystems) > 0 {
				feeds = ecosystems
			}
			ctx := cmd.Context()
			st, adv, err := openAdvisories(ctx, e, database, false)
			if err != nil {
				return err
			}
			defer st.Close()
			var failed []string
			var errs []error
			for _, eco := range feeds {
				if err := ctx.Err(); err != nil {
					return err
				}
				src := feedURL(baseURL, eco)
				if err := importSource(ctx, e, adv, opts, urlSourceName(src), src); err != nil {
					fmt.Fprintf(e.stderr, "error: %s: %v\n", eco, err)
					failed = append(failed, eco)
					errs = append(errs, err)
				}
			}
			db, sources, err := storedDB(ctx, e, adv)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			fmt.Fprintf(e.stdout, "database version %s: %d records from %d sources\n", db.Version(), db.Len(), len(sources))
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d feeds failed (%s) and were reported above; their previously stored records are kept", len(failed), len(feeds), strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&ecosystems, "ecosystem", nil, "OSV ecosystem to download, repeatable (default: "+strings.Join(defaultFeeds, ", ")+")")
	cmd.Flags().StringVar(&database, "database", "", "SQLite file or PostgreSQL URL (default: the local SQLite database)")
	cmd.Flags().StringVar(&baseURL, "feed-base-url", osvFeedBaseURL, "base URL of the OSV exports (for mirrors and tests)")
	_ = cmd.Flags().MarkHidden("feed-base-url")
	dl.register(cmd)
	return cmd
}
