// Package manifest loads Kubernetes objects from files, directories and
// standard input (multi-document YAML, JSON, List kinds, `kubectl get -o
// yaml` output) into the inventory model. Every input is bounded; a bad
// document produces an error naming the file and document, and the rest of
// the input is still loaded.
package manifest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/palisade-project/palisade/internal/kubemodel"
	"github.com/palisade-project/palisade/internal/model"
)

// Options bound what Load reads. Zero values take the defaults.
type Options struct {
	// Cluster names the cluster the objects are attributed to.
	Cluster string
	// MaxFileBytes caps one file or standard input (default 64 MiB).
	MaxFileBytes int64
	// MaxDocumentBytes caps one YAML or JSON document (default 4 MiB). A
	// List document (kubectl get -o yaml) may be as large as its file; the
	// cap then applies to each of its items.
	MaxDocumentBytes int
	// MaxDocuments caps the documents of the whole input (default 200,000).
	MaxDocuments int
	// Stdin is read for the path "-" (default os.Stdin).
	Stdin io.Reader
}

func (o *Options) setDefaults() {
	if o.Cluster == "" {
		o.Cluster = model.DefaultCluster
	}
	if o.MaxFileBytes == 0 {
		o.MaxFileBytes = 64 << 20
	}
	if o.MaxDocumentBytes == 0 {
		o.MaxDocumentBytes = 4 << 20
	}
	if o.MaxDocuments == 0 {
		o.MaxDocuments = 200_000
	}
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
}

// DocError is a problem with one document (Doc > 0) or a whole file (Doc 0).
type DocError struct {
	File string
	// Doc is the 1-based document number within the file, 0 for the file.
	Doc int
	Err error
}

