// Package objcodec turns inventory objects into the rows that the SQL stores
// (sqlite, postgres) keep, and rows back into objects. It owns the rules both
// stores must agree on: which keys are valid, that the last upsert of a key in
// a batch wins, and the order of keys.
package objcodec

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/palisade-project/palisade/internal/model"
)

// Row is the stored form of one object.
type Row struct {
	Key             model.Key
	UID             string
	ResourceVersion string
	// Body is the JSON encoding of the model object.
	Body []byte
}

// CompareKeys orders keys by cluster, kind, namespace and name, comparing
// bytes: the order Snapshot promises.
func CompareKeys(a, b model.Key) int {
	return cmp.Or(
		cmp.Compare(a.Cluster, b.Cluster),
		cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Namespace, b.Namespace),
		cmp.Compare(a.Name, b.Name),
	)
}

// ValidateKey reports whether k can be stored: it names a cluster, a known
// kind and an object.
func ValidateKey(k model.Key) error {
	if k.Cluster == "" {
		return fmt.Errorf("object %s has no cluster", k)
	}
	if k.Name == "" {
		return fmt.Errorf("object %s has no name", k)
	}
	if _, err := model.NewObject(k.Kind); err != nil {
		return fmt.Errorf("object %s: %w", k, err)
	}
	return nil
}

// isNil reports whether o is nil or a typed nil pointer, on which
// ObjectKey would panic.
func isNil(o model.Object) bool {
	switch v := o.(type) {
	case nil:
		return true
	case *model.Workload:
		return v == nil
	case *model.Service:
		return v == nil
	case *model.Ingress:
		return v == nil
	case *model.NetworkPolicy:
		return v == nil
	case *model.Namespace:
		return v == nil
	case *model.Node:
		return v == nil
	}
	return false
}

// Encode validates o and returns its row.
func Encode(o model.Object) (Row, error) {
	if isNil(o) {
		return Row{}, errors.New("nil object")
	}
	k := o.ObjectKey()
	if err := ValidateKey(k); err != nil {
		return Row{}, err
	}
	body, err := json.Marshal(o)
	if err != nil {
		return Row{}, fmt.Errorf("encoding %s: %w", k, err)
	}
	m := o.ObjectMeta()
	return Row{Key: k, UID: m.UID, ResourceVersion: m.ResourceVersion, Body: body}, nil
}

// EncodeAll encodes objs, keeps the last object of each key and sorts the
// rows by key, so that writers lock rows in one order.
func EncodeAll(objs []model.Object) ([]Row, error) {
	rows := make([]Row, 0, len(objs))
	for i, o := range objs {
		r, err := Encode(o)
		if err != nil {
			return nil, fmt.Errorf("upsert %d: %w", i, err)
		}
		rows = append(rows, r)
	}
	// A stable sort keeps duplicates in input order; the last one wins.
	slices.SortStableFunc(rows, func(a, b Row) int { return CompareKeys(a.Key, b.Key) })
	out := rows[:0]
	for _, r := range rows {
		if n := len(out); n > 0 && out[n-1].Key == r.Key {
			out[n-1] = r
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// SortKeys validates keys and returns them sorted without duplicates.
func SortKeys(keys []model.Key) ([]model.Key, error) {
	out := slices.Clone(keys)
	for i, k := range out {
		if err := ValidateKey(k); err != nil {
			return nil, fmt.Errorf("delete %d: %w", i, err)
		}
	}
	slices.SortFunc(out, CompareKeys)
	return slices.Compact(out), nil
}

// CheckReplace checks the arguments of Store.Replace: every object must
// belong to cluster and have one of kinds.
func CheckReplace(cluster string, kinds []model.Kind, rows []Row) error {
	if cluster == "" {
		return errors.New("replace needs a cluster name")
	}
	for _, k := range kinds {
		if _, err := model.NewObject(k); err != nil {
			return fmt.Errorf("replace: %w", err)
		}
	}
	for _, r := range rows {
		if r.Key.Cluster != cluster {
			return fmt.Errorf("replace of cluster %q got object %s of another cluster", cluster, r.Key)
		}
		if !slices.Contains(kinds, r.Key.Kind) {
			return fmt.Errorf("replace of kinds %v got object %s of another kind", kinds, r.Key)
		}
	}
	return nil
}

// Decode decodes the body of the row stored under key, and checks that the
// object it holds has that key.
func Decode(key model.Key, body []byte) (model.Object, error) {
	o, err := model.NewObject(key.Kind)
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", key, err)
	}
	if err := json.Unmarshal(body, o); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", key, err)
	}
	if got := o.ObjectKey(); got != key {
		return nil, fmt.Errorf("decoding %s: body holds object %s", key, got)
	}
	return o, nil
}
