// Package netpol evaluates Kubernetes NetworkPolicies (networking.k8s.io/v1)
// on the inventory: which connections between workloads, and between
// workloads and outside addresses, the policies of a cluster allow. It is
// the static half of question 9 ("which paths are open but unused"); the
// comparison with observed flows, the unused-paths answer, suggested
// policies and the `ask reachable` command are thin layers on top of it.
//
// # API
//
//	e, err := netpol.New(ctx, ix, netpol.Options{Cluster: "prod"})  // compile once per index
//	e.Problems()                    // what the policies say that the engine cannot read
//	e.Isolation(ref)                // the policies selecting a workload, per direction
//	from, _ := e.ParseEndpoint("shop/frontend")   // NAMESPACE/[KIND/]NAME, IP or CIDR
//	to, _ := e.ParseEndpoint("10.0.0.0/8")
//	v, _ := e.Query(netpol.Connection{From: from, To: to, Port: 443, Protocol: "TCP"})
//	v.Allowed; v.Egress; v.Ingress // each side: isolated?, selecting policies, allowing rules
//	m, _ := e.Matrix(ctx, netpol.Scope{Namespace: "shop"})  // or Scope{} for the cluster
//	for p := range m.Paths() { m.Nodes()[p.From], m.Nodes()[p.To], p.Ports }
//	m.Allowed(i, j); m.NodeOf(endpoint)   // look up one path, e.g. for an observed flow
//
// Options.Policies replaces the cluster's policies with a proposed set, so
// a simulation ("which used flows would these policies break?") is New
// with the proposal and a Query or Matrix per flow. Verdicts, sides,
// problems, port sets and matrix nodes carry JSON tags for `-o json`.
//
// # Semantics
//
// The engine follows the Kubernetes documentation and API reference:
//
//   - A pod is isolated for a direction only when some policy of its
//     namespace selects it for that direction; a direction nobody isolates
//     allows everything. A connection is allowed when the source's egress
//     and the destination's ingress both allow it; an outside address has
//     no policies, so its side always allows.
//   - policyTypes defaults to Ingress, plus Egress when the policy has
//     egress rules. Rules of a direction not in policyTypes are ignored.
//   - A peer with podSelector alone selects pods of the policy's own
//     namespace; namespaceSelector alone every pod of the matching
//     namespaces; both together the matching pods of the matching
//     namespaces. A rule without from/to matches every peer, in the cluster
//     or not; a rule without ports, every port and protocol. Selectors pick
//     pods only, never outside addresses.
//   - Namespaces carry kubernetes.io/metadata.name=<name> even when the
//     input lacks it (or has no Namespace object), as the API server sets it.
//   - Ports: numbers, endPort ranges and protocols TCP, UDP and SCTP (TCP
//     when unset); a protocol without a port is every port of it. A named
//     port resolves against the containers of the destination (ingress:
//     the selected pod; egress: the pod connected to) by name and
//     protocol, and never matches an outside address.
//   - Egress to the API server and DNS is ordinary traffic: nothing is
//     allowed implicitly.
//   - Workloads stand for their pods: labels and container ports come from
//     the pod template (as the inventory matches Services), so answers are
//     the same from manifests and from a live cluster. All pods of a
//     workload are alike, except for their IPs.
//
// # ipBlock and pod IPs
//
// The API reference says ipBlock is meant for cluster-external addresses,
// and implementations differ on whether it matches pod IPs. The engine
// follows the cyclonus truth tables (docs/test-runs.md in the cyclonus
// corpus: a 192.168.1.0/24 ipBlock lets in the pods whose IPs are in it),
// so an ipBlock matches a workload when one of its pods' IPs is in the
// block. Workloads known only from manifests have no IPs and are matched
// by selectors alone. An outside endpoint given as a CIDR that the
// policies' ipBlocks cut into regions treated differently is answered per
// region (Verdict.Parts); Allowed then means allowed for every address.
//
// # Invalid policies
//
// A live API server rejects invalid NetworkPolicies, but manifests may
// hold them. The engine reports each unreadable part as a Problem (policy,
// field, message, effect) and never fails or panics on one. It treats bad
// parts conservatively, so that nothing it cannot read opens a path:
//
//   - a peer with an invalid selector, an unparsable cidr or except, no
//     selector at all, or ipBlock mixed with selectors matches nothing;
//   - a port entry with an unknown protocol, a port outside 1-65535, or a
//     bad endPort matches nothing (a rule whose ports all fail allows
//     nothing; it does not become "all ports");
//   - an invalid podSelector of the policy itself selects every pod of the
//     namespace for the policy's directions and allows nothing: the
//     namespace is isolated rather than silently left open;
//   - policyTypes with no valid entry isolates both directions;
//   - things whose meaning is clear are reported and read as written (an
//     except outside its cidr, a lower-case protocol).
//
// Every Verdict lists the problems of the policies that took part in it,
// so an answer that rests on an unreadable policy says so.
//
// # Scale
//
// Workloads that no policy can tell apart (same namespace, template
// labels, outside regions of their pod IPs and named container ports)
// form one class, and all work is per class. New evaluates each policy's
// pod selector against the classes of its namespace and each distinct
// peer once, as bitsets of classes and outside regions. Matrix then merges,
// per destination, the ingress rules allowing the same ports into one
// bitset of sources, and per source the egress rules with the same ports
// into one bitset of destinations; a cell is the intersection of the two
// unions, memoized by which bitsets hold the pair. Port sets are interned,
// so a cell is 4 bytes: a cluster of 2,000 workloads takes 16 MB.
package netpol
