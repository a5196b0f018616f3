// Package scanqueue keeps every running image scanned and matched: it
// watches the inventory for the digests pods run, scans each digest once
// (whatever the number of workloads and clusters running it) as soon as it
// appears and again when its SBOM is older than the maximum age or was made
// by an older extractor or layer walk, retries failures with backoff, and
// re-matches every stored SBOM, without pulling anything, when the
// vulnerability database changes. What it knows is published as an
// imagescan.View.
package scanqueue

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/palisade-project/palisade/internal/extractor"
	"github.com/palisade-project/palisade/internal/imagefs"
	"github.com/palisade-project/palisade/internal/imagescan"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/kev"
	"github.com/palisade-project/palisade/internal/match"
	"github.com/palisade-project/palisade/internal/sbom"
	"github.com/palisade-project/palisade/internal/scanner"
	"github.com/palisade-project/palisade/internal/store"
)

// Inventory is the live inventory: *state.State implements it.
type Inventory interface {
	Index() (*inventory.Index, uint64)
	Changed() <-chan struct{}
}

// Store is what the queue reads and writes: the scans and the advisories.
type Store interface {
	imagescan.Store
	match.Stored
	PutSBOM(ctx context.Context, s *sbom.SBOM) error
	PutMatch(ctx context.Context, m store.MatchResult) error
	PutMatches(ctx context.Context, ms []store.MatchResult) error
	PutScanStatus(ctx context.Context, s store.ScanStatus) error
	KEVEntries(ctx context.Context) (store.KEVSource, []kev.Entry, error)
	DeleteScans(ctx context.Context, digests []string) error
}

// Defaults of Options.
const (
	DefaultMaxAge   = 24 * time.Hour
	DefaultWorkers  = 2
	DefaultRetryMin = time.Minute
	DefaultRetryMax = time.Hour
	DefaultDBPoll   = 30 * time.Second
	// DefaultRetention is how long what was found about an image no pod
	// runs any more is kept after its last scan or attempt.
	DefaultRetention = 7 * 24 * time.Hour
)

// maxErrorLen bounds a stored scan error.
const maxErrorLen = 1000

