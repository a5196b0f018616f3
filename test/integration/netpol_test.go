//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// TestNetworkPolicyChangesAnswerLive runs the real server against a real
// API server and asks it, as users do (palisade ask reachable --server),
// whether web may reach db on 5432 while NetworkPolicies are created,
// edited and deleted: each change shows in the answer without a restart.
func TestNetworkPolicyChangesAnswerLive(t *testing.T) {
	t.Parallel()
	cp := sharedControlPlane(t)
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())
	bin := buildPalisade(t)

	const ns = "netpol-live"
	createNamespace(ctx, t, cs, ns)
	for _, d := range []struct {
		name string
		port int32
	}{{"web", 8080}, {"db", 5432}} {
		createDeployment(ctx, t, cs, ns, d.name, d.port)
	}
	srv := startAgentTestServer(t, bin, cp.Kubeconfig, filepath.Join(t.TempDir(), "palisade.db"))

	ask := func() (*reachability, string) {
		cmd := exec.CommandContext(ctx, bin, "ask", "reachable", "--server", srv.url,
			"--from", ns+"/web", "--to", ns+"/db", "--port", "5432/TCP", "-o", "json")
		cmd.Env = srv.askEnv
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			return nil, fmt.Sprintf("palisade ask reachable: %v\n%s", err, stderr.String())
		}
		var r reachability
		if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
			t.Fatalf("palisade ask reachable -o json: %v\n%s", err, stdout.String())
		}
		return &r, stdout.String()
	}
	expect := func(what string, allowed bool, ingressPolicies ...string) {
		t.Helper()
		eventually(t, time.Minute, what, func() (bool, string) {
			r, out := ask()
			if r == nil {
				return false, out
			}
			var got []string
			for _, p := range r.Ingress.Policies {
				got = append(got, p.Name)
			}
			if r.Allowed != allowed || !slices.Equal(got, ingressPolicies) {
				return false, fmt.Sprintf("allowed %t with db's ingress policies %q, want %t with %q:\n%s", r.Allowed, got, allowed, ingressPolicies, out)
			}
			return true, ""
		})
	}

	expect("no policy: web may reach db", true)

	np := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "db-ingress", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
		},
	}
	np, err := cs.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	expect("a policy isolating db denies it", false, "db-ingress")

	tcp := corev1.ProtocolTCP
	port := intstr.FromInt32(5432)
	np.Spec.Ingress = []networkingv1.NetworkPolicyIngressRule{{
		From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}},
		Ports: []networkingv1.NetworkPolicyPort{{Protocol: &tcp, Port: &port}},
	}}
	if np, err = cs.NetworkingV1().NetworkPolicies(ns).Update(ctx, np, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("the edited policy lets web in on 5432", true, "db-ingress")

	// Traffic from web to db on 5432, imported as a flow log: allowed and
	// used, so question 9 lists nothing unused between them and no denial.
	flowLog := filepath.Join(t.TempDir(), "flows.jsonl")
	line := fmt.Sprintf(`{"time":%q,"srcWorkload":"%s/web","dstWorkload":"%s/db","dstPort":5432,"protocol":"TCP","count":40}`+"\n",
		time.Now().UTC().Add(-time.Minute).Format(time.RFC3339), ns, ns)
	if err := os.WriteFile(flowLog, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	imp := exec.CommandContext(ctx, bin, "flows", "import", flowLog, "--server", srv.url)
	imp.Env = srv.askEnv
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("palisade flows import: %v\n%s", err, out)
	}
	expectDenied := func(what string, denied bool) {
		t.Helper()
		eventually(t, time.Minute, what, func() (bool, string) {
			cmd := exec.CommandContext(ctx, bin, "ask", "unused-paths", "--server", srv.url, "-n", ns, "-o", "json")
			cmd.Env = srv.askEnv
			out, err := cmd.Output()
			if err != nil {
				return false, fmt.Sprintf("palisade ask unused-paths: %v\n%s", err, out)
			}
			var a unusedPathsAnswer
			if err := json.Unmarshal(out, &a); err != nil {
				t.Fatalf("palisade ask unused-paths -o json: %v\n%s", err, out)
			}
			if !a.Usage.Known || a.Usage.Records < 1 {
				return false, fmt.Sprintf("usage %+v: want the imported record known\n%s", a.Usage, out)
			}
			got := slices.ContainsFunc(a.Denied, func(d deniedFlow) bool {
				return d.From.Workload.Name == "web" && d.To.Workload.Name == "db" && d.Port == 5432 && slices.Equal(d.DeniedBy, []string{"ingress"}) &&
					slices.ContainsFunc(d.Policies, func(p policyRef) bool { return p.Name == "db-ingress" })
			})
			if got != denied {
				return false, fmt.Sprintf("web → db:5432 listed as used but denied: %t, want %t\n%s", got, denied, out)
			}
			return true, ""
		})
	}
	expectDenied("the used flow is allowed", false)

	other := intstr.FromInt32(5433)
	np.Spec.Ingress[0].Ports[0].Port = &other
	if _, err = cs.NetworkingV1().NetworkPolicies(ns).Update(ctx, np, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("edited again to another port, it denies 5432", false, "db-ingress")
	expectDenied("the used flow is now used but denied, by db-ingress", true)

	if err := cs.NetworkingV1().NetworkPolicies(ns).Delete(ctx, "db-ingress", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expect("deleted, nothing isolates db", true)
	expectDenied("deleted, nothing denies the used flow", false)
}

// unusedPathsAnswer is the part of `ask unused-paths -o json` the test
// reads (docs/output.md).
type unusedPathsAnswer struct {
	Usage struct {
		Known   bool `json:"known"`
		Records int  `json:"records"`
	} `json:"usage"`
	Denied []deniedFlow `json:"denied"`
}

type deniedFlow struct {
	From struct {
		Workload workloadRef `json:"workload"`
	} `json:"from"`
	To struct {
		Workload workloadRef `json:"workload"`
	} `json:"to"`
	Port     int         `json:"port"`
	DeniedBy []string    `json:"deniedBy"`
	Policies []policyRef `json:"policies"`
}

type policyRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

// reachability is the part of `ask reachable -o json` the test reads,
// decoded independently of the product's types.
type reachability struct {
	Allowed bool `json:"allowed"`
	Ingress struct {
		Isolated bool `json:"isolated"`
		Policies []struct {
			Namespace string `json:"namespace"`
			Name      string `json:"name"`
		} `json:"policies"`
	} `json:"ingress"`
}

// createDeployment creates a Deployment of one container listening on
// port, its pods labelled app=name.
func createDeployment(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string, port int32) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "registry.example/" + name + ":1",
					Ports: []corev1.ContainerPort{{ContainerPort: port}}}}},
			},
		},
	}
	if _, err := createObject(ctx, cs, d); err != nil {
		t.Fatalf("creating Deployment %s/%s: %v", ns, name, err)
	}
}
