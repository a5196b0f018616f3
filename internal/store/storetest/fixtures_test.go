package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

// TestFixturesSetEveryField keeps the round-trip fixtures complete: a field
// added to the model fails here until the fixture sets it, so the stores'
// round trip covers it.
func TestFixturesSetEveryField(t *testing.T) {
	for _, k := range model.AllKinds {
		t.Run(string(k), func(t *testing.T) {
			o := FullObject("c", k, "ns", "n")
			if got := o.ObjectKey().Kind; got != k {
				t.Errorf("fixture has kind %s", got)
			}
			if o.ObjectKey().Namespace == "" {
				// Cluster-scoped: the one field that must stay empty.
				o.ObjectMeta().Namespace = "set-for-this-check"
			}
			checkSet(t, string(k), reflect.ValueOf(o))
		})
	}
}

var timeType = reflect.TypeFor[time.Time]()

func checkSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			t.Errorf("%s is nil", path)
			return
		}
		// A pointer to a scalar is set when it is non-nil: zero is a value.
		if e := v.Elem(); e.Kind() == reflect.Struct {
			checkSet(t, path, e)
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if v.Interface().(time.Time).IsZero() {
				t.Errorf("%s is zero", path)
			}
			return
		}
		for i := range v.NumField() {
			checkSet(t, path+"."+v.Type().Field(i).Name, v.Field(i))
		}
	case reflect.Slice:
		if v.Len() == 0 {
			t.Errorf("%s is empty", path)
		}
		for i := range v.Len() {
			checkSet(t, path+"[]", v.Index(i))
		}
	case reflect.Map:
		if v.Len() == 0 {
			t.Errorf("%s is empty", path)
		}
	default:
		if v.IsZero() {
			t.Errorf("%s is zero", path)
		}
	}
}
