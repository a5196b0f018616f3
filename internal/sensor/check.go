package sensor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Errors Check wraps, for callers that map them to exit codes or hints.
var (
	ErrUnreachable  = errors.New("Kubernetes API server unreachable")
	ErrUnauthorized = errors.New("Kubernetes API server rejected the credentials")
	ErrForbidden    = errors.New("missing RBAC permission")
	// ErrNoKubeconfig is wrapped by LoadRestConfig when there is no
	// configuration anywhere it looks.
	ErrNoKubeconfig = errors.New("no Kubernetes configuration found")
)

// CheckTimeout bounds Check.
const CheckTimeout = 10 * time.Second

// checkError carries a message written for the user, a sentinel for
// errors.Is, and the underlying error for errors.As.
type checkError struct {
	kind error
	msg  string
	err  error
}

func (e *checkError) Error() string        { return e.msg }
func (e *checkError) Unwrap() []error      { return []error{e.kind, e.err} }
func (e *checkError) Is(target error) bool { return target == e.kind }

// Check makes sure the sensor can work with the API server: it asks for
// the server's version, then lists one object of every kind the sensor
// watches (cluster-wide, limit 1). It returns within CheckTimeout, with an
// error that says what to fix: the address (ErrUnreachable), the
// credentials (ErrUnauthorized) or the RBAC permissions that are missing
// (ErrForbidden).
func Check(ctx context.Context, cfg *rest.Config) error {
	if cfg == nil {
		return errors.New("no Kubernetes API server configuration")
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	rc := rest.CopyConfig(cfg)
	rc.UserAgent = UserAgent
	rc.Timeout = CheckTimeout
	rc.WarningHandler = rest.NoWarnings{}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("configuring the Kubernetes client for %s: %w", cfg.Host, err)
	}
	if err := client.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		return classify(cfg.Host, "get the server version", err)
	}

	type result struct {
		resource string
		err      error
	}
	opts := metav1.ListOptions{Limit: 1}
	lists := []struct {
		resource string
		list     func(context.Context) error
	}{
		{"pods", func(ctx context.Context) error { _, err := client.CoreV1().Pods("").List(ctx, opts); return err }},
		{"deployments.apps", func(ctx context.Context) error { _, err := client.AppsV1().Deployments("").List(ctx, opts); return err }},
		{"statefulsets.apps", func(ctx context.Context) error {
			_, err := client.AppsV1().StatefulSets("").List(ctx, opts)
			return err
		}},
		{"daemonsets.apps", func(ctx context.Context) error { _, err := client.AppsV1().DaemonSets("").List(ctx, opts); return err }},
		{"replicasets.apps", func(ctx context.Context) error { _, err := client.AppsV1().ReplicaSets("").List(ctx, opts); return err }},
		{"replicationcontrollers", func(ctx context.Context) error {
			_, err := client.CoreV1().ReplicationControllers("").List(ctx, opts)
			return err
		}},
		{"jobs.batch", func(ctx context.Context) error { _, err := client.BatchV1().Jobs("").List(ctx, opts); return err }},
		{"cronjobs.batch", func(ctx context.Context) error { _, err := client.BatchV1().CronJobs("").List(ctx, opts); return err }},
		{"services", func(ctx context.Context) error { _, err := client.CoreV1().Services("").List(ctx, opts); return err }},
		{"ingresses.networking.k8s.io", func(ctx context.Context) error {
			_, err := client.NetworkingV1().Ingresses("").List(ctx, opts)
			return err
		}},
		{"networkpolicies.networking.k8s.io", func(ctx context.Context) error {
			_, err := client.NetworkingV1().NetworkPolicies("").List(ctx, opts)
			return err
		}},
		{"namespaces", func(ctx context.Context) error { _, err := client.CoreV1().Namespaces().List(ctx, opts); return err }},
		{"nodes", func(ctx context.Context) error { _, err := client.CoreV1().Nodes().List(ctx, opts); return err }},
	}
	results := make([]result, len(lists))
	var wg sync.WaitGroup
	for i, l := range lists {
		wg.Go(func() { results[i] = result{l.resource, l.list(ctx)} })
	}
	wg.Wait()

	var forbidden []string
	var firstForbidden error
	for _, r := range results {
		switch {
		case r.err == nil:
		case apierrors.IsForbidden(r.err):
			forbidden = append(forbidden, r.resource)
			if firstForbidden == nil {
				firstForbidden = r.err
			}
		default:
			return classify(cfg.Host, "list "+r.resource, r.err)
		}
	}
	if len(forbidden) == 0 {
		return nil
	}
	slices.Sort(forbidden)
	return &checkError{kind: ErrForbidden, err: firstForbidden, msg: fmt.Sprintf(
		"missing RBAC permission on the Kubernetes API server at %s: the sensor cannot list %s cluster-wide (%v); "+
			"grant get, list and watch on them, for example: kubectl create clusterrole palisade-sensor --verb=get,list,watch --resource=%s "+
			"and bind it with kubectl create clusterrolebinding",
		cfg.Host, strings.Join(forbidden, ", "), firstForbidden, strings.Join(forbidden, ","))}
}

