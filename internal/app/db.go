package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	"github.com/palisade-project/palisade/internal/kev"
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
		Short: "Manage the vulnerability database (OSV advisories, CISA KEV catalog) that scans match against",
	}
	cmd.AddCommand(newDBImportCmd(e), newDBUpdateCmd(e), newDBStatusCmd(e))
	return cmd
}

func newDBImportCmd(e *env) *cobra.Command {
	var name, database string
	var dl downloadFlags
	cmd := &cobra.Command{
		Use:   "import SOURCE...",
		Short: "Import OSV vulnerability data (zips, directories or record files) or the CISA KEV catalog into the database",
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
previous data.

A SOURCE that is CISA's Known Exploited Vulnerabilities catalog (its JSON
feed, recognised from its first bytes) replaces the stored KEV catalog,
source "` + kevSourceName + `" whatever --name says. It is validated whole
first: a malformed catalog is an error and the stored one is kept.`,
		Example: `  palisade db import go-vulndb.zip debian-12-all.zip
  palisade db import ./advisories/ --name internal
  palisade db import known_exploited_vulnerabilities.json
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
			vdb := vulnDB{adv: adv, kev: kevStoreOf(st)}
			var errs []error
			onlyKEV := true
			for i, src := range args {
				isKEV, err := importSource(ctx, e, vdb, opts, names[i], src)
				if err != nil {
					errs = append(errs, err)
				}
				onlyKEV = onlyKEV && isKEV
			}
			if onlyKEV {
				return errors.Join(errs...)
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

// vulnDB is what the db commands write to: the OSV advisories and the KEV
// catalog of one store.
type vulnDB struct {
	adv store.Advisories
	kev store.KEV // nil when the store does not keep one
}

// kevSourceName names CISA's catalog in the store.
const kevSourceName = "cisa-kev"

// kevStoreOf returns st's KEV catalog, or nil when it keeps none.
func kevStoreOf(st store.Store) store.KEV {
	k, _ := st.(store.KEV)
	return k
}

// importSource loads src, downloading it first when it is a URL, and
// stores it: a KEV catalog (recognised by kev.Sniff) replaces the stored
// one; anything else is OSV data replacing the records of source name.
func importSource(ctx context.Context, e *env, db vulnDB, dl downloadOptions, name, src string) (isKEV bool, err error) {
	file, location := src, src
	if abs, err := filepath.Abs(src); err == nil {
		location = abs
	}
	if isURL(src) {
		f, cleanup, err := download(ctx, dl, src)
		if err != nil {
			return false, err
		}
		defer cleanup()
		file = f
		src = redactURL(src)
		location = src
	}
	if sniffKEV(file) {
		return true, importKEV(ctx, e, db.kev, file, src, location)
	}
	return false, importOSV(ctx, e, db.adv, file, src, location, name)
}

// sniffKEV reports whether file is a regular file that starts like a KEV
// catalog. Anything unreadable is left to the OSV loader to report.
func sniffKEV(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return false
	}
	prefix := make([]byte, kev.SniffLen)
	n, _ := io.ReadFull(f, prefix)
	return kev.Sniff(prefix[:n])
}

// importKEV parses file, shown as src, as a KEV catalog and, when all of
// it is valid, replaces the stored catalog with it in one transaction.
func importKEV(ctx context.Context, e *env, k store.KEV, file, src, location string) error {
	if k == nil {
		return fmt.Errorf("importing %s: this database does not keep a KEV catalog; use the SQLite or PostgreSQL store", src)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("importing %s: %w", src, err)
	}
	defer f.Close()
	h := sha256.New()
	cat, err := kev.Parse(io.TeeReader(f, h), kev.DefaultMaxBytes)
	if err != nil {
		return fmt.Errorf("importing %s: %w; the stored KEV catalog is kept", src, err)
	}
	source := store.KEVSource{
		Name:       kevSourceName,
		Location:   location,
		Version:    cat.Version(),
		Released:   cat.Released(),
		ImportedAt: time.Now().UTC().Truncate(time.Microsecond),
		Digest:     "sha256:" + hex.EncodeToString(h.Sum(nil)),
	}
	if err := k.ReplaceKEV(ctx, source, cat.Entries()); err != nil {
		return fmt.Errorf("importing %s: %w", src, err)
	}
	fmt.Fprintf(e.stdout, "imported KEV catalog version %s (%d entries) from %s as source %q\n", cat.Version(), cat.Len(), src, kevSourceName)
	return nil
}

// importOSV loads the OSV records of file, shown as src, and replaces the
// stored records of source name with its valid records.
func importOSV(ctx context.Context, e *env, adv store.Advisories, file, src, location, name string) error {
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
	// KEV describes the stored KEV catalog; null when none was imported.
	KEV *store.KEVSource `json:"kev"`
}

// storedKEV loads the stored KEV catalog and checks it as an import
// would. It returns a nil catalog when none was imported or the store
// keeps none.
func storedKEV(ctx context.Context, k store.KEV) (*kev.Catalog, store.KEVSource, error) {
	if k == nil {
		return nil, store.KEVSource{}, nil
	}
	src, entries, err := k.KEVEntries(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.KEVSource{}, nil
	}
	if err != nil {
		return nil, store.KEVSource{}, err
	}
	cat, err := kev.New(src.Version, src.Released, entries)
	if err != nil {
		return nil, store.KEVSource{}, fmt.Errorf("the stored KEV catalog is damaged: %w; import it again with \"palisade db import\" or \"palisade db update\"", err)
	}
	return cat, src, nil
}

func newDBStatusCmd(e *env) *cobra.Command {
	var database, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the imported vulnerability data: sources, record counts, import times, the database version and the KEV catalog",
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
			cat, kevSrc, err := storedKEV(ctx, kevStoreOf(st))
			if err != nil {
				return err
			}
			if cat != nil {
				status.KEV = &kevSrc
			}
			if output != "table" {
				return writeOutput(e.stdout, output, status)
			}
			return writeDBStatus(e.stdout, status)
		},
	}
	cmd.Flags().StringVar(&database, "database", "", "SQLite file or PostgreSQL URL (default: the local SQLite database)")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

