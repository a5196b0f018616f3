// Package netpol evaluates Kubernetes NetworkPolicies (networking.k8s.io/v1)
// on the inventory: which connections between workloads, and between
// workloads and outside addresses, the policies of a cluster allow. It is
// the static half of question 9 ("which paths are open but unused"); the
// comparison with observed flows, the unused-paths answer, suggested
// policies and the `ask reachable` command are thin layers on top of it.
//
// # API
//
//	e, err := netpol.New(ctx, ix, netpol.Options{Cluster: "prod"}) // once per index
//	e.Problems()                     // what the engine cannot read in the policies
//	e.Isolation(ref)                 // the policies selecting a workload, per direction
//	from, _ := e.ParseEndpoint("shop/frontend") // NAMESPACE/[KIND/]NAME, IP or CIDR
//	to, _ := e.ParseEndpoint("10.0.0.0/8")
//	v, _ := e.Query(netpol.Connection{From: from, To: to, Port: 443, Protocol: "TCP"})
//	v.Allowed; v.Egress; v.Ingress  // per side: isolated?, selecting policies, allowing rules, reason
//	m, _ := e.Matrix(ctx, netpol.Scope{Namespace: "shop"}) // Scope{} for the whole cluster
//	for p := range m.Paths() { m.Nodes()[p.From], m.Nodes()[p.To], p.Ports }
//	g, _ := e.Grid(netpol.Scope{})   // the same paths, block by block
//	g.Rows(ctx, func(from int, paths []netpol.Path) error { … })
//
// For `ask reachable`: ParsePort reads "PORT[/PROTO]" (a name resolves
// with NamedPort), ParseEndpoint the ends, Query answers; Verdict is the
// `-o json` document (its "allowed" boolean and, per side, the deciding
// policies and rules). For flows: EndpointFor turns an observed address
// into the workload whose running pod holds it, or an outside address (a
// node's address among them);
// Matrix.NodeOf finds its node and Matrix.Allowed(from, to) the ports the
// path allows, so allowed-and-used, allowed-but-unused and
// used-but-denied are set operations on a matrix; Matrix.OwnNode(w, addr)
// says whether a node's address is workload w's own node (always allowed,
// whatever the cell of its region says) and Matrix.NodeAddrs(w) lists
// them. Node.IngressIsolated
// and EgressIsolated name the workloads no policy covers. Options.Policies
// replaces the cluster's policies with a proposed set, so a simulation
// ("which used flows would these policies break?") is New with the
// proposal and a lookup per flow. A Grid has the nodes, NodeOf and
// Allowed of a Matrix without holding its cells: Rows hands out every
// path source by source, computing a block of source classes at a time,
// and Allowed computes one cell from the rules of its ends; question 9
// reads a cluster that way. Verdicts, problems, port sets and matrix
// nodes carry JSON tags; Example shows a verdict's JSON.
//
// # Semantics
//
// The engine follows the Kubernetes documentation and API reference:
//
//   - A pod is isolated for a direction only when some policy of its
//     namespace selects it for that direction (never a pod of the host
//     network: see below); a direction nobody isolates allows
//     everything. A connection is allowed when the source's egress and the
//     destination's ingress both allow it; an outside address has no
//     policies, so its side always allows.
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
//     workload are alike, except for their IPs and nodes. A pod that has
//     finished (Succeeded, Failed) holds no IP, as in flows.PodAddrs, and
//     runs on no node.
//
// # A pod and its own node
//
// The documentation says: "When the pod's node is involved, traffic to
// and from that node is always allowed regardless of NetworkPolicy"
// (kubelet probes, node-local agents; Calico and Cilium allow it). The
// engine allows a connection between a workload (not of the host
// network) and its own node in both directions, on every port, whatever
// the policies of either side:
//
//   - A node is the Node object a pod names (status.nodeName, else
//     spec.nodeName), else the Node holding its host IP, else a node known
//     by that address alone. Its addresses are the Node's InternalIP and
//     ExternalIP addresses, the host IPs its pods report and the pod IPs
//     of its pods in the host network. Nodes named differently are never
//     merged.
//   - It is decided per pair: an address is a workload's own node when one
//     of the workload's running pods runs on the node holding that
//     address; a workload of the host network is, when it has a running
//     pod on such a node (it is its node). Workloads known only from
//     manifests (no pods, no host IPs) run on no node and are unaffected,
//     as are finished pods, pods on other nodes, and other pods on the
//     same node (pod to pod traffic is the policies').
//   - Query answers it when the outside end is a single address (a CIDR
//     holding a node's address is answered by the policies) or a workload
//     of the host network: the pod's side allows with no rule, and both
//     sides name the node (Side.OwnNode) and say "W runs on node N:
//     traffic between a pod and its own node is always allowed".
//   - In a matrix, the cells between a workload and a workload of the host
//     network with a running pod on one of its nodes allow every port,
//     both ways (as ipBlocks match a workload when one of its pods' IPs is
//     in the block, one shared node suffices: the cell cannot tell a
//     DaemonSet's pods apart, a flow by address can). A node's address
//     stays outside: EndpointFor and NodeOf give its region, shared by
//     every workload, whose cells stay what the policies allow, and
//     Matrix.OwnNode (Grid.OwnNode, Engine.OwnNode) tells a workload's
//     own node's addresses apart, so a flow between a workload and one of
//     them is allowed whatever its cell says.
//
// # Pods in the host network
//
// The Kubernetes documentation leaves NetworkPolicy behaviour for
// hostNetwork pods undefined. The engine follows what most implementations
// do (Calico, Cilium) and what the rest of Palisade assumes (flows.PodAddrs
// and the agents' flows leave those pods' IPs out, netpolgen writes no
// policy for them): a host-network pod is its node.
//
//   - No policy selects it, whatever its labels: it is never isolated, and
//     its side of a connection always allows. Pod and namespace selectors
//     of peers never match it.
//   - Its IPs are its node's addresses, outside addresses: EndpointFor and
//     ParseEndpoint never turn a node's address into a workload, and
//     ipBlocks match it by those addresses (one of them in the block
//     suffices, as for pod IPs). Named ports never resolve on it, as on
//     any outside address.
//   - Query answers a host-network workload named as an end as its node:
//     its side is outside (Side.Outside and Side.HostNetwork), and the
//     other side evaluates its pods' host IPs, with a reason that says so.
//     When no running pod reports one (manifests), it is an outside
//     address of unknown value, which only rules without from/to match.
//   - In a matrix it stays a workload node, so that flows and simulations
//     naming it find it, marked Node.HostNetwork and never isolated; its
//     cells are what the policies allow to and from its node's addresses,
//     and its paths to outside regions allow everything. A flow naming it
//     and one to its node's address get the same answer (when the ipBlocks
//     treat all its nodes alike, and, with a workload, the workload runs
//     on all of them or none: see above); question 9 (internal/netpaths)
//     counts both on the cluster-nodes peer of the region the node's
//     address is in.
//   - Isolation says HostNetwork for it.
//
// # ipBlock and pod IPs
//
// The API reference says ipBlock is meant for cluster-external addresses,
// and implementations differ on whether it matches pod IPs. The engine
// follows the cyclonus truth tables (docs/test-runs.md in the cyclonus
// corpus: a 192.168.1.0/24 ipBlock lets in the pods whose IPs are in it),
// so an ipBlock matches a workload when one of its pods' IPs is in the
// block (for a host-network workload, its pods' host IPs). Workloads known
// only from manifests have no IPs and are matched by selectors alone. An outside endpoint given as a CIDR that the
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
// labels, host network or not, outside regions of their pod IPs and named
// container ports) form one class, and all work is per class. New
// evaluates each policy's pod selector against the classes of its
// namespace, and each distinct peer once, as bitsets of classes and
// outside regions. Matrix merges the rules of one side that allow the
// same ports into groups, then fills the cells in two passes: per destination, the union of the ingress groups
// each source is in (looked up by the mask of those groups), and per
// source, intersected in, the union of the egress groups each destination
// is in; a side no policy isolates is skipped. Port sets are interned, so
// a cell is 4 bytes: 16 MB for 2,000 classes. Own nodes are per workload,
// not per class: New lists, per workload, the workloads of the host
// network sharing one of its nodes (and the reverse), which Matrix and
// Grid lay over the cells of the classes; that grows with those pairs,
// not with the pods. BenchmarkMatrix2000 (2,000
// workloads, 200 namespaces, 3,000 policies) takes about 0.1 s and 50 MB
// of heap; BenchmarkMatrix2000Dense, with 3,000 varied policies, about
// 0.4 s and 90 MB.
//
// A Matrix grows with the square of the classes: 400 MB at 10,000. Grid
// computes the same cells in blocks of source classes (gridBlockBytes of
// cells, 8 MB: about 200 rows at 10,000 classes) and forgets each block
// once its rows are handed out. It keeps, per class, the rule groups of
// the policies selecting it as lists of the rules' peer sets (not merged
// into a bitset per group, which would again take a bit per pair), so
// its memory is the classes times their rule groups, plus one block. Per
// block, the ingress pass goes destination by destination over 64-bit
// words of source classes, writing only the cells some group allows (or
// every cell of a destination no policy isolates), and the egress pass
// goes source by source over the words of non-empty cells only; rows are
// then expanded from classes to workloads. A class whose workloads are
// not contiguous in workload order (classes are numbered by their first
// workload, and each lies in one namespace) keeps its row, as paths,
// until its last workload is handed out. At 10,000 workloads
// (synth.Default10k) Rows visits the 1.2 million allowed paths in about
// 0.1 s of its own.
package netpol
