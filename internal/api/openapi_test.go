package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/auth"
)

// spec is the part of docs/openapi.yaml the tests hold the code to.
type spec struct {
	Paths      map[string]map[string]operation `json:"paths"`
	Components struct {
		Schemas map[string]schema `json:"schemas"`
	} `json:"components"`
}

type operation struct {
	Security []map[string]any `json:"security"`
	Role     string           `json:"x-palisade-role"`
}

type schema struct {
	Required   []string          `json:"required"`
	Properties map[string]schema `json:"properties"`
}

func loadSpec(t *testing.T) spec {
	t.Helper()
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var s spec
	if err := yaml.Unmarshal(b, &s); err != nil {
		t.Fatalf("docs/openapi.yaml: %v", err)
	}
	return s
}

// The spec documents exactly the routes the handler serves, with their
// roles.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := loadSpec(t)
	h := newHarness(t)
	var documented []string
	for path, ops := range s.Paths {
		for method, op := range ops {
			pattern := strings.ToUpper(method) + " " + path
			documented = append(documented, pattern)
			req, err := http.NewRequest(strings.ToUpper(method), strings.NewReplacer("{name}", "x").Replace(path), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, got := h.srv.mux.Handler(req); got != pattern {
				t.Errorf("%s is documented but the handler routes it to %q", pattern, got)
			}
			public := op.Security != nil && len(op.Security) == 0
			if public != (op.Role == "") {
				t.Errorf("%s: security %v and x-palisade-role %q disagree", pattern, op.Security, op.Role)
			}
			if op.Role != "" {
				if _, err := auth.ParseRole(op.Role); err != nil {
					t.Errorf("%s: %v", pattern, err)
				}
			}
		}
	}
	var served []string
	for route := range h.srv.metrics.durations {
		if route != routeUnmatched {
			served = append(served, route)
		}
	}
	slices.Sort(documented)
	slices.Sort(served)
	if diff := cmp.Diff(served, documented); diff != "" {
		t.Errorf("routes (-served +documented):\n%s", diff)
	}
	// Roles in the spec are the roles the endpoints enforce.
	for _, e := range endpoints() {
		req := httptest.NewRequest(e.method, e.path, nil)
		_, pattern := h.srv.mux.Handler(req)
		method, path, _ := strings.Cut(pattern, " ")
		if got := s.Paths[path][strings.ToLower(method)].Role; got != string(e.role) {
			t.Errorf("%s: x-palisade-role %q, the handler needs %q", pattern, got, e.role)
		}
	}
}

// Every answer's top-level fields are in the Answer schema, and its
// required fields are always present.
func TestOpenAPIAnswerEnvelope(t *testing.T) {
	env := loadSpec(t).Components.Schemas["Answer"]
	if len(env.Properties) == 0 {
		t.Fatal("no Answer schema in docs/openapi.yaml")
	}
	h := newHarness(t)
	for _, q := range answer.Questions {
		rec := h.do("GET", "/api/v1/questions/"+q.Name+"?cluster=default", h.secrets[auth.RoleViewer], "")
		var top map[string]json.RawMessage
		if err := json.Unmarshal(rec.Body.Bytes(), &top); err != nil {
			t.Fatal(err)
		}
		for k := range top {
			if _, ok := env.Properties[k]; !ok {
				t.Errorf("%s: field %q is not in the Answer schema", q.Name, k)
			}
		}
		for _, k := range env.Required {
			if _, ok := top[k]; !ok {
				t.Errorf("%s: required field %q missing", q.Name, k)
			}
		}
	}
	want := []string{"denied", "filter", "generatedAt", "items", "notes", "question", "summary", "title", "unmatched", "unprotected", "usage"}
	var got []string
	for k := range env.Properties {
		got = append(got, k)
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Answer schema properties (-want +got):\n%s", diff)
	}
}
