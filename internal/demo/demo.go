// Package demo embeds Palisade's example environment: a made-up company's
// cluster, written by the Palisade project for `palisade demo` and the lab.
// It is example data, and everything that shows it says so.
package demo

import (
	"embed"
	"io/fs"
)

// Cluster is the cluster name under which the example is loaded.
const Cluster = "example"

// Notice is shown wherever example data is served.
const Notice = "EXAMPLE DATA: this is Palisade's built-in demo environment (a made-up company), not a real cluster"

//go:embed environment/*.yaml
var files embed.FS

// Environment returns the example manifests.
func Environment() fs.FS {
	sub, err := fs.Sub(files, "environment")
	if err != nil {
		panic(err) // the embedded directory is fixed at build time
	}
	return sub
}
