//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/palisade-project/palisade/internal/procfs/procfstest"
	"github.com/palisade-project/palisade/internal/testenv"
)

// Names of TestAgentServiceAccountTokens.
const (
	authCluster   = "agentauth-it"
	authNamespace = "agentauth-test"
	authNode      = "agentauth-n1"
	authAgentSA   = "palisade-agent"
)

// TestAgentServiceAccountTokens runs the palisade server, with the RBAC of
// deploy/server-rbac.yaml and nothing more, against a real API server: a
// node agent authenticates with a token the API server issues for its
// service account, bound to its pod on a node, for the audience
// "palisade" (what the kubelet projects into the pod of deploy/agent.yaml).
// The server checks the token's signature with the keys the API server
// publishes (/openid/v1/jwks), then has the API server review it: it
// accepts a report of that node in its cluster, refuses one naming
// another node or another cluster (403), and refuses tokens of another
// service account, for the API server's own audience, or forged (401).
// Forged tokens are refused without a review, so they spend no address's
// budget. The palisade agent, given the token file, reports as that node.
func TestAgentServiceAccountTokens(t *testing.T) {
	t.Parallel()
	cp := sharedControlPlane(t)
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())
	bin := buildPalisade(t)

	createNamespace(ctx, t, cs, authNamespace) // with its "default" service account
	if _, err := createObject(ctx, cs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: authNode}}); err != nil {
		t.Fatalf("creating Node %s: %v", authNode, err)
	}
	if _, err := createObject(ctx, cs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: authAgentSA, Namespace: authNamespace}}); err != nil {
		t.Fatalf("creating ServiceAccount %s: %v", authAgentSA, err)
	}
	agentPod := createPodOn(ctx, t, cs, "palisade-agent-x1", authAgentSA, authNode)
	otherPod := createPodOn(ctx, t, cs, "other-x1", "default", authNode)

	agentToken := requestToken(ctx, t, cs, authAgentSA, agentPod, "palisade")
	otherToken := requestToken(ctx, t, cs, "default", otherPod, "palisade")
	apiToken := requestToken(ctx, t, cs, authAgentSA, agentPod) // the API server's audience

	// Kubernetes 1.30 and later name the pod's node in a pod-bound
	// token (ServiceAccountTokenPodNodeInfo, GA and locked on in 1.32):
	// the server relies on it.
	review, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authv1.TokenReview{Spec: authv1.TokenReviewSpec{
		Token: agentToken, Audiences: []string{"palisade"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st := review.Status; !st.Authenticated || fmt.Sprint(st.User.Extra["authentication.kubernetes.io/node-name"]) != "["+authNode+"]" {
		t.Fatalf("the API server's review of the agent's token: %+v", st)
	}

	checkAgentDaemonSet(ctx, t, cs)
	kubeconfig := serverKubeconfig(ctx, t, cp, cs)
	srv := startAuthTestServer(t, bin, kubeconfig)

	for _, tc := range []struct {
		name, token, cluster, node string
		status                     int
		message                    string
	}{
		{"its node and cluster", agentToken, authCluster, authNode, http.StatusAccepted, ""},
		{"another node", agentToken, authCluster, "agentauth-n2", http.StatusForbidden,
			`"system:serviceaccount:agentauth-test:palisade-agent" may report only for node "agentauth-n1", not "agentauth-n2"`},
		{"another cluster", agentToken, "elsewhere", authNode, http.StatusForbidden, `may report only for cluster "agentauth-it"`},
		{"another service account", otherToken, authCluster, authNode, http.StatusUnauthorized,
			"service account agentauth-test/default is not a Palisade agent's"},
		{"the API server's audience", apiToken, authCluster, authNode, http.StatusUnauthorized, "does not accept the service account token"},
		{"forged", forgedToken(agentToken), authCluster, authNode, http.StatusUnauthorized,
			"the signature of the service account token does not verify with the cluster's key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postAgentReport(t, srv.url, tc.token, tc.cluster, tc.node)
			if status != tc.status || !strings.Contains(body, tc.message) {
				t.Errorf("status %d, want %d; body %s (want %q in it)", status, tc.status, body, tc.message)
			}
		})
	}

	// Forged tokens cost no review: more of them than an address's budget
	// of reviews (10), all refused by their signature, and then a new
	// token of the agent is reviewed and accepted from the same address.
	// The API server counts the reviews it answers.
	reviews := tokenReviews(ctx, t, cs)
	for i := range 20 {
		forged := forgedToken(requestToken(ctx, t, cs, authAgentSA, agentPod, "palisade"))
		if status, body := postAgentReport(t, srv.url, forged, authCluster, authNode); status != http.StatusUnauthorized ||
			!strings.Contains(body, "does not verify with the cluster's key") {
			t.Fatalf("forged token %d: status %d, %s; want 401, refused by its signature", i, status, body)
		}
	}
	if status, body := postAgentReport(t, srv.url, requestToken(ctx, t, cs, authAgentSA, agentPod, "palisade"), authCluster, authNode); status != http.StatusAccepted {
		t.Fatalf("a new token of the agent after 20 forgeries: status %d, %s", status, body)
	}
	eventually(t, 10*time.Second, "the API server counts the review", func() (bool, string) {
		n := tokenReviews(ctx, t, cs)
		return n > reviews, fmt.Sprint(n, " reviews")
	})
	if n := tokenReviews(ctx, t, cs); n != reviews+1 {
		t.Errorf("the API server answered %d token reviews, want 1: the agent's, none for the 20 forged tokens", n-reviews)
	}
	if strings.Contains(srv.out.String(), "cannot fetch the cluster's service account keys") {
		t.Errorf("the server could not fetch the keys with the RBAC of deploy/server-rbac.yaml:\n%s", srv.out.String())
	}

	// The agent, given the projected token's file.
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(agentToken), 0o600); err != nil {
		t.Fatal(err)
	}
	proc := filepath.Join(dir, "proc")
	if err := procfstest.Build(proc, time.Now().Add(-time.Hour).Unix(),
		procfstest.Proc{PID: 1, Exe: "/sbin/init", Cmdline: procfstest.Args("/sbin/init"), Cgroup: "0::/init.scope\n", NetNS: 4026531992}); err != nil {
		t.Fatal(err)
	}
	// The server logs each request with the credentials' name.
	accepted := func() int {
		n := 0
		for _, line := range strings.Split(srv.out.String(), "\n") {
			if strings.Contains(line, `route="POST /api/v1/agent/report"`) && strings.Contains(line, "status=202") &&
				strings.Contains(line, "token=system:serviceaccount:"+authNamespace+":"+authAgentSA) {
				n++
			}
		}
		return n
	}
	before := accepted()
	agent := startPalisade(t, bin, "agent", "--server", srv.url, "--service-account-token", tokenFile, "--proc-root", proc,
		"--node", authNode, "--cluster", authCluster, "--interval", "200ms", "--report-interval", "500ms")
	eventually(t, time.Minute, "the agent's reports are accepted", func() (bool, string) {
		return accepted() >= before+2, agent.out.String()
	})
	if err := agent.stop(); err != nil {
		t.Errorf("palisade agent after SIGTERM: %v\n%s", err, agent.out.String())
	}
	if strings.Contains(srv.out.String(), agentToken) || strings.Contains(srv.out.String(), otherToken) {
		t.Error("the server logged a service account token")
	}
}

