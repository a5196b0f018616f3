// Package netpaths answers question 9, which network paths are allowed but
// unused: it compares the paths the NetworkPolicies allow (a netpol.Grid
// or netpol.Matrix of a cluster or a namespace) with the traffic known to have been used
// (the flows.Set the inventory index carries) and sorts every allowed path
// into allowed-and-used, allowed-but-unused (the answer) and, for traffic
// the policies do not allow, used-but-denied (a misconfiguration, or an
// attack).
//
// # What it reports
//
//   - Items: one per workload that some NetworkPolicy selects (for
//     ingress, egress or both) and that has allowed paths left unused: its
//     paths grouped by direction, peer namespace and port sets, each with
//     the unused remainder of its ports, named factors and a score; the
//     workload's score is the sum of its paths' scores. Workloads are
//     ranked by score, then by reference.
//   - Unprotected: the workloads no policy selects in either direction.
//     Everything is allowed to and from them, so their paths are counted,
//     not listed. Workloads of the host network are among them, marked
//     HostNetwork: no NetworkPolicy can select them (see below).
//   - Denied: flow records the policies do not allow, most frequent first.
//   - Usage: the observation window and the confidence it gives.
//
// A path between two workloads that policies select shows twice: as
// egress of its source and as ingress of its destination. A workload's
// paths to itself (between its own pods) are left out.
//
// # The host network and the cluster's nodes
//
// internal/netpol treats a workload of the host network as its node: no
// policy selects it, selectors never match it, and its traffic is its
// node's addresses, which are outside addresses. Question 9 follows it and
// folds such workloads into the cluster's nodes:
//
//   - The node addresses the inventory knows (Node objects' InternalIP and
//     ExternalIP, the host IPs of pods, the pod IPs of host-network pods)
//     are a peer of their own per outside region they fall in: "cluster
//     nodes in anywhere else", "cluster nodes in 10.0.0.0/16" (Peer.Nodes,
//     with the host-network workloads on them). The rest of the region is
//     the region's path (Peer.WithoutNodes); a region of node addresses
//     only has no such rest. Both allow the same ports, as the policies
//     cannot tell them apart, but traffic to a node is not traffic to the
//     internet: a nodes peer weighs Weights.Nodes, not Internet.
//   - A host-network workload is never a peer or an item: its cells in the
//     matrix are its nodes' (netpol), so its paths are the nodes peers'
//     paths. A flow to or from a node's address counts for the nodes peer
//     of its region; a flow naming a host-network workload counts for the
//     nodes peers of its running pods' addresses, where the policies allow
//     it (none when no running pod reports an address). Either way the
//     same traffic makes the same path used.
//   - It is listed in Unprotected with HostNetwork set, without path
//     counts (its paths are counted on the nodes peers), and with the
//     denied flow records that name it.
//
// # A pod and its own node
//
// Traffic between a pod and its own node is always allowed
// (internal/netpol), but a node's address stays an outside address in a
// region shared by every workload, so the matrix's cell does not say so:
// readFlows asks Matrix.OwnNode of every record between a workload and an
// outside address. Such a record is allowed, never denied, whatever its
// port; on a port the cell allows it counts for the workload's path to
// the nodes peer of the address's region (never for the rest of the
// region, nor for other workloads), and on another port for no path. A
// record naming a host-network workload on the workload's node is allowed
// by its cell. A nodes peer whose addresses are all a workload's own
// nodes' (Matrix.NodeAddrs: a cluster of one node, an ipBlock of its
// node's /32) is no path of that workload: no policy could close it, so
// it is neither counted nor listed.
//
// # Ranking
//
// A path's score is a product of factors, each named with its reason, as
// internal/risk ranks vulnerable workloads: the peer (the internet 10,
// private addresses outside the cluster 3, the cluster's nodes 3, another
// namespace 3, the same namespace 1), sensitive ports among the unused ones 2 (SSH, etcd,
// databases, the kubelet, the API server port; SensitivePorts), 443 or
// 6443 to an address of the Kubernetes API server 3, every port of a
// protocol 1.5, and the number of peer workloads grouped into the path
// (1 + log10 n). The weights are in Weights.
//
// # Confidence
//
// A path can be called unused only as far as the window of observation
// goes: under 24 hours the confidence is low (and a note says that short
// windows overstate unused paths: daily and weekly jobs have not run yet),
// under 7 days medium, otherwise high. With no flows at all (no node agent
// reports flows, no flow log is imported), usage is unknown: the answer
// still ranks the allowed paths and lists the unprotected workloads, marks
// every path "unknown" and says so, and never calls a path unused.
//
// # Scale
//
// Analyze reads the allowed paths once, source by source (Matrix.Rows of
// a netpol.Grid, which computes them a block of sources at a time), and
// looks up one cell per flow record (NodeOf, Allowed); no per-flow Query.
// Paths are grouped and scored as they stream by, on a goroutine of their
// own so that the grid computes its next block meanwhile, and only the
// best MaxPaths of each workload are kept and described (two goroutines),
// so memory grows with workloads and listed paths, not with pairs of
// workloads. The descriptions share what recurs: the details of factors,
// the workloads a peer lists, outside regions.
// BenchmarkUnusedPaths2000 (2,000 workloads, 200 namespaces, 3,000
// policies, 20,000 flow records) measures the whole comparison, engine
// and grid included: about 0.1 s and 47 MB of heap at its peak on 2
// cores; BenchmarkUnusedPaths2000Open, where all 4 million pairs are
// allowed paths, about 0.5 s.
//
// At 10,000 workloads (synth.Default10k: 1.2 million allowed paths, 9,400
// items) the whole unused-paths answer takes about 0.25–0.3 s, of which
// 0.1 s compiles the policies, 0.1 s computes the grid (the comparison
// runs beside it) and 0.02 s describes the items; the answer holds about
// 22 MB of heap (40 MB of JSON).
// Partial answers without any path, for internal/answer's last-resort
// bound on workloads (the time grows with their square).
package netpaths
