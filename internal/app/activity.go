package app

import (
	"time"

	"github.com/palisade-project/palisade/internal/activity"
	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procrules"
)

// baselines adapts a baseline.Set to the activity pipeline.
type baselines struct{ set *baseline.Set }

func (b baselines) Observe(digest, container, exe string, at time.Time) string {
	switch b.set.Observe(baseline.Key{Digest: digest, Container: container}, exe, at) {
	case baseline.InBaseline:
		return observation.BaselineIn
	case baseline.Anomaly:
		return observation.BaselineAnomaly
	}
	return observation.BaselineLearning
}

// rules adapts a procrules.Ruleset to the activity pipeline.
type rules struct{ rs *procrules.Ruleset }

func (r rules) Evaluate(ev activity.Event) []observation.Suspicion {
	fs := r.rs.Evaluate(procrules.Event{Exe: ev.Exe, Args: ev.Args, ImageEntrypoint: ev.Entrypoint, ImageCmd: ev.Cmd, Production: ev.Production})
	if len(fs) == 0 {
		return nil
	}
	out := make([]observation.Suspicion, len(fs))
	for i, f := range fs {
		out[i] = observation.Suspicion{Rule: f.RuleID, Title: f.Title, Severity: string(f.Severity), Rationale: f.Rationale, Remediation: f.Remediation, Evidence: f.Evidence}
	}
	return out
}
