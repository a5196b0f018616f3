package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/extractor/list"
	"github.com/palisade-project/palisade/internal/imagefs"
	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/osv"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/scanner"
	"github.com/palisade-project/palisade/internal/vulnerable"
)

// scanReport is the JSON form of `palisade scan` (docs/output.md).
type scanReport struct {
	Image           scanImage        `json:"image"`
	Packages        []sbom.Package   `json:"packages"`
	Vulnerabilities []scanVuln       `json:"vulnerabilities"`
	Database        *scanDatabase    `json:"database,omitempty"`
	Summary         map[string]int   `json:"summary"`
	Errors          []string         `json:"errors,omitempty"`
	Notes           []string         `json:"notes,omitempty"`
	Config          sbom.ImageConfig `json:"config"`
	Extractors      map[string]int   `json:"extractors"`
}

type scanImage struct {
	Reference string  `json:"reference"`
	Digest    string  `json:"digest"`
	OS        sbom.OS `json:"os"`
}

type scanVuln struct {
	ID               string   `json:"id"`
	Aliases          []string `json:"aliases,omitempty"`
	Package          string   `json:"package"`
	Ecosystem        string   `json:"ecosystem"`
	SourcePackage    string   `json:"sourcePackage,omitempty"`
	InstalledVersion string   `json:"installedVersion"`
	FixedVersion     string   `json:"fixedVersion,omitempty"`
	Severity         string   `json:"severity"`
	Score            float64  `json:"score,omitempty"`
	Summary          string   `json:"summary,omitempty"`
	// KnownExploited is set when the local database's KEV catalog lists
	// one of its ids.
	KnownExploited *vulnerable.Exploit `json:"knownExploited,omitempty"`
}

type scanDatabase struct {
	Version string   `json:"version"`
	Records int      `json:"records"`
	Sources []string `json:"sources"`
}