// writeDBStatus prints status as tables: the OSV sources and the database
// version, then the KEV catalog.
func writeDBStatus(w io.Writer, status dbStatus) error {
	if len(status.Sources) == 0 && status.KEV == nil {
		_, err := fmt.Fprintln(w, "no vulnerability data imported; import some with \"palisade db import\"")
		return err
	}
	if len(status.Sources) == 0 {
		fmt.Fprintln(w, "no OSV advisories imported; import some with \"palisade db import\"")
	} else {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SOURCE\tRECORDS\tIMPORTED\tDIGEST\tLOCATION")
		for _, s := range status.Sources {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", s.Name, s.Records, s.ImportedAt.Format(time.RFC3339), s.Digest, s.Location)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(w, "\ndatabase version %s: %d records\n", status.Version, status.Records)
	}
	fmt.Fprintln(w)
	if status.KEV == nil {
		_, err := fmt.Fprintln(w, "no KEV catalog imported; \"palisade db update\" downloads CISA's, \"palisade db import\" takes a copy")
		return err
	}
	k := status.KEV
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KEV CATALOG\tVERSION\tENTRIES\tIMPORTED\tDIGEST\tLOCATION")
	fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", k.Name, k.Version, k.Entries, k.ImportedAt.Format(time.RFC3339), k.Digest, k.Location)
	return tw.Flush()
}

// osvFeedBaseURL serves OSV's per-ecosystem exports, <base>/<Ecosystem>/all.zip.
const osvFeedBaseURL = "https://osv-vulnerabilities.storage.googleapis.com"

// defaultFeeds are the ecosystems `palisade db update` downloads without
// --ecosystem: those of the packages Palisade extracts from images (Go
// binaries, Python, npm, Java archives, dpkg, apk, rpm). Each name is the
// OSV ecosystem exactly as the OSV schema lists it, which is also the
// folder of its export in the bucket ("Red Hat" is escaped as Red%20Hat).
var defaultFeeds = []string{"Go", "PyPI", "npm", "Maven", "Debian", "Ubuntu", "Alpine", "Red Hat"}

// kevFeedURL is CISA's KEV catalog feed, downloaded by `palisade db update`.
const kevFeedURL = "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"

// feedURL is the export URL of one OSV ecosystem under base.
func feedURL(base, ecosystem string) string {
	return strings.TrimSuffix(base, "/") + "/" + url.PathEscape(ecosystem) + "/all.zip"
}

func newDBUpdateCmd(e *env) *cobra.Command {
	var database, baseURL, kevURL string
	var ecosystems []string
	var withKEV bool
	var dl downloadFlags
	cmd := &cobra.Command{
		Use:   "update",
		Short: "Download the standard OSV feeds and the CISA KEV catalog and import each as its own source",
		Long: `update downloads the OSV export of each ecosystem,
` + osvFeedBaseURL + `/<Ecosystem>/all.zip,
and imports it as "palisade db import URL" would, as the source
"<Ecosystem>-all". Without --ecosystem the ecosystems are
` + strings.Join(defaultFeeds, ", ") + `.
It then downloads CISA's Known Exploited Vulnerabilities catalog,
` + kevFeedURL + `,
and replaces the stored one with it (source "` + kevSourceName + `"), unless --kev=false.
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
			if u, err := url.Parse(kevURL); withKEV && (err != nil || (u.Scheme != "http" && u.Scheme != "https")) {
				return usageError("--kev-url %q: want an http:// or https:// URL", redactURL(kevURL))
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
				if err := importOSVURL(ctx, e, adv, opts, src); err != nil {
					fmt.Fprintf(e.stderr, "error: %s: %v\n", eco, err)
					failed = append(failed, eco)
					errs = append(errs, err)
				}
			}
			total := len(feeds)
			if withKEV {
				total++
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := importKEVURL(ctx, e, kevStoreOf(st), opts, kevURL); err != nil {
					fmt.Fprintf(e.stderr, "error: KEV catalog: %v\n", err)
					failed = append(failed, "KEV catalog")
					errs = append(errs, err)
				}
			}
			db, sources, err := storedDB(ctx, e, adv)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			fmt.Fprintf(e.stdout, "database version %s: %d records from %d sources\n", db.Version(), db.Len(), len(sources))
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d feeds failed (%s) and were reported above; their previously stored data is kept", len(failed), total, strings.Join(failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&ecosystems, "ecosystem", nil, "OSV ecosystem to download, repeatable (default: "+strings.Join(defaultFeeds, ", ")+")")
	cmd.Flags().StringVar(&database, "database", "", "SQLite file or PostgreSQL URL (default: the local SQLite database)")
	cmd.Flags().BoolVar(&withKEV, "kev", true, "also download CISA's Known Exploited Vulnerabilities catalog")
	cmd.Flags().StringVar(&baseURL, "feed-base-url", osvFeedBaseURL, "base URL of the OSV exports (for mirrors and tests)")
	_ = cmd.Flags().MarkHidden("feed-base-url")
	cmd.Flags().StringVar(&kevURL, "kev-url", kevFeedURL, "URL of the KEV catalog (for mirrors and tests)")
	_ = cmd.Flags().MarkHidden("kev-url")
	dl.register(cmd)
	return cmd
}

// importOSVURL downloads one OSV feed and imports it as the source its URL
// names.
func importOSVURL(ctx context.Context, e *env, adv store.Advisories, dl downloadOptions, src string) error {
	file, cleanup, err := download(ctx, dl, src)
	if err != nil {
		return err
	}
	defer cleanup()
	shown := redactURL(src)
	return importOSV(ctx, e, adv, file, shown, shown, urlSourceName(src))
}

// importKEVURL downloads the KEV catalog and imports it, whatever its
// first bytes look like: a feed that is not a catalog is an error.
func importKEVURL(ctx context.Context, e *env, k store.KEV, dl downloadOptions, src string) error {
	file, cleanup, err := download(ctx, dl, src)
	if err != nil {
		return err
	}
	defer cleanup()
	shown := redactURL(src)
	return importKEV(ctx, e, k, file, shown, shown)
}
