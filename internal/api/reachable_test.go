package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/palisade-project/palisade/internal/auth"
	"github.com/palisade-project/palisade/internal/model"
)

// netpolSnapshot is smallSnapshot with a policy that lets only the web's
// own namespace reach it on port 80, or, with open, every source (the
// node agent runs in the host network: no selector matches it, only a rule
// without from does).
func netpolSnapshot(open bool) *model.Snapshot {
	snap := smallSnapshot()
	peers := []model.NetworkPolicyPeer{{PodSelector: &model.LabelSelector{}}}
	if open {
		peers = nil
	}
	snap.Add(&model.NetworkPolicy{
		Meta:        model.Meta{Cluster: "default", Namespace: "shop", Name: "web"},
		PodSelector: model.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		PolicyTypes: []string{"Ingress"},
		Ingress:     []model.NetworkPolicyRule{{Peers: peers, Ports: []model.NetworkPolicyPort{{Port: "80"}}}},
	})
	return snap
}

type reachableBody struct {
	Question string `json:"question"`
	Allowed  bool   `json:"allowed"`
	Port     int    `json:"port"`
	Protocol string `json:"protocol"`
	Ingress  struct {
		Isolated bool   `json:"isolated"`
		Reason   string `json:"reason"`
	} `json:"ingress"`
}

func reachablePath(params ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(params); i += 2 {
		q.Add(params[i], params[i+1])
	}
	return "/api/v1/reachable?" + q.Encode()
}

// The verdict follows the current index: a policy edit (a new
// generation) changes the next answer.
func TestReachable(t *testing.T) {
	h := newHarness(t)
	h.inv.set(netpolSnapshot(false))
	ask := func(wantGen string) reachableBody {
		t.Helper()
		rec := h.do("GET", reachablePath("cluster", "default", "from", "ops/node-agent", "to", "shop/Deployment/web", "port", "80/tcp"), h.secrets[auth.RoleViewer], "")
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
		if g := rec.Header().Get(generationHeader); g != wantGen {
			t.Errorf("%s = %q, want %s", generationHeader, g, wantGen)
		}
		var b reachableBody
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
			t.Fatal(err)
		}
		if b.Question != "reachable" || b.Port != 80 || b.Protocol != "TCP" || !b.Ingress.Isolated {
			t.Errorf("answer %+v", b)
		}
		return b
	}
	if b := ask("2"); b.Allowed || !strings.Contains(b.Ingress.Reason, "isolated by shop/web") {
		t.Errorf("before the edit: %+v", b)
	}
	h.inv.set(netpolSnapshot(true))
	if b := ask("3"); !b.Allowed || !strings.Contains(b.Ingress.Reason, "allowed by shop/web ingress[0]") {
		t.Errorf("after the edit: %+v", b)
	}
}

func TestReachableBadInput(t *testing.T) {
	tests := []struct {
		name string
		path string
		msg  string
	}{
		{"unknown workload", reachablePath("cluster", "default", "from", "shop/nope", "to", "shop/web", "port", "80"), `no such workload "shop/nope"`},
		{"bad port", reachablePath("cluster", "default", "from", "ops/node-agent", "to", "shop/web", "port", "0"), "not between 1 and 65535"},
		{"bad protocol", reachablePath("cluster", "default", "from", "ops/node-agent", "to", "shop/web", "port", "80/icmp"), "not TCP, UDP or SCTP"},
		{"bad address", reachablePath("cluster", "default", "from", "300.1.1.1", "to", "shop/web", "port", "80"), "NAMESPACE/NAME"},
		{"no cluster of two", reachablePath("from", "ops/node-agent", "to", "shop/web", "port", "80"), "name one"},
		{"unknown cluster", reachablePath("cluster", "prod", "from", "ops/node-agent", "to", "shop/web", "port", "80"), `cluster "prod" is not in the inventory`},
		{"missing port", reachablePath("cluster", "default", "from", "ops/node-agent", "to", "shop/web"), `"port" is missing`},
		{"unknown parameter", reachablePath("cluster", "default", "from", "a/b", "to", "c/d", "port", "80", "namespace", "x"), `unknown query parameter "namespace"`},
		{"repeated parameter", reachablePath("cluster", "default", "from", "a/b", "from", "c/d", "to", "c/d", "port", "80"), "given 2 times"},
		{"overlong", reachablePath("cluster", "default", "from", strings.Repeat("a", 300), "to", "c/d", "port", "80"), "longer than"},
	}
	h := newHarness(t)
	h.inv.set(netpolSnapshot(false))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := h.do("GET", tt.path, h.secrets[auth.RoleViewer], "")
			if msg := wantError(t, rec, http.StatusBadRequest, codeBadRequest); !strings.Contains(msg, tt.msg) {
				t.Errorf("message %q lacks %q", msg, tt.msg)
			}
		})
	}
}
