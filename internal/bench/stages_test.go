package bench

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/manifest"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/state"
	"github.com/palisade-project/palisade/internal/store/sqlite"
	"github.com/palisade-project/palisade/internal/synth"
)

// The benchmarks below measure Run's stages one at a time at the 10k size:
//
//	go test -run x -bench . -benchtime 3x ./internal/bench/

// BenchmarkLoadManifests10k measures manifest.Load of the 10k cluster's YAML
// (one file of about 29 MB): YAML to JSON, JSON to API types, API types to
// the inventory model.
func BenchmarkLoadManifests10k(b *testing.B) {
	spec := synth.Default10k()
	path := filepath.Join(b.TempDir(), "cluster.yaml")
	size, err := writeManifests(path, spec)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		res, err := manifest.Load(b.Context(), []string{path}, manifest.Options{MaxFileBytes: size + 1})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Errors) > 0 || res.Snapshot.Len() != spec.Objects() {
			b.Fatalf("loaded %d objects with %d errors, want %d and none", res.Snapshot.Len(), len(res.Errors), spec.Objects())
		}
	}
	b.ReportMetric(float64(spec.Objects()*b.N)/b.Elapsed().Seconds(), "objects/s")
}

// BenchmarkStore10k measures state.State.Replace of the 10k cluster into a
// SQLite store that already holds it, what `palisade server --manifests`
// does at every start.
func BenchmarkStore10k(b *testing.B) {
	objs := synth.Generate(synth.Default10k()).Objects()
	logger := slog.New(slog.DiscardHandler)
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "bench.db"), logger)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	live := state.New(st, logger)
	b.ReportAllocs()
	for b.Loop() {
		if err := live.Replace(b.Context(), model.DefaultCluster, model.AllKinds, objs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(objs)*b.N)/b.Elapsed().Seconds(), "objects/s")
}

// BenchmarkIndexAndAnswer10k measures building the inventory index of the
// 10k cluster ("index"), answering each question from a built index (one
// sub-benchmark per question), and both together ("all").
func BenchmarkIndexAndAnswer10k(b *testing.B) {
	snap := synth.Generate(synth.Default10k())
	eng, err := answer.NewEngine(answer.Config{TrustedRegistries: DefaultTrustedRegistries})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("index", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			inventory.New(snap)
		}
	})
	ix := inventory.New(snap)
	for _, q := range answer.Questions {
		b.Run(q.Name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := eng.Ask(ix, q.Name, answer.Filter{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("all", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ix := inventory.New(snap)
			for _, q := range answer.Questions {
				if _, err := eng.Ask(ix, q.Name, answer.Filter{}); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkEncodeAnswer10k measures encoding each answer of the 10k cluster
// as JSON, what the API adds to a question's first request.
func BenchmarkEncodeAnswer10k(b *testing.B) {
	ix := inventory.New(synth.Generate(synth.Default10k()))
	eng, err := answer.NewEngine(answer.Config{TrustedRegistries: DefaultTrustedRegistries})
	if err != nil {
		b.Fatal(err)
	}
	for _, q := range answer.Questions {
		a, err := eng.Ask(ix, q.Name, answer.Filter{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(q.Name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				js, err := json.Marshal(a)
				if err != nil {
					b.Fatal(err)
				}
				n = len(js)
			}
			b.SetBytes(int64(n))
		})
	}
}

// BenchmarkGenerate10k measures the generator itself, so that its cost can
// be told apart from the stages it feeds.
func BenchmarkGenerate10k(b *testing.B) {
	b.Run("snapshot", func(b *testing.B) {
		for b.Loop() {
			synth.Generate(synth.Default10k())
		}
	})
	b.Run("yaml", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "cluster.yaml")
		for b.Loop() {
			if _, err := writeManifests(path, synth.Default10k()); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.Remove(path); err != nil {
			b.Fatal(err)
		}
	})
}