func (e *DocError) Error() string {
	var s string
	if e.Doc == 0 {
		s = fmt.Sprintf("%s: %v", e.File, e.Err)
	} else {
		s = fmt.Sprintf("%s: document %d: %v", e.File, e.Doc, e.Err)
	}
	// Parser errors quote the input, which may hold terminal escapes.
	return strings.Map(func(r rune) rune {
		if (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, s)
}

func (e *DocError) Unwrap() error { return e.Err }

// Result is what Load read.
type Result struct {
	Snapshot  model.Snapshot
	Files     int
	Documents int
	// Ignored counts documents of kinds Palisade does not model, by kind.
	Ignored map[string]int
	// Errors lists every file or document that could not be loaded.
	Errors []*DocError
	// Duplicates lists objects defined more than once; as with `kubectl
	// apply`, the last definition wins.
	Duplicates []string
}

// ErrLimit is wrapped by errors for input over a configured bound.
var ErrLimit = errors.New("input exceeds limit")

// Load reads every path: a file, a directory (walked recursively for .yaml,
// .yml and .json files), or "-" for standard input. It fails only when the
// context ends or no path can be read at all; problems with single files or
// documents are collected in Result.Errors.
func Load(ctx context.Context, paths []string, opts Options) (*Result, error) {
	opts.setDefaults()
	return load(ctx, opts, func(l *loader) error {
		for _, p := range paths {
			if err := ctx.Err(); err != nil {
				return err
			}
			if p == "-" {
				l.readFile(ctx, "<stdin>", opts.Stdin)
				continue
			}
			if err := l.walk(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// load runs read, which splits the input into documents in order, while a
// pool of workers decodes them; results are applied in input order, so the
// outcome does not depend on scheduling.
func load(ctx context.Context, opts Options, read func(l *loader) error) (*Result, error) {
	l := &loader{
		opts:  opts,
		res:   &Result{Ignored: map[string]int{}},
		seen:  map[model.Key]string{},
		work:  make(chan *pending, 64),
		order: make(chan *pending, 256),
	}
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range l.work {
				p.res = decodeDoc(opts, p.file, p.doc, p.data)
				p.data = nil
				close(p.done)
			}
		}()
	}
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for p := range l.order {
			<-p.done
			l.apply(p)
		}
	}()
	err := read(l)
	close(l.work)
	close(l.order)
	wg.Wait()
	<-applied
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return l.res, nil
}

type loader struct {
	opts Options
	res  *Result
	// seen maps each loaded object's key to its source, to replace
	// duplicates. Only the applying goroutine touches res and seen.
	seen  map[model.Key]string
	work  chan *pending
	order chan *pending
}

// pending is one document (or one file-level error) in input order.
type pending struct {
	file string
	doc  int
	data []byte
	done chan struct{}
	res  docResult
}

// docResult is what decoding one document produced.
type docResult struct {
	objs    []model.Object
	ignored []string
	err     error
}

// submit queues a document for decoding.
func (l *loader) submit(file string, doc int, data []byte) {
	p := &pending{file: file, doc: doc, data: data, done: make(chan struct{})}
	l.order <- p
	l.work <- p
}

// fail queues an error for a file (doc 0) or a document.
func (l *loader) fail(file string, doc int, err error) {
	p := &pending{file: file, doc: doc, done: make(chan struct{}), res: docResult{err: err}}
	close(p.done)
	l.order <- p
}

func (l *loader) apply(p *pending) {
	for _, k := range p.res.ignored {
		l.res.Ignored[k]++
	}
	for _, m := range p.res.objs {
		key := m.ObjectKey()
		source := m.ObjectMeta().Source
		if prev, ok := l.seen[key]; ok {
			l.res.Duplicates = append(l.res.Duplicates, fmt.Sprintf("%s is defined in %s and again in %s; the later definition is used", key, prev, source))
			l.res.Snapshot.Remove(key)
		}
		l.seen[key] = source
		l.res.Snapshot.Add(m)
	}
	if p.res.err != nil {
		l.res.Errors = append(l.res.Errors, &DocError{File: p.file, Doc: p.doc, Err: p.res.err})
	}
}

func (l *loader) walk(ctx context.Context, root string) error {
	info, err := os.Stat(root)
	if err != nil {
		l.fail(root, 0, err)
		return nil
	}
	if !info.IsDir() {
		l.open(ctx, root)
		return nil
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			l.fail(path, 0, err)
			return nil
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if isManifestFile(path) && d.Type().IsRegular() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("walking %s: %w", root, err)
	}
	sort.Strings(files)
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		l.open(ctx, f)
	}
	return nil
}

func (l *loader) open(ctx context.Context, path string) {
	f, err := os.Open(path)
	if err != nil {
		l.fail(path, 0, err)
		return
	}
	defer f.Close()
	l.readFile(ctx, path, f)
}

// readFile splits one input into documents and submits them. It runs on
// the reading goroutine, so Files and Documents need no lock.
func (l *loader) readFile(ctx context.Context, name string, r io.Reader) {
	l.res.Files++
	lr := &io.LimitedReader{R: r, N: l.opts.MaxFileBytes + 1}
	yr := k8syaml.NewYAMLReader(bufio.NewReaderSize(lr, 64<<10))
	for doc := 1; ; doc++ {
		if ctx.Err() != nil {
			return
		}
		data, err := yr.Read()
		if lr.N <= 0 {
			l.fail(name, 0, fmt.Errorf("file larger than %d bytes: %w", l.opts.MaxFileBytes, ErrLimit))
			return
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			l.fail(name, doc, fmt.Errorf("reading: %w", err))
			return
		}
		if len(data) > l.opts.MaxDocumentBytes && !looksLikeList(data) {
			l.fail(name, doc, fmt.Errorf("document of %d bytes is larger than %d: %w", len(data), l.opts.MaxDocumentBytes, ErrLimit))
			continue
		}
		if isBlank(data) {
			continue
		}
		if l.res.Documents >= l.opts.MaxDocuments {
			l.fail(name, doc, fmt.Errorf("more than %d documents: %w", l.opts.MaxDocuments, ErrLimit))
			return
		}
		l.res.Documents++
		l.submit(name, doc, data)
	}
}

// isBlank reports whether a document holds only whitespace and comments.
func isBlank(data []byte) bool {
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' {
			return false
		}
	}
	return true
}

// listKind matches a top-level List kind line in YAML or JSON.
var listKind = regexp.MustCompile(`(?m)^(kind:\s*["']?\w*List["']?\s*$|\s*"kind"\s*:\s*"\w*List")`)

// looksLikeList reports whether an oversized document is a List, whose items
// are then capped one by one. Only the first and last 4 KiB are searched,
// where kubectl puts the kind.
func looksLikeList(data []byte) bool {
	const edge = 4 << 10
	if len(data) <= 2*edge {
		return listKind.Match(data)
	}
	return listKind.Match(data[:edge]) || listKind.Match(data[len(data)-edge:])
}

// typeMeta probes a document's kind without decoding the rest.
type typeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

type list struct {
	Items []json.RawMessage `json:"items"`
}

// decodeDoc decodes one YAML or JSON document. It is safe to call from
// several goroutines.
func decodeDoc(opts Options, file string, doc int, data []byte) docResult {
	js := bytes.TrimSpace(data)
	if len(js) == 0 || js[0] != '{' || !json.Valid(js) {
		var err error
		if js, err = yaml.YAMLToJSON(data); err != nil {
			return docResult{err: fmt.Errorf("invalid YAML: %w", err)}
		}
	}
	if bytes.Equal(bytes.TrimSpace(js), []byte("null")) {
		return docResult{}
	}
	var res docResult
	source := fmt.Sprintf("%s#%d", file, doc)
	res.err = decodeJSON(opts, source, js, 0, &res)
	return res
}

func decodeJSON(opts Options, source string, js []byte, depth int, res *docResult) error {
	var tm typeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return fmt.Errorf("not a Kubernetes object: %w", err)
	}
	if tm.Kind == "" || tm.APIVersion == "" {
		return errors.New("not a Kubernetes object: apiVersion and kind are required")
	}
	if strings.HasSuffix(tm.Kind, "List") {
		var l list
		if err := json.Unmarshal(js, &l); err != nil {
			return fmt.Errorf("%s: %w", tm.Kind, err)
		}
		if l.Items != nil {
			if depth > 0 {
				return errors.New("nested List is not allowed")
			}
			var errs []error
			for i, item := range l.Items {
				if len(item) > opts.MaxDocumentBytes {
					errs = append(errs, fmt.Errorf("item %d: %d bytes is larger than %d: %w", i, len(item), opts.MaxDocumentBytes, ErrLimit))
					continue
				}
				if err := decodeJSON(opts, source, item, depth+1, res); err != nil {
					errs = append(errs, fmt.Errorf("item %d: %w", i, err))
				}
			}
			return errors.Join(errs...)
		}
	}
	obj, err := typed(tm.APIVersion, tm.Kind, js)
	if err != nil {
		return fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	if obj == nil {
		res.ignored = append(res.ignored, tm.Kind)
		return nil
	}
	m, err := kubemodel.Convert(opts.Cluster, source, obj)
	if err != nil {
		return err
	}
	meta := m.ObjectMeta()
	if meta.Name == "" {
		return fmt.Errorf("%s without metadata.name", tm.Kind)
	}
	if err := unrendered(meta); err != nil {
		return err
	}
	if meta.Namespace == "" && m.ObjectKey().Kind != model.KindNamespace && m.ObjectKey().Kind != model.KindNode {
		meta.Namespace = "default"
	}
	res.objs = append(res.objs, m)
	return nil
}

// unrendered rejects objects whose identity still holds template
// placeholders ({{ .Values.x }}, {{uid}}): the API server would refuse them,
// and analysing them would report objects that never exist.
func unrendered(m *model.Meta) error {
	check := func(what, v string) error {
		if strings.Contains(v, "{{") {
			return fmt.Errorf("unrendered template: %s %q holds a {{ }} placeholder; render the template (helm template, kustomize build) first", what, v)
		}
		return nil
	}
	if err := check("metadata.name", m.Name); err != nil {
		return err
	}
	if err := check("metadata.namespace", m.Namespace); err != nil {
		return err
	}
	for k, v := range m.Labels {
		if err := check("label "+k, v); err != nil {
			return err
		}
	}
	return nil
}

// typed decodes js into the API type of kind. It returns nil, nil for kinds
// Palisade does not model. Older API versions of the same kinds decode into
// the current types, whose fields they share (Ingress v1beta1 is converted).
func typed(apiVersion, kind string, js []byte) (any, error) {
	group, _, _ := strings.Cut(apiVersion, "/")
	if !strings.Contains(apiVersion, "/") {
		group = ""
	}
	var obj any
	switch {
	case group == "" && kind == "Pod":
		obj = &corev1.Pod{}
	case group == "" && kind == "Service":
		obj = &corev1.Service{}
	case group == "" && kind == "Namespace":
		obj = &corev1.Namespace{}
	case group == "" && kind == "Node":
		obj = &corev1.Node{}
	case group == "" && kind == "ReplicationController":
		obj = &corev1.ReplicationController{}
	case (group == "apps" || group == "extensions") && kind == "Deployment":
		obj = &appsv1.Deployment{}
	case group == "apps" && kind == "StatefulSet":
		obj = &appsv1.StatefulSet{}
	case (group == "apps" || group == "extensions") && kind == "DaemonSet":
		obj = &appsv1.DaemonSet{}
	case (group == "apps" || group == "extensions") && kind == "ReplicaSet":
		obj = &appsv1.ReplicaSet{}
	case group == "batch" && kind == "Job":
		obj = &batchv1.Job{}
	case group == "batch" && kind == "CronJob":
		obj = &batchv1.CronJob{}
	case (group == "networking.k8s.io" || group == "extensions") && kind == "NetworkPolicy":
		obj = &networkingv1.NetworkPolicy{}
	case group == "networking.k8s.io" && apiVersion == "networking.k8s.io/v1" && kind == "Ingress":
		obj = &networkingv1.Ingress{}
	case (group == "networking.k8s.io" || group == "extensions") && kind == "Ingress":
		var old networkingv1beta1.Ingress
		if err := json.Unmarshal(js, &old); err != nil {
			return nil, err
		}
		return ingressFromV1beta1(&old), nil
	default:
		return nil, nil
	}
	if err := json.Unmarshal(js, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// LoadFS reads every .yaml, .yml and .json file of fsys, as Load does for a
// directory. The demo's embedded environment is loaded this way.
func LoadFS(ctx context.Context, fsys fs.FS, opts Options) (*Result, error) {
	opts.setDefaults()
	return load(ctx, opts, func(l *loader) error {
		return fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || !isManifestFile(path) {
				return ctx.Err()
			}
			f, err := fsys.Open(path)
			if err != nil {
				l.fail(path, 0, err)
				return nil
			}
			defer f.Close()
			l.readFile(ctx, path, f)
			return ctx.Err()
		})
	})
}

func isManifestFile(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}
