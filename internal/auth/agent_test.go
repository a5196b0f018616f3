package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestTokenScope(t *testing.T) {
	tests := []struct {
		name, cluster, server string
		want                  AgentScope
	}{
		{"worker-7", "prod", "default", AgentScope{Name: "worker-7", Cluster: "prod", Node: "worker-7"}},
		// Tokens stored before tokens had a cluster belong to the server's.
		{"worker-7", "", "prod-eu", AgentScope{Name: "worker-7", Cluster: "prod-eu", Node: "worker-7"}},
		{"fleet-agents", "edge", "default", AgentScope{Name: "fleet-agents", Cluster: "edge"}},
		{"fleet-agents", "", "default", AgentScope{Name: "fleet-agents", Cluster: "default"}},
	}
	for _, tt := range tests {
		if got := TokenScope(tt.name, tt.cluster, tt.server); got != tt.want {
			t.Errorf("TokenScope(%q, %q, %q) = %+v, want %+v", tt.name, tt.cluster, tt.server, got, tt.want)
		}
	}
}

func TestAgentScopeCheck(t *testing.T) {
	node := AgentScope{Name: "worker-7", Cluster: "prod", Node: "worker-7"}
	fleet := AgentScope{Name: "fleet-agents", Cluster: "prod"}
	tests := []struct {
		name          string
		scope         AgentScope
		cluster, node string
		want          error
	}{
		{"own node", node, "prod", "worker-7", nil},
		{"another node", node, "prod", "worker-8", ErrOtherNode},
		{"own node name in another cluster", node, "staging", "worker-7", ErrOtherCluster},
		{"no cluster", node, "", "worker-7", ErrOtherCluster},
		{"fleet, any node", fleet, "prod", "worker-8", nil},
		{"fleet, another cluster", fleet, "staging", "worker-8", ErrOtherCluster},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.scope.Check(tt.cluster, tt.node)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Check(%q, %q) = %v, want %v", tt.cluster, tt.node, err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.scope.Name) {
				t.Errorf("error %q does not name the credentials", err)
			}
		})
	}
	// Text from the request is bounded in the message.
	if err := node.Check(strings.Repeat("x", 500), "n"); len(err.Error()) > 300 {
		t.Errorf("error of %d bytes", len(err.Error()))
	}
}

func TestValidateCluster(t *testing.T) {
	for _, ok := range []string{"default", "prod-eu", "gke_acme_europe-west1_prod", "arn:aws:eks:eu-west-1:1234:cluster/prod"} {
		if err := ValidateCluster(ok); err != nil {
			t.Errorf("ValidateCluster(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "two words", "tab\there", "new\nline", strings.Repeat("c", 254)} {
		if err := ValidateCluster(bad); err == nil {
			t.Errorf("ValidateCluster(%q) = nil", bad)
		}
	}
}

func TestParseServiceAccount(t *testing.T) {
	ns, name, err := ParseServiceAccount("palisade/palisade-agent")
	if err != nil || ns != "palisade" || name != "palisade-agent" {
		t.Errorf("ParseServiceAccount = %q, %q, %v", ns, name, err)
	}
	for _, bad := range []string{"", "palisade-agent", "/a", "a/", "a/b/c", "a:b/c", "a/b:c"} {
		if _, _, err := ParseServiceAccount(bad); err == nil {
			t.Errorf("ParseServiceAccount(%q) = nil error", bad)
		}
	}
}

func TestLooksLikeJWT(t *testing.T) {
	secret, _, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	for s, want := range map[string]bool{
		"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln": true,
		secret:                       false,
		"eyJhbGciOiJSUzI1NiJ9.e":     false, // two parts
		"eyJhbGciOiJSUzI1NiJ9..c2ln": false,
		"eyJhbGciOiJSUzI1NiJ9.eyJ9.": false,
		"eyJ a.b.c":                  false,
		"abc.def.ghi":                false,
		"eyJhbGci.eyJzdWIi.c2ln+/==": false, // not base64url
	} {
		if got := LooksLikeJWT(s); got != want {
			t.Errorf("LooksLikeJWT(%q) = %v, want %v", s, got, want)
		}
	}
}
