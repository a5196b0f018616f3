package corpora

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/palisade-project/palisade/internal/answer"
	"github.com/palisade-project/palisade/internal/exposure"
	"github.com/palisade-project/palisade/internal/imagetrust"
	"github.com/palisade-project/palisade/internal/inventory"
	"github.com/palisade-project/palisade/internal/model"
	"github.com/palisade-project/palisade/internal/privilege"
)

// apps lists the application folders of apps/ (a new folder fails the test
// until it is added here).
var apps = []string{"aks-store-demo", "bank-of-anthos", "example-voting-app", "istio-bookinfo", "kubernetes-examples", "online-boutique", "sock-shop"}

// wantLoadErrors lists every file under apps/ that must fail to load, with
// why it is invalid upstream and a fragment the error must contain so the
// user can tell what is wrong. Every other .yaml/.yml/.json file must load
// without error.
//
// Checked and deliberately NOT listed:
// kubernetes-examples/_archived/storage/vitess/vtctld-controller-template.yaml
// is named a template, but its only placeholder ({{backup_flags}}) is inside
// a shell command string: it is a valid ReplicationController the API server
// accepts, so it must load.
var wantLoadErrors = map[string]struct{ reason, errContains string }{
	"kubernetes-examples/_archived/newrelic/newrelic-config-template.yaml": {
		"template: `config: {{config_data}}` makes a flow mapping a map key, which is not valid YAML until rendered", "invalid YAML"},
	"kubernetes-examples/_archived/newrelic-infrastructure/newrelic-config-template.yaml": {
		"template: `config: {{config_data}}`, same as the newrelic one", "invalid YAML"},
	"kubernetes-examples/_archived/storage/vitess/etcd-controller-template.yaml": {
		"template: `replicas: {{replicas}}` and `cell: {{cell}}` are not valid YAML until rendered", "invalid YAML"},
	"kubernetes-examples/_archived/storage/vitess/etcd-service-template.yaml": {
		"template: `cell: {{cell}}` is not valid YAML until rendered", "invalid YAML"},
	"kubernetes-examples/_archived/storage/vitess/vtgate-controller-template.yaml": {
		"template: `replicas: {{replicas}}` is not valid YAML until rendered", "invalid YAML"},
	"kubernetes-examples/_archived/storage/vitess/vttablet-pod-template.yaml": {
		"template: parses as YAML, but metadata.name vttablet-{{uid}} and label values such as {{keyspace}} are invalid, so the API server rejects it", ""},
	"kubernetes-examples/_archived/volumes/fibre_channel/fc.yaml": {
		"fc.lun is the placeholder string `<ADD LUN ID Here>` where the API wants an int32", "lun"},
	"kubernetes-examples/databases/cassandra/image/files/cassandra.yaml": {
		"Cassandra's own configuration file, not a Kubernetes object", "apiVersion and kind are required"},
	"kubernetes-examples/databases/cassandra/java/src/test/resources/cassandra.yaml": {
		"Cassandra's own configuration file (test resources), not a Kubernetes object", "apiVersion and kind are required"},
}

