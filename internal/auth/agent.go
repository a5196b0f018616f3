package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// FleetTokenPrefix starts the names of agent tokens that may report for
// any node of their cluster: one Secret serves a whole DaemonSet. Other
// agent tokens are named after the one node they report for.
const FleetTokenPrefix = "fleet-"

// ServiceAccountPrefix starts the name of a Kubernetes service account
// user, system:serviceaccount:NAMESPACE:NAME.
const ServiceAccountPrefix = "system:serviceaccount:"

// ErrInvalidCredentials is wrapped by authenticators when the credentials
// a request carries are not accepted (401); other errors mean they could
// not be checked.
var ErrInvalidCredentials = errors.New("credentials not accepted")

// Errors of AgentScope.Check.
var (
	ErrOtherCluster = errors.New("report for another cluster")
	ErrOtherNode    = errors.New("report for another node")
)

// AgentScope is what an agent's credentials may report for: the
// observations of one node, or of every node (fleet tokens), of one
// cluster.
type AgentScope struct {
	// Name identifies the credentials in messages and logs: a token's
	// name, or a service account's user name. Never a secret.
	Name string
	// Cluster is the one cluster the credentials may report for.
	Cluster string
	// Node is the one node they may report for; empty means any node.
	Node string
}

// TokenScope returns the scope of a stored agent token: bound to
// cluster, or to serverCluster (the cluster the server watches) when the
// token has none (tokens created before tokens carried a cluster); bound
// to the node it is named after, or to every node when its name starts
// with FleetTokenPrefix.
func TokenScope(name, cluster, serverCluster string) AgentScope {
	s := AgentScope{Name: name, Cluster: cluster, Node: name}
	if s.Cluster == "" {
		s.Cluster = serverCluster
	}
	if strings.HasPrefix(name, FleetTokenPrefix) {
		s.Node = ""
	}
	return s
}

// Check reports whether a report of cluster and node is within the
// scope. Its errors wrap ErrOtherCluster or ErrOtherNode and say what the
// credentials may report for instead.
func (s AgentScope) Check(cluster, node string) error {
	if cluster != s.Cluster {
		return fmt.Errorf("%w: %q may report only for cluster %q, not %q", ErrOtherCluster, s.Name, s.Cluster, clip(cluster))
	}
	if s.Node != "" && node != s.Node {
		return fmt.Errorf("%w: %q may report only for node %q, not %q", ErrOtherNode, s.Name, s.Node, clip(node))
	}
	return nil
}

// clip bounds text from a request before it goes into a message.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// maxClusterLen bounds a cluster name, as the agent report does.
const maxClusterLen = 253

// ValidateCluster checks the cluster name an agent token is bound to:
// 1 to 253 printable characters without spaces.
func ValidateCluster(name string) error {
	if name == "" || len(name) > maxClusterLen {
		return fmt.Errorf("cluster name of %d characters: want 1 to %d", len(name), maxClusterLen)
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("cluster name %q: use printable characters without spaces", name)
		}
	}
	return nil
}

// ParseServiceAccount splits "NAMESPACE/NAME" (how flags name a service
// account) into its parts.
func ParseServiceAccount(s string) (namespace, name string, err error) {
	namespace, name, ok := strings.Cut(s, "/")
	if !ok || namespace == "" || name == "" || strings.ContainsAny(name, "/:") || strings.Contains(namespace, ":") {
		return "", "", fmt.Errorf("service account %q: want NAMESPACE/NAME, e.g. palisade/palisade-agent", s)
	}
	return namespace, name, nil
}

// LooksLikeJWT reports whether a bearer credential has the shape of a
// JSON Web Token (three dot-separated base64url parts, the first a JSON
// object), as Kubernetes service account tokens do. Palisade's own
// secrets never have it.
func LooksLikeJWT(s string) bool {
	if !strings.HasPrefix(s, "eyJ") || strings.Count(s, ".") != 2 || strings.Contains(s, "..") || strings.HasSuffix(s, ".") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