// checkAgentDaemonSet has the API server validate the DaemonSet of
// deploy/agent.yaml (dry run, in the test's namespace): its projected
// token volume and service account are what the test's tokens stand for.
func checkAgentDaemonSet(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	var ds *appsv1.DaemonSet
	for _, doc := range deployDocs(t, "agent.yaml") {
		var d appsv1.DaemonSet
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatal(err)
		}
		if d.Kind == "DaemonSet" {
			ds = &d
		}
	}
	if ds == nil {
		t.Fatal("deploy/agent.yaml has no DaemonSet")
	}
	spec := ds.Spec.Template.Spec
	if spec.ServiceAccountName != authAgentSA {
		t.Errorf("the DaemonSet runs as service account %q, want %q (the server's default --agent-service-account)", spec.ServiceAccountName, authAgentSA)
	}
	var audience string
	for _, v := range spec.Volumes {
		if v.Projected != nil {
			for _, src := range v.Projected.Sources {
				if src.ServiceAccountToken != nil {
					audience = src.ServiceAccountToken.Audience
				}
			}
		}
	}
	if audience != "palisade" {
		t.Errorf("the DaemonSet's projected token has audience %q, want palisade", audience)
	}
	ds.Namespace = authNamespace
	if _, err := cs.AppsV1().DaemonSets(authNamespace).Create(ctx, ds, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the API server refuses the DaemonSet of deploy/agent.yaml: %v", err)
	}
}

// deployDocs returns the YAML documents of deploy/name, as JSON.
func deployDocs(t *testing.T, name string) []json.RawMessage {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(root, "deploy", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []json.RawMessage
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var doc json.RawMessage
		if err := dec.Decode(&doc); err == io.EOF {
			return docs
		} else if err != nil {
			t.Fatalf("deploy/%s: %v", name, err)
		}
		docs = append(docs, doc)
	}
}

