// Package netpolgen suggests least-privilege NetworkPolicies from the
// traffic a cluster used, and simulates proposed policies against that
// traffic (issue 6, question 9's suggestions).
//
//	res, err := netpolgen.Generate(ctx, ix, set, netpolgen.Options{Namespace: "shop"})
//	res.WriteYAML(os.Stdout)            // multi-document YAML for kubectl apply
//	res.Suggestions[i].Policy           // networking.k8s.io/v1 object
//	rep, err := netpolgen.Simulate(ctx, ix, res.Policies(), set, netpolgen.SimOptions{Mode: netpolgen.ModeAdd})
//	rep.Broken                          // used flows the proposal would deny
//	rep.Paths                           // allowed paths closed, narrowed, opened
//
// Generate builds, for each workload in scope, one policy isolating both
// directions whose pod selector is the smallest set of the workload's pod
// template labels that selects no other workload of its namespace; its
// rules allow exactly the observed ports from and to each peer: a workload
// (its own selector, with a namespace selector across namespaces) or an
// outside address (a /32 or /128 ipBlock, grouped into one prefix beyond
// Options.MaxAddresses). A workload of the host network is its node, as
// internal/netpol sees it: as a peer it is the ipBlocks of its running
// pods' host IPs (no rule, and a warning, when none reports one), and it
// gets no policy of its own (Result.HostNetwork), since none could select
// it. A selector that cannot tell workloads apart
// selects them all, and the policy then allows the traffic of all of
// them, so no generated policy blocks a flow it has seen. DNS is ordinary
// traffic: it is allowed only when observed, and a workload with egress
// but no DNS flow gets a warning.
//
// Simulate evaluates the proposal with internal/netpol, either added to
// the cluster's policies (as kubectl apply would) or replacing them, and
// compares the allowed-path matrices. docs/netpol-suggestions.md describes
// the choices and the limits.
package netpolgen
