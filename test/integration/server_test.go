//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/palisade-project/palisade/internal/app"
)

// lockedBuffer collects a server's stderr while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestServerBinaryAgainstCluster runs the palisade server command, as a
// user would, against a real API server: it serves live answers over the
// API, and with credentials the API server rejects it stops with a clear
// error instead of serving nothing forever.
func TestServerBinaryAgainstCluster(t *testing.T) {
	t.Parallel()
	cp := sharedControlPlane(t)
	ctx := t.Context()
	cs := clientset(t, cp.RestConfig())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "binary-e2e", Labels: map[string]string{"team": "e2e-team"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No controller manager runs here to create the default ServiceAccount.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns.Name}}
	if _, err := cs.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "lb", Namespace: ns.Name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": "lb"},
			Ports: []corev1.ServicePort{{Port: 443}}},
	}
	if _, err := cs.CoreV1().Services(ns.Name).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "lb", Namespace: ns.Name, Labels: map[string]string{"app": "lb"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "ghcr.io/acme/lb:1"}}},
	}
	if _, err := cs.CoreV1().Pods(ns.Name).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("serves live answers", func(t *testing.T) {
		addr := freeAddr(t)
		runCtx, cancel := context.WithCancel(ctx)
		var stderr lockedBuffer
		done := make(chan int, 1)
		go func() {
			done <- app.Main(runCtx, []string{"server", "--kubeconfig", cp.Kubeconfig, "--cluster", "e2e",
				"--listen", addr, "--database", filepath.Join(t.TempDir(), "p.db"), "--no-scan"}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		}()
		defer func() {
			cancel()
			if code := <-done; code != 0 {
				t.Errorf("server exited %d: %s", code, stderr.String())
			}
		}()
		token := regexp.MustCompile(`PALISADE_TOKEN=(pls_\S+)`)
		var exposed struct {
			Items []struct {
				Workload struct{ Cluster, Kind, Namespace, Name string } `json:"workload"`
				Level    string                                          `json:"level"`
			} `json:"items"`
		}
		eventually(t, time.Minute, "the server answers exposed with the live LoadBalancer", func() (bool, string) {
			m := token.FindStringSubmatch(stderr.String())
			if m == nil {
				return false, "no token printed yet: " + stderr.String()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/api/v1/questions/exposed?namespace="+ns.Name, nil)
			req.Header.Set("Authorization", "Bearer "+m[1])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return false, resp.Status
			}
			if err := json.NewDecoder(resp.Body).Decode(&exposed); err != nil {
				return false, err.Error()
			}
			return len(exposed.Items) == 1, fmt.Sprintf("%d exposed workloads, want 1", len(exposed.Items))
		})
		got := exposed.Items[0]
		if got.Workload.Cluster != "e2e" || got.Workload.Kind != "Pod" || got.Workload.Name != "lb" || got.Level != "internet" {
			t.Errorf("exposed = %+v, want Pod binary-e2e/lb at internet in cluster e2e", got)
		}
	})

	t.Run("rejected credentials stop the server", func(t *testing.T) {
		kc, err := clientcmd.LoadFromFile(cp.Kubeconfig)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range kc.AuthInfos {
			u.ClientCertificateData, u.ClientKeyData, u.ClientCertificate, u.ClientKey = nil, nil, "", ""
			u.Token = "not-a-valid-token"
		}
		bad := filepath.Join(t.TempDir(), "kubeconfig")
		if err := clientcmd.WriteToFile(*kc, bad); err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		code := app.Main(ctx, []string{"server", "--kubeconfig", bad, "--listen", freeAddr(t),
			"--database", filepath.Join(t.TempDir(), "p.db")}, strings.NewReader(""), &bytes.Buffer{}, &stderr)
		if code != app.ExitError || !strings.Contains(stderr.String(), "rejected the credentials") {
			t.Errorf("exit %d, stderr %q; want exit 1 naming the rejected credentials", code, stderr.String())
		}
		if strings.Contains(stderr.String(), "not-a-valid-token") {
			t.Errorf("the kubeconfig token is printed: %s", stderr.String())
		}
		if strings.Contains(stderr.String(), "pls_") {
			t.Errorf("an API token was created although the server could not start")
		}
	})
}