// Options configures a Queue. Inventory, Store and Publish are required.
type Options struct {
	Inventory Inventory
	Store     Store
	// Publish receives every new view of the scanned images.
	Publish func(*imagescan.View)
	// Keychain returns the credentials to pull from src; nil means the
	// docker config (config.json) or anonymous. It may return a keychain
	// and an error together: the pull is tried with the keychain and, if
	// it fails, the error says why credentials may be missing.
	Keychain func(ctx context.Context, src Source) (authn.Keychain, error)
	// Open opens an image by reference; nil means imagefs.OpenRemote.
	Open       func(ctx context.Context, ref string, kc authn.Keychain) (v1.Image, error)
	Extractors []extractor.Extractor
	Limits     imagefs.Options
	// Workers is the number of concurrent scans.
	Workers int
	// MaxAge is how old an SBOM may get before the image is scanned again.
	MaxAge time.Duration
	// RetryMin and RetryMax bound the backoff after failures: RetryMin
	// after the first, doubling, never more than RetryMax (nor MaxAge).
	RetryMin, RetryMax time.Duration
	// DBPoll is how often the vulnerability database is checked for a new
	// import (palisade db import runs in another process).
	DBPoll time.Duration
	// Retention is how long the SBOM, match and status of an image no pod
	// runs are kept after it was last scanned or tried.
	Retention time.Duration
	Logger    *slog.Logger
	Now       func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Inventory == nil || o.Store == nil || o.Publish == nil {
		panic("scanqueue.New: Options.Inventory, Options.Store and Options.Publish are required")
	}
	if o.Keychain == nil {
		o.Keychain = func(context.Context, Source) (authn.Keychain, error) { return authn.DefaultKeychain, nil }
	}
	if o.Open == nil {
		o.Open = func(ctx context.Context, ref string, kc authn.Keychain) (v1.Image, error) {
			return imagefs.OpenRemote(ctx, ref, kc)
		}
	}
	o.Workers = cmp.Or(max(o.Workers, 0), DefaultWorkers)
	o.MaxAge = cmp.Or(o.MaxAge, DefaultMaxAge)
	o.RetryMin = cmp.Or(o.RetryMin, DefaultRetryMin)
	o.RetryMax = min(cmp.Or(o.RetryMax, DefaultRetryMax), o.MaxAge)
	o.DBPoll = cmp.Or(o.DBPoll, DefaultDBPoll)
	// Never prune what a running image would keep fresh anyway.
	o.Retention = max(cmp.Or(o.Retention, DefaultRetention), 2*o.MaxAge)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Queue is the scan scheduler.
type Queue struct {
	opts Options
	log  *slog.Logger
	// extractors are the versions a current SBOM records
	// (scanner.Versions); an SBOM recording others is rescanned.
	extractors map[string]int
	// kick wakes idle workers after work was queued; done wakes the
	// control loop after a scan finished.
	kick chan struct{}
	done chan struct{}

	mu sync.Mutex
	// images are replaced, never mutated, once published.
	images  map[string]*imagescan.Image
	targets map[string]Target
	pending []string
	// queued holds the rank (dueAt) of each pending digest.
	queued   map[string]int
	inflight map[string]bool
	db       *match.DB
	dbKey    string
	dbErr    string
	kev      *kev.Catalog
	kevKey   string
	// rematchFailed holds, per digest, the database version a re-match
	// failed with; it is not retried until the database or the image
	// changes.
	rematchFailed map[string]string
	rematching    bool
}

// New returns a queue; Run starts it.
func New(opts Options) *Queue {
	opts = opts.withDefaults()
	q := &Queue{
		opts:       opts,
		log:        opts.Logger,
		extractors: scanner.Versions(opts.Extractors),
		kick:       make(chan struct{}, opts.Workers),
		done:       make(chan struct{}, 1),
		images:     map[string]*imagescan.Image{},
		targets:    map[string]Target{},
		queued:     map[string]int{},
		inflight:   map[string]bool{},

		rematchFailed: map[string]string{},
	}
	return q
}

// Run loads what is stored, then schedules scans until ctx ends.
func (q *Queue) Run(ctx context.Context) error {
	var images []*imagescan.Image
	for wait := time.Second; ; wait = min(2*wait, time.Minute) {
		var err error
		if images, err = imagescan.Load(ctx, q.opts.Store, func(err error) { q.log.Warn("stored scan unreadable; the image will be scanned again", "err", err) }); err == nil {
			break
		}
		q.log.Error("loading stored scans; retrying", "in", wait, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	q.mu.Lock()
	for _, im := range images {
		q.images[im.Digest] = im
	}
	q.mu.Unlock()
	q.refreshDB(ctx)
	q.publish()

	var wg sync.WaitGroup
	defer wg.Wait()
	for range q.opts.Workers {
		wg.Go(func() { q.worker(ctx) })
	}
	poll := time.NewTicker(q.opts.DBPoll)
	defer poll.Stop()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		changed := q.opts.Inventory.Changed()
		ix, _ := q.opts.Inventory.Index()
		next := q.schedule(Targets(ix))
		q.prune(ctx)
		q.startRematch(ctx, &wg)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(time.Until(next), time.Second))
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-q.done:
		case <-timer.C:
		case <-poll.C:
			q.refreshDB(ctx)
		}
	}
}

