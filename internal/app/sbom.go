package app

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/palisade-project/palisade/internal/extractor/list"
	"github.com/palisade-project/palisade/internal/imagefs"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/sbomexport"
	"github.com/palisade-project/palisade/internal/scanner"
)

// exportFunc writes an SBOM in one document format (internal/sbomexport).
type exportFunc func(s *sbom.SBOM, ref string, now time.Time, w io.Writer) error

func newSBOMCmd(e *env) *cobra.Command {
	var input, format, outFile string
	cmd := &cobra.Command{
		Use:   "sbom [IMAGE]",
		Short: "Write an image's software bill of materials as CycloneDX or SPDX JSON",
		Long: `sbom reads an image as "palisade scan" does (from its registry with
credentials from the docker config, or --input: an OCI layout directory or a
docker-archive tarball), lists its packages and writes them as a CycloneDX 1.6
or SPDX 2.3 JSON document, to stdout or to the file given with -o. No
vulnerability data is needed. Files that could not be read are reported on
stderr; the rest of the image is still in the document.`,
		Example: `  palisade sbom ghcr.io/acme/api@sha256:… > api.cdx.json
  palisade sbom --input ./image-layout --format spdx -o api.spdx.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref := ""
			if len(args) == 1 {
				ref = args[0]
			}
			var export exportFunc
			switch format {
			case "cyclonedx":
				export = sbomexport.CycloneDX
			case "spdx":
				export = sbomexport.SPDX
			default:
				return usageError("--format %q: want cyclonedx or spdx", format)
			}
			ctx := cmd.Context()
			img, err := scanner.Open(ctx, ref, input)
			if err != nil {
				return usageOrError(err, ref == "" && input == "")
			}
			res, err := scanner.Scan(ctx, img, list.All(), imagefs.Options{})
			if err != nil {
				return err
			}
			for _, err := range res.Errors {
				fmt.Fprintf(e.stderr, "warning: %v\n", err)
			}
			name := firstNonEmpty(ref, input)
			if outFile == "" {
				return export(res.SBOM, name, res.SBOM.CreatedAt, e.stdout)
			}
			f, err := os.Create(outFile)
			if err != nil {
				return fmt.Errorf("creating the SBOM file: %w", err)
			}
			if err := export(res.SBOM, name, res.SBOM.CreatedAt, f); err != nil {
				f.Close()
				return fmt.Errorf("writing %s: %w", outFile, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("writing %s: %w", outFile, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&input, "input", "", "OCI layout directory or docker-archive tarball instead of a registry")
	f.StringVar(&format, "format", "cyclonedx", "document format: cyclonedx (1.6) or spdx (2.3)")
	f.StringVarP(&outFile, "output", "o", "", "write the document to this file instead of stdout")
	return cmd
}