// createPodOn creates a pod of serviceAccount scheduled on node and
// returns it.
func createPodOn(ctx context.Context, t *testing.T, cs kubernetes.Interface, name, serviceAccount, node string) *corev1.Pod {
	t.Helper()
	pod, err := cs.CoreV1().Pods(authNamespace).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: authNamespace},
		Spec: corev1.PodSpec{ServiceAccountName: serviceAccount, NodeName: node, AutomountServiceAccountToken: new(bool),
			Containers: []corev1.Container{{Name: "agent", Image: "registry.example.com/palisade:dev"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating Pod %s: %v", name, err)
	}
	return pod
}

// requestToken asks the API server for a token of serviceAccount bound to
// pod (TokenRequest), as the kubelet does for a projected volume; no
// audience means the API server's own.
func requestToken(ctx context.Context, t *testing.T, cs kubernetes.Interface, serviceAccount string, pod *corev1.Pod, audiences ...string) string {
	t.Helper()
	expiry := int64(600)
	tr, err := cs.CoreV1().ServiceAccounts(authNamespace).CreateToken(ctx, serviceAccount, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		Audiences:         audiences,
		ExpirationSeconds: &expiry,
		BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("requesting a token of %s for pod %s: %v", serviceAccount, pod.Name, err)
	}
	return tr.Status.Token
}

// forgedToken keeps the header and claims of token and changes its
// signature.
func forgedToken(token string) string {
	i := strings.LastIndex(token, ".")
	sig := []byte(token[i+1:])
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	return token[:i+1] + string(sig)
}

// tokenReviews is how many TokenReviews the API server has answered,
// by its metric apiserver_request_total.
func tokenReviews(ctx context.Context, t *testing.T, cs kubernetes.Interface) int {
	t.Helper()
	b, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("reading the API server's metrics: %v", err)
	}
	n := 0.0
	for line := range strings.Lines(string(b)) {
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="tokenreviews"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("the API server's metric %q: %v", line, err)
		}
		n += v
	}
	return int(n)
}

// serverKubeconfig grants a new user the ClusterRole of
// deploy/server-rbac.yaml, and nothing else, and returns a kubeconfig
// file of that user, so that the server runs with what the manifest
// grants.
func serverKubeconfig(ctx context.Context, t *testing.T, cp *testenv.ControlPlane, cs kubernetes.Interface) string {
	t.Helper()
	const user = "palisade-server-agentauth"
	var role *rbacv1.ClusterRole
	for _, doc := range deployDocs(t, "server-rbac.yaml") {
		var r rbacv1.ClusterRole
		if err := json.Unmarshal(doc, &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == "ClusterRole" {
			role = &r
		}
	}
	if role == nil {
		t.Fatal("deploy/server-rbac.yaml has no ClusterRole")
	}
	role.ObjectMeta = metav1.ObjectMeta{Name: user}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: user},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: user},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, err := cp.UserConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	userCS := clientset(t, cfg)
	eventually(t, 10*time.Second, "the RBAC grant is effective", func() (bool, string) {
		_, err := userCS.AuthenticationV1().TokenReviews().Create(ctx, &authv1.TokenReview{Spec: authv1.TokenReviewSpec{Token: "x"}}, metav1.CreateOptions{})
		return err == nil, fmt.Sprint(err)
	})
	return writeUserKubeconfig(t, cfg)
}

func writeUserKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["it"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["it"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["it"] = &clientcmdapi.Context{Cluster: "it", AuthInfo: "it"}
	kc.CurrentContext = "it"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// startAuthTestServer starts palisade server watching the cluster as
// authCluster, accepting the agent service account of authNamespace, and
// waits until it is ready.
func startAuthTestServer(t *testing.T, bin, kubeconfig string) *agentTestServer {
	t.Helper()
	addr := freeAddr(t)
	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	s := &agentTestServer{url: "http://" + addr}
	s.palisadeProcess = startPalisade(t, bin, "server", "--kubeconfig", kubeconfig, "--cluster", authCluster, "--listen", addr,
		"--database", filepath.Join(t.TempDir(), "palisade.db"), "--token-file", tokenFile, "--no-scan",
		"--agent-service-account", authNamespace+"/"+authAgentSA)
	eventually(t, time.Minute, "the server is ready", func() (bool, string) {
		select {
		case err := <-s.exited:
			s.exited <- err
			t.Fatalf("palisade server exited: %v\n%s", err, s.out.String())
		default:
		}
		resp, err := http.Get(s.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status + "\n" + s.out.String()
	})
	return s
}

// postAgentReport sends an empty report of cluster and node with token and
// returns the status and the error message, or the body when it is none.
func postAgentReport(t *testing.T, url, token, cluster, node string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"node": node, "cluster": cluster, "agent": "test", "sentAt": time.Now().UTC(),
		"collection": "polling", "processes": []any{}, "flows": []any{}})
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/api/v1/agent/report", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return resp.StatusCode, e.Error.Message
	}
	return resp.StatusCode, string(b)
}