func newScanCmd(e *env) *cobra.Command {
	var (
		input, output, failOn string
		osvSources            []string
		database              string
	)
	cmd := &cobra.Command{
		Use:   "scan [IMAGE]",
		Short: "Scan an image for packages and known vulnerabilities, without a server (for CI)",
		Long: `scan reads an image from its registry (credentials from the docker config),
an OCI layout directory or a docker-archive tarball (--input), lists its
packages, and matches them against OSV vulnerability data given with --osv
(OSV export zips such as all.zip, the Go vulnerability database zip,
directories of OSV JSON or YAML) or, without --osv, against the data imported
with "palisade db import" into the database (--database, by default the local
SQLite file). Layers are streamed, never unpacked to disk.
With --fail-on SEVERITY it exits 3 when a vulnerability at or above that
severity is found.`,
		Example: `  palisade scan --input ./image-layout --osv debian-all.zip --osv go-vulndb.zip
  palisade scan ghcr.io/acme/api@sha256:… --osv ./osv/ -o json --fail-on high`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			}
			switch output {
			case "table", "json", "yaml":
			default:
				return usageError("output format %q: want table, json or yaml", output)
			}
			threshold := model.Severity(strings.ToLower(failOn))
			if failOn != "" && threshold.Rank() < model.SeverityLow.Rank() {
				return usageError("--fail-on %q: want critical, high, medium or low", failOn)
			}
			ctx := cmd.Context()
			img, err := scanner.Open(ctx, ref, input)
			if err != nil {
				return usageOrError(err, ref == "" && input == "")
			}
			prog := newProgress(e.stderr, firstNonEmpty(ref, input))
			res, err := scanner.Scan(ctx, img, list.All(), imagefs.Options{Progress: prog.report})
			prog.done()
			if err != nil {
				return err
			}
			rep := &scanReport{
				Image:      scanImage{Reference: firstNonEmpty(ref, input), Digest: res.SBOM.Digest, OS: res.SBOM.OS},
				Packages:   res.SBOM.Packages,
				Config:     res.SBOM.Config,
				Extractors: res.SBOM.Extractors,
				Summary:    map[string]int{"packages": len(res.SBOM.Packages)},
			}
			for _, err := range res.Errors {
				rep.Errors = append(rep.Errors, err.Error())
			}
			db, sources, err := scanDB(ctx, e, osvSources, database)
			if err != nil {
				return err
			}
			if db == nil {
				rep.Notes = append(rep.Notes, "no vulnerability data given (--osv) or imported (palisade db import): packages listed, nothing matched")
			} else {
				rep.Database = &scanDatabase{Version: db.Version(), Records: db.Len(), Sources: sources}
				catalog, err := scanKEV(ctx, e, database)
				if err != nil {
					return err
				}
				findings, err := db.Match(ctx, res.SBOM)
				if err != nil {
					rep.Errors = append(rep.Errors, err.Error())
				}
				for _, f := range findings {
					v := scanVuln{
						ID: f.ID, Aliases: f.Aliases, Package: f.Package.Name, Ecosystem: f.Package.Ecosystem,
						SourcePackage: f.Package.SourceName, InstalledVersion: f.InstalledVersion,
						FixedVersion: f.FixedVersion, Severity: firstNonEmpty(f.Severity, "unknown"), Score: f.Score, Summary: f.Summary,
					}
					if catalog != nil {
						if k, ok := catalog.Find(f.ID, f.Aliases); ok {
							v.KnownExploited = vulnerable.ExploitOf(k)
							rep.Summary["knownExploited"]++
						}
					}
					rep.Vulnerabilities = append(rep.Vulnerabilities, v)
					rep.Summary[v.Severity]++
				}
			}
			if rep.Vulnerabilities == nil {
				rep.Vulnerabilities = []scanVuln{}
			}
			rep.Summary["vulnerabilities"] = len(rep.Vulnerabilities)
			if output == "table" {
				err = writeScanTable(e.stdout, rep)
			} else {
				err = writeOutput(e.stdout, output, rep)
			}
			if err != nil {
				return err
			}
			if failOn != "" {
				for _, v := range rep.Vulnerabilities {
					if model.Severity(v.Severity).Rank() >= threshold.Rank() {
						return &exitError{code: ExitFinding, err: fmt.Errorf("vulnerabilities at or above %s found", threshold)}
					}
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&input, "input", "", "OCI layout directory or docker-archive tarball instead of a registry")
	f.StringArrayVar(&osvSources, "osv", nil, "OSV vulnerability data: a zip, a directory or a record file (repeatable)")
	f.StringVar(&database, "database", "", "database holding imported vulnerability data, used without --osv (default: the local SQLite database)")
	f.StringVarP(&output, "output", "o", "table", "output format: table, json or yaml")
	f.StringVar(&failOn, "fail-on", "", "exit 3 when a vulnerability at or above this severity is found (critical, high, medium, low)")
	return cmd
}

// scanDB builds the vulnerability database of a scan: from the --osv
// sources when given, else from the advisories stored in database. It
// returns a nil DB when there is no data: no --osv, and no local database or
// nothing imported into it. The sources name where the records came from.
func scanDB(ctx context.Context, e *env, osvSources []string, database string) (*match.DB, []string, error) {
	if len(osvSources) > 0 {
		var records []*osv.Record
		for _, src := range osvSources {
			recs, broken, err := osv.Load(ctx, src)
			if err != nil {
				return nil, nil, err
			}
			for _, b := range broken {
				fmt.Fprintf(e.stderr, "warning: skipped a broken OSV record: %v\n", b)
			}
			records = append(records, recs...)
		}
		db, err := match.NewDB(records)
		if err != nil {
			return nil, nil, fmt.Errorf("building the vulnerability database: %w", err)
		}
		return db, osvSources, nil
	}
	st, adv, err := openAdvisories(ctx, e, database, true)
	if errors.Is(err, errNoDatabase) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("opening the vulnerability database: %w", err)
	}
	defer st.Close()
	db, stored, err := storedDB(ctx, e, adv)
	if err != nil {
		return nil, nil, err
	}
	if len(stored) == 0 {
		return nil, nil, nil
	}
	sources := make([]string, len(stored))
	for i, s := range stored {
		sources[i] = s.Name
	}
	return db, sources, nil
}

// scanKEV reads the KEV catalog imported into the local database (or
// --database), nil when there is none.
func scanKEV(ctx context.Context, e *env, database string) (*kev.Catalog, error) {
	st, _, err := openAdvisories(ctx, e, database, true)
	if errors.Is(err, errNoDatabase) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening the vulnerability database: %w", err)
	}
	defer st.Close()
	c, _, err := storedKEV(ctx, kevStoreOf(st))
	return c, err
}

func usageOrError(err error, usage bool) error {
	if usage {
		return usageError("%v", err)
	}
	return err
}

func writeScanTable(w io.Writer, r *scanReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "image %s  digest %s  os %s %s\n\n", r.Image.Reference, r.Image.Digest, r.Image.OS.ID, r.Image.OS.VersionID)
	if len(r.Vulnerabilities) > 0 {
		fmt.Fprintln(tw, "PACKAGE\tINSTALLED\tVULNERABILITY\tSEVERITY\tFIXED IN")
		for _, v := range r.Vulnerabilities {
			pkg := v.Package
			if v.SourcePackage != "" && v.SourcePackage != v.Package {
				pkg += " (" + v.SourcePackage + ")"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", pkg, v.InstalledVersion, v.ID, v.Severity, firstNonEmpty(v.FixedVersion, "not fixed"))
		}
	} else {
		fmt.Fprintln(tw, "PACKAGE\tVERSION\tECOSYSTEM")
		for _, p := range r.Packages {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Version, p.Ecosystem)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	keys := make([]string, 0, len(r.Summary))
	for k := range r.Summary {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, r.Summary[k])
	}
	fmt.Fprintf(w, "\nsummary: %s\n", strings.Join(parts, " "))
	for _, e := range r.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}