// schedule records the running targets and queues those due for a scan:
// never scanned first, then retries, then stale ones. It returns when the
// next target falls due.
func (q *Queue) schedule(targets []Target) time.Time {
	now := q.opts.Now()
	next := now.Add(q.opts.MaxAge)
	q.mu.Lock()
	defer q.mu.Unlock()
	q.targets = make(map[string]Target, len(targets))
	type due struct {
		digest string
		rank   int
	}
	var dues []due
	for _, t := range targets {
		q.targets[t.Digest] = t
		if _, queued := q.queued[t.Digest]; queued || q.inflight[t.Digest] {
			continue
		}
		im := q.images[t.Digest]
		at, rank := q.dueAt(im)
		if at.After(now) {
			if at.Before(next) {
				next = at
			}
			continue
		}
		dues = append(dues, due{t.Digest, rank})
	}
	for _, d := range dues {
		q.pending = append(q.pending, d.digest)
		q.queued[d.digest] = d.rank
	}
	// New digests go before retries and rescans already waiting.
	slices.SortStableFunc(q.pending, func(a, b string) int { return cmp.Compare(q.queued[a], q.queued[b]) })
	for range min(len(dues), q.opts.Workers) {
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
	return next
}

// dueAt returns when an image falls due for a scan and its rank among due
// images (0 never scanned, 1 retry, 2 stale).
func (q *Queue) dueAt(im *imagescan.Image) (time.Time, int) {
	switch {
	case im == nil:
		return time.Time{}, 0
	case im.Status.Failures > 0:
		return im.Status.NextAttempt, 1
	case im.SBOM == nil:
		return time.Time{}, 0
	case !maps.Equal(im.SBOM.Extractors, q.extractors):
		return time.Time{}, 2
	}
	return im.SBOM.ScannedAt.Add(q.opts.MaxAge), 2
}

func (q *Queue) worker(ctx context.Context) {
	for {
		q.mu.Lock()
		var d string
		busy := false
		if len(q.pending) > 0 {
			d = q.pending[0]
			q.pending = q.pending[1:]
			delete(q.queued, d)
			// A digest being re-matched is left to the next schedule.
			busy = q.inflight[d]
			if !busy {
				q.inflight[d] = true
			}
		}
		t, running := q.targets[d]
		q.mu.Unlock()
		if busy {
			continue
		}
		if d == "" {
			select {
			case <-ctx.Done():
				return
			case <-q.kick:
				continue
			}
		}
		if running {
			q.scan(ctx, t)
		}
		q.mu.Lock()
		delete(q.inflight, d)
		q.mu.Unlock()
		select {
		case q.done <- struct{}{}:
		default:
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// scan scans one target, stores the SBOM, its match and the status, and
// publishes the result.
func (q *Queue) scan(ctx context.Context, t Target) {
	start := q.opts.Now()
	s, err := q.pull(ctx, t)
	if ctx.Err() != nil {
		return // shutting down: not a failure of the image
	}
	q.mu.Lock()
	prev := q.images[t.Digest]
	db := q.db
	q.mu.Unlock()
	im := &imagescan.Image{Digest: t.Digest}
	if prev != nil {
		*im = *prev
	}
	im.Status = store.ScanStatus{Digest: t.Digest, LastAttempt: start}
	if prev != nil {
		im.Status.LastSuccess = prev.Status.LastSuccess
	}
	if err == nil {
		err = q.opts.Store.PutSBOM(ctx, s)
		if err != nil {
			err = fmt.Errorf("storing the SBOM: %w", err)
		}
	}
	if err != nil {
		im.Status.Failures = 1
		if prev != nil {
			im.Status.Failures = prev.Status.Failures + 1
		}
		im.Status.LastError = truncate(err.Error(), maxErrorLen)
		im.Status.NextAttempt = q.opts.Now().Add(q.backoff(im.Status.Failures))
		q.log.Warn("image scan failed", "digest", t.Digest, "failures", im.Status.Failures, "next", im.Status.NextAttempt, "err", err)
	} else {
		im.Status.LastSuccess = q.opts.Now()
		im.SBOM = imagescan.FactsOf(s)
		im.Match = nil
		if db != nil {
			im.Match = q.matchAndStore(ctx, db, s)
		}
		q.log.Info("image scanned", "digest", t.Digest, "packages", len(s.Packages), "duration", q.opts.Now().Sub(start).Round(time.Millisecond))
	}
	if err := q.opts.Store.PutScanStatus(ctx, im.Status); err != nil {
		q.log.Error("storing a scan status", "digest", t.Digest, "err", err)
	}
	q.mu.Lock()
	q.images[t.Digest] = im
	delete(q.rematchFailed, t.Digest)
	q.mu.Unlock()
	q.publish()
}

// pull opens the image from the first source that works and scans it. The
// SBOM is keyed by the running digest, which for a multi-platform image
// is the index the pods report, not the platform manifest scanned.
func (q *Queue) pull(ctx context.Context, t Target) (*sbom.SBOM, error) {
	var errs []error
	for _, src := range t.Sources {
		kc, kcErr := q.opts.Keychain(ctx, src)
		if kc == nil {
			if kcErr == nil {
				kcErr = errors.New("no keychain")
			}
			errs = append(errs, fmt.Errorf("credentials for %s in %s/%s: %w", src.Ref, src.Cluster, src.Namespace, kcErr))
			continue
		}
		img, err := q.opts.Open(ctx, src.Ref, kc)
		if err != nil {
			if kcErr != nil {
				err = fmt.Errorf("%w (and %w)", err, kcErr)
			}
			errs = append(errs, fmt.Errorf("pulling %s: %w", src.Ref, err))
			continue
		}
		res, err := scanner.Scan(ctx, img, q.opts.Extractors, q.opts.Limits)
		if err != nil {
			errs = append(errs, fmt.Errorf("scanning %s: %w", src.Ref, err))
			continue
		}
		for _, fe := range res.Errors {
			q.log.Warn("file not extracted", "digest", t.Digest, "err", fe)
		}
		res.SBOM.Digest = t.Digest
		return res.SBOM, nil
	}
	if len(errs) == 0 {
		return nil, errors.New("no pull reference: no running container names a repository for this digest")
	}
	return nil, errors.Join(errs...)
}

func (q *Queue) backoff(failures int) time.Duration {
	d := q.opts.RetryMin
	for i := 1; i < failures && d < q.opts.RetryMax; i++ {
		d *= 2
	}
	return min(d, q.opts.RetryMax)
}

// matchAndStore matches s against db and stores the result; a failure to
// store is logged and the match kept in memory, to be stored again by the
// next re-match.
func (q *Queue) matchAndStore(ctx context.Context, db *match.DB, s *sbom.SBOM) *imagescan.Match {
	m, body, err := q.match(ctx, db, s)
	if err == nil {
		err = q.opts.Store.PutMatch(ctx, store.MatchResult{Digest: s.Digest, DBVersion: m.DBVersion, MatchedAt: m.MatchedAt, Findings: body})
	}
	if err != nil {
		q.log.Error("matching an image", "digest", s.Digest, "err", err)
		return nil
	}
	return m
}

// match matches s against db and returns the match and its findings as
// JSON. Packages that could not be evaluated are logged (match.ErrPartial)
// and the rest is still returned.
func (q *Queue) match(ctx context.Context, db *match.DB, s *sbom.SBOM) (*imagescan.Match, []byte, error) {
	findings, err := db.Match(ctx, s)
	if errors.Is(err, match.ErrPartial) {
		q.log.Warn("matching an image", "digest", s.Digest, "err", err)
	} else if err != nil {
		return nil, nil, err
	}
	if findings == nil {
		findings = []match.Finding{}
	}
	body, err := json.Marshal(findings)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding findings: %w", err)
	}
	return &imagescan.Match{DBVersion: db.Version(), MatchedAt: q.opts.Now().UTC(), Findings: findings}, body, nil
}

// refreshKEV reloads the KEV catalog when a new one was imported.
func (q *Queue) refreshKEV(ctx context.Context) {
	src, entries, err := q.opts.Store.KEVEntries(ctx)
	if errors.Is(err, store.ErrNotFound) {
		return
	}
	if err != nil {
		q.log.Error("loading the KEV catalog", "err", err)
		return
	}
	key := src.Version + "\x00" + src.ImportedAt.String() + "\x00" + src.Digest
	q.mu.Lock()
	same := key == q.kevKey
	q.mu.Unlock()
	if same {
		return
	}
	c, err := kev.New(src.Version, src.Released, entries)
	if err != nil {
		q.log.Error("the stored KEV catalog does not load; re-import it", "err", err)
		return
	}
	q.log.Info("KEV catalog loaded", "version", src.Version, "entries", c.Len())
	q.mu.Lock()
	q.kev, q.kevKey = c, key
	q.mu.Unlock()
	q.publish()
}

// refreshDB reloads the vulnerability database when its sources changed.
func (q *Queue) refreshDB(ctx context.Context) {
	q.refreshKEV(ctx)
	sources, err := q.opts.Store.AdvisorySources(ctx)
	if err != nil {
		q.setDBError(fmt.Errorf("listing advisory sources: %w", err))
		return
	}
	var key strings.Builder
	for _, s := range sources {
		fmt.Fprintf(&key, "%s=%s;", s.Name, s.Digest)
	}
	q.mu.Lock()
	same := key.String() == q.dbKey && q.dbErr == ""
	q.mu.Unlock()
	if same {
		return
	}
	if len(sources) == 0 {
		q.mu.Lock()
		q.db, q.dbKey, q.dbErr = nil, "", ""
		q.mu.Unlock()
		return
	}
	db, _, err := match.Load(ctx, q.opts.Store, func(err error) { q.log.Warn("vulnerability database", "err", err) })
	if err != nil {
		q.setDBError(err)
		return
	}
	q.log.Info("vulnerability database loaded", "version", db.Version(), "records", db.Len())
	q.mu.Lock()
	q.db, q.dbKey, q.dbErr = db, key.String(), ""
	q.mu.Unlock()
	q.publish()
}

func (q *Queue) setDBError(err error) {
	q.log.Error("loading the vulnerability database", "err", err)
	q.mu.Lock()
	q.dbErr = err.Error()
	q.mu.Unlock()
	q.publish()
}

// startRematch runs rematch in the background unless it runs already, so
// that a long re-match does not hold up scheduling.
func (q *Queue) startRematch(ctx context.Context, wg *sync.WaitGroup) {
	q.mu.Lock()
	if q.rematching {
		q.mu.Unlock()
		return
	}
	q.rematching = true
	q.mu.Unlock()
	wg.Go(func() {
		// A re-match that stored something publishes, which wakes the
		// loop; one that did nothing must not, or the two would ping-pong.
		q.rematch(ctx)
		q.mu.Lock()
		q.rematching = false
		q.mu.Unlock()
	})
}

// rematch matches every stored SBOM whose latest match used another
// database version, reading the SBOM from the store: no image is pulled.
func (q *Queue) rematch(ctx context.Context) {
	q.mu.Lock()
	db := q.db
	var todo []string
	if db != nil {
		for d, im := range q.images {
			if im.SBOM != nil && !q.inflight[d] && q.rematchFailed[d] != db.Version() && (im.Match == nil || im.Match.DBVersion != db.Version()) {
				todo = append(todo, d)
			}
		}
	}
	q.mu.Unlock()
	if len(todo) == 0 {
		return
	}
	slices.Sort(todo)
	start := q.opts.Now()
	matched := 0
	for chunk := range slices.Chunk(todo, rematchBatchSize) {
		if ctx.Err() != nil {
			return
		}
		matched += q.rematchBatch(ctx, db, chunk)
	}
	if matched == 0 {
		// Nothing changed (the store is failing): publishing would wake
		// the loop and retry at once.
		return
	}
	q.log.Info("re-matched stored SBOMs", "images", matched, "of", len(todo), "db", db.Version(), "duration", q.opts.Now().Sub(start).Round(time.Millisecond))
	q.publish()
}

// prune forgets the images no pod runs whose last scan or attempt is older
// than the retention, in the store and in memory.
func (q *Queue) prune(ctx context.Context) {
	cutoff := q.opts.Now().Add(-q.opts.Retention)
	q.mu.Lock()
	var old []string
	for d, im := range q.images {
		if _, queued := q.queued[d]; queued || q.inflight[d] {
			continue
		}
		if _, running := q.targets[d]; running {
			continue
		}
		last := im.Status.LastAttempt
		if im.SBOM != nil && im.SBOM.ScannedAt.After(last) {
			last = im.SBOM.ScannedAt
		}
		if last.Before(cutoff) {
			old = append(old, d)
		}
	}
	q.mu.Unlock()
	if len(old) == 0 {
		return
	}
	if err := q.opts.Store.DeleteScans(ctx, old); err != nil {
		q.log.Error("pruning the scans of images no longer running", "images", len(old), "err", err)
		return
	}
	q.mu.Lock()
	for _, d := range old {
		delete(q.images, d)
	}
	q.mu.Unlock()
	q.log.Info("pruned the scans of images no longer running", "images", len(old), "retention", q.opts.Retention)
	q.publish()
}

// rematchBatchSize is the number of SBOMs re-matched between two writes:
// the matches of a batch are stored in one transaction.
const rematchBatchSize = 100

// rematchBatch re-matches the SBOMs of digests and stores their matches in
// one transaction; it returns how many it stored. The digests are marked
// in flight meanwhile, so no worker rescans them underneath. A digest that
// cannot be re-matched is not tried again with the same database.
func (q *Queue) rematchBatch(ctx context.Context, db *match.DB, digests []string) int {
	q.mu.Lock()
	mine := make([]string, 0, len(digests))
	for _, d := range digests {
		if !q.inflight[d] {
			q.inflight[d] = true
			mine = append(mine, d)
		}
	}
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		for _, d := range mine {
			delete(q.inflight, d)
		}
		q.mu.Unlock()
	}()
	failed := func(d string, err error) {
		q.log.Error("re-matching an image", "digest", d, "db", db.Version(), "err", err)
		q.mu.Lock()
		q.rematchFailed[d] = db.Version()
		q.mu.Unlock()
	}
	var (
		results []store.MatchResult
		matches []*imagescan.Match
		facts   []*imagescan.Facts
	)
	for _, d := range mine {
		s, err := q.opts.Store.SBOM(ctx, d)
		if err != nil {
			failed(d, fmt.Errorf("reading its SBOM: %w", err))
			continue
		}
		m, body, err := q.match(ctx, db, s)
		if err != nil {
			failed(d, err)
			continue
		}
		results = append(results, store.MatchResult{Digest: d, DBVersion: m.DBVersion, MatchedAt: m.MatchedAt, Findings: body})
		matches = append(matches, m)
		facts = append(facts, imagescan.FactsOf(s))
	}
	if len(results) == 0 {
		return 0
	}
	stored := make([]bool, len(results))
	if err := q.opts.Store.PutMatches(ctx, results); err == nil {
		for i := range stored {
			stored[i] = true
		}
	} else {
		// One bad match must not hold up the batch: store them one by one.
		q.log.Warn("storing re-matches as a batch; storing them one by one", "images", len(results), "err", err)
		for i, r := range results {
			if err := q.opts.Store.PutMatch(ctx, r); err != nil {
				failed(r.Digest, fmt.Errorf("storing its match: %w", err))
				continue
			}
			stored[i] = true
		}
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for i, r := range results {
		prev := q.images[r.Digest]
		if !stored[i] || prev == nil {
			continue
		}
		im := *prev
		// The SBOM matched is the stored one, whatever memory held (another
		// replica may have rescanned the image).
		im.SBOM, im.Match = facts[i], matches[i]
		q.images[r.Digest] = &im
		n++
	}
	return n
}

// publish hands a view of every known image to Options.Publish.
func (q *Queue) publish() {
	q.mu.Lock()
	images := slices.Collect(maps.Values(q.images))
	s := imagescan.Scheduler{Running: true, MaxAge: q.opts.MaxAge, DBError: q.dbErr, KEV: q.kev}
	if q.db != nil {
		s.DBVersion = q.db.Version()
	}
	q.mu.Unlock()
	q.opts.Publish(imagescan.NewView(images, s))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