// TestAppsLoad loads each application folder whole: exactly the files of
// wantLoadErrors fail, everything else loads and yields workloads.
func TestAppsLoad(t *testing.T) {
	root := corpusDir(t, "apps")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var onDisk []string
	for _, e := range entries {
		if e.IsDir() {
			onDisk = append(onDisk, e.Name())
		}
	}
	if diff := cmp.Diff(apps, onDisk); diff != "" {
		t.Errorf("application folders differ from the apps list (-want +got):\n%s", diff)
	}
	for _, app := range apps {
		t.Run(app, func(t *testing.T) {
			dir := filepath.Join(root, app)
			res := load(t, dir)
			failed := map[string][]string{}
			for _, e := range res.Errors {
				rel, err := filepath.Rel(root, e.File)
				if err != nil {
					t.Fatal(err)
				}
				rel = filepath.ToSlash(rel)
				failed[rel] = append(failed[rel], e.Error())
			}
			for rel, msgs := range failed {
				if _, ok := wantLoadErrors[rel]; !ok {
					t.Errorf("%s does not load, but it is valid Kubernetes YAML upstream: %s", rel, strings.Join(msgs, "; "))
				}
			}
			for rel, want := range wantLoadErrors {
				if !strings.HasPrefix(rel, app+"/") {
					continue
				}
				msgs, ok := failed[rel]
				clear := ok && strings.Contains(strings.Join(msgs, "; "), want.errContains)
				expect(t, "apps/load/"+rel, clear, "want a load error containing %q (%s), got errors %q", want.errContains, want.reason, msgs)
			}
			ix := inventory.New(&res.Snapshot)
			if n := len(ix.Workloads()); n == 0 {
				t.Errorf("%s yields no workloads", app)
			}
			t.Logf("%s: %d files, %d documents, %d top-level workloads, %d services, %d ingresses, %d load errors, ignored kinds %v",
				app, res.Files, res.Documents, len(ix.Workloads()), len(res.Snapshot.Services), len(res.Snapshot.Ingresses), len(res.Errors), res.Ignored)

			// The same object defined in several files of one input must
			// appear once in the answers.
			seen := map[model.WorkloadRef]int{}
			for _, w := range ix.Workloads() {
				seen[w.Ref()]++
			}
			var dups []string
			for r, n := range seen {
				if n > 1 {
					dups = append(dups, fmt.Sprintf("%s x%d", r, n))
				}
			}
			sort.Strings(dups)
			expect(t, "apps/unique/"+app, len(dups) == 0, "top-level workloads listed more than once: %s", strings.Join(dups, ", "))
		})
	}
	checkGapsSeen(t, "apps/")
}

func newEngine(t testing.TB, cfg answer.Config) *answer.Engine {
	t.Helper()
	e, err := answer.NewEngine(cfg)
	if err != nil {
		t.Fatalf("answer.NewEngine(%+v): %v", cfg, err)
	}
	return e
}

// viaString is the part of a Via the facts below assert.
func viaString(v exposure.Via) string {
	s := v.Kind + " " + v.Name
	if v.Type != "" {
		s += " " + v.Type
	}
	if len(v.Ports) > 0 {
		s += " [" + strings.Join(v.Ports, " ") + "]"
	}
	return s + " -> " + v.Level
}

// exposedByWorkload summarises the exposed answer as workload -> level and
// its vias.
func exposedByWorkload(a *answer.Answer[exposure.Item]) map[string][]string {
	out := map[string][]string{}
	for _, it := range a.Items {
		k := it.Workload.String() + " (" + it.Level + ")"
		for _, v := range it.Via {
			out[k] = append(out[k], viaString(v))
		}
	}
	return out
}

// hostChecks are the checks of question 6 about privilege and host access
// (not the hardening checks allowPrivilegeEscalation and runAsRoot).
var hostChecks = []string{privilege.CheckPrivileged, privilege.CheckHostPID, privilege.CheckHostIPC, privilege.CheckHostNetwork, privilege.CheckHostPath, privilege.CheckCapabilities}