// classify turns a failed request into an error that says what to check.
func classify(host, what string, err error) error {
	var (
		unknownCA   x509.UnknownAuthorityError
		hostname    x509.HostnameError
		invalidCert x509.CertificateInvalidError
		verify      *tls.CertificateVerificationError
	)
	switch {
	case apierrors.IsUnauthorized(err):
		return &checkError{kind: ErrUnauthorized, err: err, msg: fmt.Sprintf(
			"the Kubernetes API server at %s rejected the credentials (401 Unauthorized) when asked to %s: "+
				"the token or client certificate of the kubeconfig's user is wrong or expired; check --kubeconfig or KUBECONFIG and the selected context",
			host, what)}
	case apierrors.IsForbidden(err):
		return &checkError{kind: ErrForbidden, err: err, msg: fmt.Sprintf(
			"missing RBAC permission on the Kubernetes API server at %s: the sensor may not %s (%v); grant get, list and watch on the resources Palisade reads",
			host, what, err)}
	case errors.As(err, &unknownCA) || errors.As(err, &hostname) || errors.As(err, &invalidCert) || errors.As(err, &verify):
		return &checkError{kind: ErrUnreachable, err: err, msg: fmt.Sprintf(
			"cannot verify the TLS certificate of the Kubernetes API server at %s: %v; check the cluster's certificate-authority in --kubeconfig or KUBECONFIG",
			host, err)}
	case errors.Is(err, context.DeadlineExceeded) || isNetError(err):
		return &checkError{kind: ErrUnreachable, err: err, msg: fmt.Sprintf(
			"cannot reach the Kubernetes API server at %s: %v; check --kubeconfig or KUBECONFIG (server address and current context) and that the cluster is running",
			host, err)}
	}
	return fmt.Errorf("checking the Kubernetes API server at %s (%s): %w", host, what, err)
}

// isNetError reports a failure below HTTP (refused, reset, no route, DNS,
// timeouts): anything but a Status from the server.
func isNetError(err error) bool {
	var status apierrors.APIStatus
	return !errors.As(err, &status)
}

// LoadRestConfig finds the API server configuration the way kubectl does:
// the kubeconfig flag, then the KUBECONFIG variable, then ~/.kube/config,
// then the pod's service account (in-cluster). kubeContext, when set,
// selects a kubeconfig context. The returned string says where the
// configuration came from, for logs and error messages.
func LoadRestConfig(kubeconfig, kubeContext string) (*rest.Config, string, error) {
	var rules *clientcmd.ClientConfigLoadingRules
	var desc string
	switch {
	case kubeconfig != "":
		rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
		desc = "kubeconfig " + kubeconfig
	case os.Getenv(clientcmd.RecommendedConfigPathEnvVar) != "":
		rules = clientcmd.NewDefaultClientConfigLoadingRules()
		desc = "KUBECONFIG=" + os.Getenv(clientcmd.RecommendedConfigPathEnvVar)
	default:
		if _, err := os.Stat(clientcmd.RecommendedHomeFile); err == nil {
			rules = &clientcmd.ClientConfigLoadingRules{ExplicitPath: clientcmd.RecommendedHomeFile}
			desc = "kubeconfig " + clientcmd.RecommendedHomeFile
		}
	}
	if rules == nil {
		if kubeContext != "" {
			return nil, "", fmt.Errorf("%w: --context %q needs a kubeconfig: pass --kubeconfig or set KUBECONFIG", ErrNoKubeconfig, kubeContext)
		}
		cfg, err := rest.InClusterConfig()
		if err != nil {
			if errors.Is(err, rest.ErrNotInCluster) {
				return nil, "", fmt.Errorf("%w: pass --kubeconfig, set KUBECONFIG, create %s, or run in a pod with a service account", ErrNoKubeconfig, clientcmd.RecommendedHomeFile)
			}
			return nil, "", fmt.Errorf("loading the in-cluster configuration: %w", err)
		}
		return cfg, "in-cluster service account", nil
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading %s: %w", desc, err)
	}
	name := kubeContext
	if name == "" {
		if raw, err := cc.RawConfig(); err == nil {
			name = raw.CurrentContext
		}
	}
	if name != "" {
		desc += fmt.Sprintf(", context %q", name)
	}
	return cfg, desc, nil
}
