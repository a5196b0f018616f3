package app

import (
	"context"
	"log/slog"
	"reflect"
	"time"

	"github.com/palisade-project/palisade/internal/activity"
	"github.com/palisade-project/palisade/internal/baseline"
	"github.com/palisade-project/palisade/internal/observation"
	"github.com/palisade-project/palisade/internal/procrules"
	"github.com/palisade-project/palisade/internal/store"
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
	e := procrules.Event{Exe: ev.Exe, Args: ev.Args, ImageEntrypoint: ev.Entrypoint, ImageCmd: ev.Cmd, Production: ev.Production}
	if ev.Executables != nil {
		e.InImage = func(path string) (known, present bool) {
			present, known = ev.Executables.Contains(path)
			return known, present
		}
	}
	fs := r.rs.Evaluate(e)
	if len(fs) == 0 {
		return nil
	}
	out := make([]observation.Suspicion, len(fs))
	for i, f := range fs {
		out[i] = observation.Suspicion{Rule: f.RuleID, Title: f.Title, Severity: string(f.Severity), Rationale: f.Rationale, Remediation: f.Remediation, Evidence: f.Evidence}
	}
	return out
}

// restoreBaselines loads the stored baselines into set and reports whether
// it could. A failure is logged: the baselines are then learned again, in
// memory only, so that the stored ones are not overwritten.
func restoreBaselines(ctx context.Context, log *slog.Logger, st store.Baselines, set *baseline.Set) bool {
	bs, err := st.AllBaselines(ctx)
	if err == nil {
		err = set.Restore(bs)
	}
	if err != nil {
		log.Error("process baselines not restored; they are learned again and not stored until the next start", "err", err)
		return false
	}
	log.Info("process baselines restored", "baselines", len(bs))
	return true
}

// saveBaselines stores set's baselines every interval and once more when
// ctx ends, writing only when they changed.
func saveBaselines(ctx context.Context, log *slog.Logger, st store.Baselines, set *baseline.Set, interval time.Duration) {
	var last []baseline.Baseline
	save := func(ctx context.Context) {
		bs := set.Snapshot()
		if reflect.DeepEqual(bs, last) {
			return
		}
		if err := st.PutBaselines(ctx, bs); err != nil {
			log.Error("storing process baselines", "baselines", len(bs), "err", err)
			return
		}
		last = bs
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			flush, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			save(flush)
			cancel()
			return
		case <-t.C:
			save(ctx)
		}
	}
}