// workloadsWithCheck returns the workloads that have a finding of check.
func workloadsWithCheck(a *answer.Answer[privilege.Item], check string) []string {
	var out []string
	for _, it := range a.Items {
		if slices.ContainsFunc(it.Findings, func(f privilege.Finding) bool { return f.Check == check }) {
			out = append(out, it.Workload.String())
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// checksOf returns the distinct host checks of one workload.
func checksOf(a *answer.Answer[privilege.Item], ref string) []string {
	var out []string
	for _, it := range a.Items {
		if it.Workload.String() != ref {
			continue
		}
		for _, f := range it.Findings {
			if slices.Contains(hostChecks, f.Check) {
				out = append(out, f.Check)
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// untrustedImages lists "workload container image" for every image that is
// not trusted.
func untrustedImages(a *answer.Answer[imagetrust.Item]) []string {
	var out []string
	for _, it := range a.Items {
		if it.Verdict != imagetrust.Trusted {
			out = append(out, fmt.Sprintf("%s %s %s %s", it.Workload.String(), it.Container, it.Image, it.Verdict))
		}
	}
	sort.Strings(out)
	return out
}

func workloadRefs(ix *inventory.Index) []string {
	var out []string
	for _, w := range ix.Workloads() {
		out = append(out, w.Ref().String())
	}
	return out
}

func diff(t *testing.T, what string, want, got any) {
	t.Helper()
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("%s (-want +got):\n%s", what, d)
	}
}

// TestAppsFacts asserts facts read from each application's YAML. Files are
// chosen so that no object is defined twice (see apps/unique in knownGaps).
func TestAppsFacts(t *testing.T) {
	root := corpusDir(t, "apps")
	path := func(p string) string { return filepath.Join(root, filepath.FromSlash(p)) }

	t.Run("online-boutique", func(t *testing.T) {
		ix := loadIndex(t, path("online-boutique/release/kubernetes-manifests.yaml"))
		if n := len(ix.Workloads()); n != 12 {
			t.Errorf("got %d workloads, want the 12 Deployments of the release manifest: %v", n, workloadRefs(ix))
		}
		e := newEngine(t, answer.Config{TrustedRegistries: []string{"us-central1-docker.pkg.dev/online-boutique-ci/microservices-demo"}})
		// frontend-external is the only LoadBalancer; every other Service is
		// ClusterIP.
		diff(t, "exposed", map[string][]string{
			"Deployment/default/frontend (internet)": {"Service frontend-external LoadBalancer [80/TCP] -> internet"},
		}, exposedByWorkload(e.Exposed(ix, answer.Filter{})))
		// Every container runs as UID 1000 with runAsNonRoot, no privilege
		// escalation and no host access.
		if a := e.Privileged(ix, answer.Filter{}); len(a.Items) != 0 {
			t.Errorf("privileged: want no findings in the hardened release manifest, got %+v", a.Items)
		}
		diff(t, "untrusted images", []string{
			"Deployment/default/loadgenerator frontend-check docker.io/library/busybox:1.38.0@sha256:fd8d9aa63ba2f0982b5304e1ee8d3b90a210bc1ffb5314d980eb6962f1a9715d untrusted",
			"Deployment/default/redis-cart redis docker.io/library/redis:alpine untrusted",
		}, untrustedImages(e.ImageSources(ix, answer.Filter{})))
	})

	t.Run("bank-of-anthos", func(t *testing.T) {
		ix := loadIndex(t, path("bank-of-anthos"))
		// Every object carries the labels application, environment, team and
		// tier; team is the owner.
		e := newEngine(t, answer.Config{OwnerKeys: []string{"team"}})
		got := map[string]string{}
		for _, it := range e.Owners(ix, answer.Filter{}).Items {
			if it.Owner == nil {
				got[it.Workload.String()] = "<unowned>"
				continue
			}
			got[it.Workload.String()] = *it.Owner + " from " + it.Source
		}
		diff(t, "owners", map[string]string{
			"StatefulSet/default/accounts-db":       "accounts from workload label team",
			"Deployment/default/contacts":           "accounts from workload label team",
			"Deployment/default/userservice":        "accounts from workload label team",
			"Deployment/default/balancereader":      "ledger from workload label team",
			"StatefulSet/default/ledger-db":         "ledger from workload label team",
			"Deployment/default/ledgerwriter":       "ledger from workload label team",
			"Deployment/default/transactionhistory": "ledger from workload label team",
			"Deployment/default/frontend":           "frontend from workload label team",
			"Deployment/default/loadgenerator":      "loadgenerator from workload label team",
		}, got)
		diff(t, "exposed", map[string][]string{
			"Deployment/default/frontend (internet)": {"Service frontend LoadBalancer [80/TCP] -> internet"},
		}, exposedByWorkload(e.Exposed(ix, answer.Filter{})))
	})

	t.Run("kubernetes-examples", func(t *testing.T) {
		res := load(t, path("kubernetes-examples"))
		ix := inventory.New(&res.Snapshot)
		e := newEngine(t, answer.Config{})
		priv := e.Privileged(ix, answer.Filter{})
		// Read from the YAML: grep privileged/hostNetwork/hostPID/hostIPC/
		// capabilities over kubernetes-examples (the PodSecurityPolicy in
		// _archived/podsecuritypolicy/rbac/policies.yaml is not a workload).
		diff(t, "workloads with privileged containers", []string{
			"DaemonSet/default/flex-ds",              // _archived/volumes/flexvolume/deploy/ds.yaml
			"DaemonSet/default/newrelic-agent",       // _archived/newrelic/newrelic-daemonset.yaml
			"DaemonSet/default/newrelic-infra-agent", // _archived/newrelic-infrastructure/newrelic-infra-daemonset.yaml
			"DaemonSet/default/sysdig-agent",         // _archived/sysdig-cloud/sysdig-daemonset.yaml
			"Deployment/default/nfs-server",          // _archived/volumes/nfs/nfs-server-deployment.yaml
			// Pod/default/nginx of _archived/podsecuritypolicy/rbac/pod_priv.yaml
			// is privileged, but later files define Pod/default/nginx again
			// and, as with kubectl apply, the last definition wins.
			"ReplicationController/default/es",           // _archived/elasticsearch/es-rc.yaml
			"ReplicationController/default/sysdig-agent", // _archived/sysdig-cloud/sysdig-rc.yaml
		}, workloadsWithCheck(priv, privilege.CheckPrivileged))
		diff(t, "hostNetwork workloads", []string{
			"DaemonSet/default/newrelic-agent", "DaemonSet/default/newrelic-infra-agent", "DaemonSet/default/sysdig-agent", "ReplicationController/default/sysdig-agent",
		}, workloadsWithCheck(priv, privilege.CheckHostNetwork))
		diff(t, "hostPID workloads", []string{
			"DaemonSet/default/newrelic-agent", "DaemonSet/default/newrelic-infra-agent", "DaemonSet/default/sysdig-agent", "ReplicationController/default/sysdig-agent",
		}, workloadsWithCheck(priv, privilege.CheckHostPID))
		diff(t, "hostIPC workloads", []string{
			"DaemonSet/default/newrelic-agent", "DaemonSet/default/newrelic-infra-agent",
		}, workloadsWithCheck(priv, privilege.CheckHostIPC))
		// IPC_LOCK, outside the baseline set.
		diff(t, "workloads adding capabilities", []string{
			"ReplicationController/default/es", "ReplicationController/default/es-client", "ReplicationController/default/es-data", "ReplicationController/default/es-master", "StatefulSet/default/cassandra",
		}, workloadsWithCheck(priv, privilege.CheckCapabilities))
		// hostPath: vttablet-{{uid}} is left out, it must not load at all
		// (knownGaps apps/load/...vttablet-pod-template.yaml).
		hostPath := slices.DeleteFunc(workloadsWithCheck(priv, privilege.CheckHostPath), func(s string) bool { return strings.Contains(s, "{{") })
		diff(t, "hostPath workloads", []string{
			"DaemonSet/default/flex-ds", "DaemonSet/default/newrelic-agent", "DaemonSet/default/newrelic-infra-agent", "DaemonSet/default/sysdig-agent",
			"ReplicationController/default/sysdig-agent", "ReplicationController/default/vtctld",
		}, hostPath)
		diff(t, "sysdig-agent DaemonSet host checks", []string{"hostNetwork", "hostPID", "hostPath", "privileged"}, checksOf(priv, "DaemonSet/default/sysdig-agent"))

		var hostPorts []string
		for _, it := range e.Exposed(ix, answer.Filter{}).Items {
			for _, v := range it.Via {
				if v.Kind == exposure.ViaHostPort {
					hostPorts = append(hostPorts, it.Workload.String()+" "+v.Name+" "+strings.Join(v.Ports, " "))
				}
			}
		}
		sort.Strings(hostPorts)
		// grep hostPort; sysdig-rc.yaml's hostPort 6666 is under hostNetwork
		// and reported by the hostNetwork via instead.
		diff(t, "hostPort vias", []string{
			"Deployment/default/minio-deployment minio 9000/TCP",
			"Deployment/default/storm-worker-controller storm-worke 6700/TCP 6701/TCP 6702/TCP 6703/TCP",
			"Pod/default/javaweb tomcat 8001/TCP",
			"Pod/default/javaweb-2 tomcat 8001/TCP",
			"ReplicationController/default/flocker-ghost flocker-ghost 80/TCP",
			"ReplicationController/default/mongo-controller mongo 27017/TCP",
			"StatefulSet/default/minio minio 9000/TCP",
		}, hostPorts)
	})

	t.Run("sock-shop", func(t *testing.T) {
		ix := loadIndex(t, path("sock-shop/deploy/kubernetes/complete-demo.yaml"))
		if n := len(ix.Workloads()); n != 14 {
			t.Errorf("got %d workloads, want the 14 Deployments of complete-demo.yaml", n)
		}
		e := newEngine(t, answer.Config{})
		diff(t, "exposed", map[string][]string{
			"Deployment/sock-shop/front-end (node)": {"Service front-end NodePort [80/TCP (node port 30001)] -> node"},
		}, exposedByWorkload(e.Exposed(ix, answer.Filter{})))
		// All images come from Docker Hub, two of them untagged.
		for _, it := range e.ImageSources(ix, answer.Filter{}).Items {
			if it.Registry != "docker.io" {
				t.Errorf("%s %s: registry %s, want docker.io", it.Workload.String(), it.Original, it.Registry)
			}
			if it.Original == "mongo" && it.Image != "docker.io/library/mongo:latest" {
				t.Errorf("untagged mongo normalised to %s, want docker.io/library/mongo:latest", it.Image)
			}
		}
	})

	t.Run("example-voting-app", func(t *testing.T) {
		ix := loadIndex(t, path("example-voting-app"))
		if n := len(ix.Workloads()); n != 5 {
			t.Errorf("got %d workloads, want 5 Deployments (db, redis, result, vote, worker)", n)
		}
		e := newEngine(t, answer.Config{})
		diff(t, "exposed", map[string][]string{
			"Deployment/default/result (node)": {"Service result NodePort [8081/TCP (node port 31001)] -> node"},
			"Deployment/default/vote (node)":   {"Service vote NodePort [8080/TCP (node port 31000)] -> node"},
		}, exposedByWorkload(e.Exposed(ix, answer.Filter{})))
	})

	t.Run("istio-bookinfo", func(t *testing.T) {
		kube := "istio-bookinfo/samples/bookinfo/platform/kube/"
		ix := loadIndex(t, path(kube+"bookinfo.yaml"), path(kube+"bookinfo-ingress.yaml"))
		diff(t, "workloads", []string{
			"Deployment/default/details-v1", "Deployment/default/productpage-v1", "Deployment/default/ratings-v1",
			"Deployment/default/reviews-v1", "Deployment/default/reviews-v2", "Deployment/default/reviews-v3",
		}, workloadRefs(ix))
		e := newEngine(t, answer.Config{TrustedRegistries: []string{"registry.istio.io/release"}})
		diff(t, "exposed", map[string][]string{
			"Deployment/default/productpage-v1 (internet)": {"Ingress gateway istio [9080] -> internet"},
		}, exposedByWorkload(e.Exposed(ix, answer.Filter{})))
		diff(t, "untrusted images", []string(nil), untrustedImages(e.ImageSources(ix, answer.Filter{})))
		// No securityContext at all: no host access, but every container may
		// run as root.
		priv := e.Privileged(ix, answer.Filter{})
		for _, ref := range workloadRefs(ix) {
			if c := checksOf(priv, ref); len(c) != 0 {
				t.Errorf("%s: unexpected host checks %v", ref, c)
			}
		}
		if got := priv.Summary[privilege.CheckRunAsRoot]; got != 6 {
			t.Errorf("runAsRoot findings = %d, want 6 (one per container, none sets a user)", got)
		}
	})

	t.Run("aks-store-demo", func(t *testing.T) {
		ix := loadIndex(t, path("aks-store-demo/aks-store-all-in-one.yaml"))
		if n := len(ix.Workloads()); n != 9 {
			t.Errorf("got %d workloads, want 7 Deployments and 2 StatefulSets", n)
		}
		e := newEngine(t, answer.Config{TrustedRegistries: []string{"ghcr.io/azure-samples", "mcr.microsoft.com"}})
		diff(t, "exposed", map[string][]string{
			"Deployment/default/store-admin (internet)": {"Service store-admin LoadBalancer [80/TCP] -> internet"},
			"Deployment/default/store-front (internet)": {"Service store-front LoadBalancer [80/TCP] -> internet"},
		}, exposedByWorkload(e.Exposed(ix, answer.Filter{})))
		// ghcr.io/documentdb is another owner on ghcr.io: trusting
		// ghcr.io/azure-samples must not trust it.
		var got []string
		for _, s := range untrustedImages(e.ImageSources(ix, answer.Filter{})) {
			got = append(got, strings.Fields(s)[2])
		}
		sort.Strings(got)
		diff(t, "untrusted images", []string{
			"docker.io/library/busybox:1.37.0",
			"docker.io/library/rabbitmq:4.3.2-management-alpine",
			"ghcr.io/documentdb/documentdb/documentdb-local:pg17-0.112.0",
		}, got)
	})
}
