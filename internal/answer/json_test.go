package answer

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagetrust"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/ownership"
	"github.com/palisade-project/palisade/internal/privilege"
)

// tricky exercises every escaping rule of encoding/json.
const tricky = "<a href=\"x\">&amp;\\ \n\r\t\b\f\x01\x1f\x7f é日本 \u2028\u2029 \xff\xfe end"

// fill sets every exported field of v, recursively, to a non-zero value
// built from s, so that a field without an appender shows up.
func fill(v reflect.Value, s string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(-7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 25, 19, 54, 38, 877126746, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), s)
			}
		}
	case reflect.Slice:
		sl := reflect.MakeSlice(v.Type(), 2, 2)
		fill(sl.Index(0), s)
		fill(sl.Index(1), "second "+s)
		v.Set(sl)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), s)
		v.Set(p)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range []string{"zeta", s, "alpha"} {
			kv, ev := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
			fill(kv, k)
			fill(ev, k)
			m.SetMapIndex(kv, ev)
		}
		v.Set(m)
	default:
		panic("fill: no value for " + v.Type().String())
	}
}

type appender interface {
	AppendJSON([]byte) ([]byte, error)
}

func checkAppend(t *testing.T, name string, v appender) {
	t.Helper()
	want, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("%s: json.Marshal: %v", name, err)
	}
	got, err := v.AppendJSON([]byte("prefix"))
	if err != nil {
		t.Fatalf("%s: AppendJSON: %v", name, err)
	}
	if !bytes.Equal(append([]byte("prefix"), want...), got) {
		t.Errorf("%s: AppendJSON differs from json.Marshal:\n got %s\nwant prefix%s", name, got, want)
	}
}

func filled[T any](s string) *Answer[T] {
	var a Answer[T]
	fill(reflect.ValueOf(&a).Elem(), s)
	return &a
}

// AppendJSON writes what json.Marshal writes: for every item type with
// every field set, with every field empty, and for real answers.
func TestAppendJSONMatchesMarshal(t *testing.T) {
	for _, s := range []string{tricky, "", "plain"} {
		checkAppend(t, "image-sources filled", filled[imagetrust.Item](s))
		checkAppend(t, "privileged filled", filled[privilege.Item](s))
		checkAppend(t, "exposed filled", filled[exposure.Item](s))
		checkAppend(t, "owners filled", filled[ownership.Item](s))
		// A type without an appender goes through json.Marshal.
		checkAppend(t, "other filled", filled[struct {
			A string `json:"a"`
			B []int  `json:"b,omitempty"`
		}](s))
	}
	checkAppend(t, "image-sources empty", &Answer[imagetrust.Item]{Items: []imagetrust.Item{{}}})
	checkAppend(t, "privileged empty", &Answer[privilege.Item]{Items: []privilege.Item{{}}, Filter: Filter{Namespace: "n"}})
	checkAppend(t, "exposed empty", &Answer[exposure.Item]{Items: []exposure.Item{{Via: []exposure.Via{{}}}}, Unmatched: []exposure.Unmatched{{}}, Filter: Filter{Cluster: "c"}})
	checkAppend(t, "owners empty", &Answer[ownership.Item]{Items: []ownership.Item{}, Notes: []string{}, Summary: map[string]int{}})

	ix := inventory.New(twoClusters())
	e, err := NewEngine(Config{TrustedRegistries: []string{"ghcr.io/acme"}, ClusterNotes: map[string]string{"edge": "edge & <others>"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range Questions {
		for _, f := range []Filter{{}, {Cluster: "edge"}, {Cluster: "nowhere"}} {
			a, err := e.Ask(ix, q.Name, f)
			if err != nil {
				t.Fatal(err)
			}
			checkAppend(t, q.Name, a.(appender))
		}
	}
}

func TestAppendJSONRejectsWhatMarshalRejects(t *testing.T) {
	a := &Answer[ownership.Item]{GeneratedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := json.Marshal(a); err == nil {
		t.Fatal("json.Marshal accepted year 10000")
	}
	if _, err := a.AppendJSON(nil); err == nil {
		t.Error("AppendJSON accepted year 10000")
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", tricky, "plain", "\u2028", "\xed\xa0\x80", "\U0010ffff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}
