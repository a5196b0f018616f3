//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
)

// environmentYAML is one namespace of every kind the inventory models, with
// the statuses a kubelet, a cloud controller and an ingress controller
// would write. It is created through the API (statuses through the status
// subresource) and also written to disk as manifests, so the answers from
// both sources can be compared. Owner references carry no uid here: the API
// server needs one, which create fills in from the owner it created.
const environmentYAML = `
apiVersion: v1
kind: Namespace
metadata:
  name: {{.NS}}
  labels:
    team: payments
    env: production
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: default
  namespace: {{.NS}}
---
apiVersion: v1
kind: Node
metadata:
  name: {{.Node}}
  labels:
    kubernetes.io/hostname: {{.Node}}
status:
  addresses:
  - type: InternalIP
    address: 10.1.0.7
  - type: ExternalIP
    address: 192.0.2.7
  nodeInfo:
    kubeletVersion: v1.37.2
    osImage: Debian GNU/Linux 13
    containerRuntimeVersion: containerd://2.1.0
    machineID: ""
    systemUUID: ""
    bootID: ""
    kernelVersion: 6.12.0
    kubeProxyVersion: v1.37.2
    operatingSystem: linux
    architecture: amd64
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {{.NS}}
  labels:
    app: web
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - name: http
          containerPort: 8080
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-7c9f8d6b5
  namespace: {{.NS}}
  labels:
    app: web
    pod-template-hash: 7c9f8d6b5
  ownerReferences:
  - apiVersion: apps/v1
    kind: Deployment
    name: web
    controller: true
spec:
  replicas: 2
  selector:
    matchLabels:
      app: web
      pod-template-hash: 7c9f8d6b5
  template:
    metadata:
      labels:
        app: web
        pod-template-hash: 7c9f8d6b5
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - name: http
          containerPort: 8080
        securityContext:
          runAsNonRoot: true
          allowPrivilegeEscalation: false
{{range $i, $p := .WebPods}}---
apiVersion: v1
kind: Pod
metadata:
  name: {{$p}}
  namespace: {{$.NS}}
  labels:
    app: web
    pod-template-hash: 7c9f8d6b5
  ownerReferences:
  - apiVersion: apps/v1
    kind: ReplicaSet
    name: web-7c9f8d6b5
    controller: true
spec:
  nodeName: {{$.Node}}
  containers:
  - name: web
    image: nginx:1.27
    ports:
    - name: http
      containerPort: 8080
    securityContext:
      runAsNonRoot: true
      allowPrivilegeEscalation: false
status:
  phase: Running
  hostIP: 10.1.0.7
  podIP: 10.244.1.1{{$i}}
  podIPs:
  - ip: 10.244.1.1{{$i}}
  containerStatuses:
  - name: web
    image: docker.io/library/nginx:1.27
    imageID: docker.io/library/nginx@sha256:{{$.WebDigest}}
    containerID: containerd://{{$i}}f00d
    ready: true
    restartCount: 0
    state:
      running:
        startedAt: "2026-01-02T03:04:05Z"
{{end}}---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: {{.NS}}
  annotations:
    owner: dba-team
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels:
      app: db
  template:
    metadata:
      labels:
        app: db
    spec:
      securityContext:
        runAsUser: 0
      containers:
      - name: postgres
        image: postgres:16
        ports:
        - containerPort: 5432
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: {{.NS}}
  labels:
    team: platform
spec:
  selector:
    matchLabels:
      app: agent
  template:
    metadata:
      labels:
        app: agent
    spec:
      hostNetwork: true
      hostPID: true
      containers:
      - name: agent
        image: registry.example.com/security/agent:2.3
        ports:
        - containerPort: 9100
          hostPort: 9100
        securityContext:
          privileged: true
        volumeMounts:
        - name: docker
          mountPath: /var/run/docker.sock
      volumes:
      - name: docker
        hostPath:
          path: /var/run/docker.sock
          type: Socket
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: legacy
  namespace: {{.NS}}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: legacy
  template:
    metadata:
      labels:
        app: legacy
        owner: legacy-team
    spec:
      containers:
      - name: app
        image: registry.example.com/legacy/app:1.0
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: old-rc
  namespace: {{.NS}}
spec:
  replicas: 1
  selector:
    app: old
  template:
    metadata:
      labels:
        app: old
    spec:
      containers:
      - name: app
        image: quay.io/team/app@sha256:{{.PinnedDigest}}
        securityContext:
          capabilities:
            add: ["NET_RAW"]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  namespace: {{.NS}}
  annotations:
    owner: data-team
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: ghcr.io/org/migrate:v2
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: {{.NS}}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: busybox
---
apiVersion: v1
kind: Pod
metadata:
  name: debug
  namespace: {{.NS}}
spec:
  nodeName: {{.Node}}
  containers:
  - name: shell
    image: alpine:3.20
    securityContext:
      capabilities:
        add: ["NET_ADMIN", "SYS_ADMIN"]
status:
  phase: Running
  hostIP: 10.1.0.7
  podIP: 10.244.1.30
  podIPs:
  - ip: 10.244.1.30
  containerStatuses:
  - name: shell
    image: docker.io/library/alpine:3.20
    imageID: docker.io/library/alpine@sha256:{{.DebugDigest}}
    containerID: containerd://d3b06
    ready: true
    restartCount: 0
    state:
      running:
        startedAt: "2026-01-02T03:04:05Z"
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: {{.NS}}
spec:
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: http
---
apiVersion: v1
kind: Service
metadata:
  name: web-np
  namespace: {{.NS}}
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
    nodePort: {{.NodePort}}
---
apiVersion: v1
kind: Service
metadata:
  name: web-lb
  namespace: {{.NS}}
spec:
  type: LoadBalancer
  selector:
    app: web
  ports:
  - port: 443
    targetPort: 8080
    nodePort: {{.LBNodePort}}
status:
  loadBalancer:
    ingress:
    - ip: 203.0.113.10
---
apiVersion: v1
kind: Service
metadata:
  name: agent-ext
  namespace: {{.NS}}
spec:
  selector:
    app: agent
  externalIPs:
  - 198.51.100.7
  ports:
  - port: 9100
---
apiVersion: v1
kind: Service
metadata:
  name: ext-db
  namespace: {{.NS}}
spec:
  type: ExternalName
  externalName: db.example.com
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  namespace: {{.NS}}
spec:
  ingressClassName: nginx
  tls:
  - hosts:
    - shop.example.com
  rules:
  - host: shop.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              name: http
      - path: /legacy
        pathType: Prefix
        backend:
          service:
            name: missing
            port:
              number: 80
status:
  loadBalancer:
    ingress:
    - hostname: lb.example.com
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: default-deny
  namespace: {{.NS}}
spec:
  podSelector: {}
  policyTypes:
  - Ingress
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: allow-web
  namespace: {{.NS}}
spec:
  podSelector:
    matchLabels:
      app: web
  policyTypes:
  - Ingress
  ingress:
  - from:
    - namespaceSelector: {}
    ports:
    - port: 8080
`

// environment is one rendered copy of environmentYAML.
type environment struct {
	NS, Node             string
	WebPods              []string
	NodePort, LBNodePort int
	WebDigest            string
	DebugDigest          string
	PinnedDigest         string

	yaml []byte
	objs []runtime.Object
}

// newEnvironment renders the environment for namespace ns. Node ports are
// cluster-wide: tests sharing a control plane pass different nodePortBase.
func newEnvironment(t *testing.T, ns string, nodePortBase int) *environment {
	t.Helper()
	e := &environment{
		NS: ns, Node: ns + "-node",
		WebPods:  []string{"web-7c9f8d6b5-a1b2c", "web-7c9f8d6b5-d3e4f"},
		NodePort: nodePortBase, LBNodePort: nodePortBase + 1,
		WebDigest:    strings.Repeat("a1", 32),
		DebugDigest:  strings.Repeat("b2", 32),
		PinnedDigest: strings.Repeat("c3", 32),
	}
	var buf bytes.Buffer
	if err := template.Must(template.New("env").Parse(environmentYAML)).Execute(&buf, e); err != nil {
		t.Fatal(err)
	}
	e.yaml = buf.Bytes()
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(e.yaml)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decoding fixture: %v\n%s", err, doc)
		}
		e.objs = append(e.objs, obj)
	}
	return e
}

// writeManifests writes the environment's YAML into a new directory.
func (e *environment) writeManifests(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "environment.yaml"), e.yaml, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// create creates every object in order, fills owner references' uids, and
// writes statuses through the status subresource.
func (e *environment) create(ctx context.Context, t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	uids := map[string]types.UID{}
	for _, obj := range e.objs {
		obj = obj.DeepCopyObject()
		acc, err := meta.Accessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		refs := acc.GetOwnerReferences()
		for i := range refs {
			refs[i].UID = uids[refs[i].Kind+"/"+refs[i].Name]
		}
		acc.SetOwnerReferences(refs)
		kind := obj.GetObjectKind().GroupVersionKind().Kind
		uid, err := createObject(ctx, cs, obj)
		if err != nil {
			t.Fatalf("creating %s %s: %v", kind, acc.GetName(), err)
		}
		uids[kind+"/"+acc.GetName()] = uid
	}
}

// createObject creates obj and, when it carries one, writes its status.
func createObject(ctx context.Context, cs kubernetes.Interface, obj runtime.Object) (types.UID, error) {
	c := metav1.CreateOptions{}
	u := metav1.UpdateOptions{}
	switch o := obj.(type) {
	case *corev1.Namespace:
		got, err := cs.CoreV1().Namespaces().Create(ctx, o, c)
		return uid(got, err)
	case *corev1.ServiceAccount:
		got, err := cs.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, c)
		if apierrors.IsAlreadyExists(err) {
			// kube-controller-manager, when it runs, creates it too.
			return "", nil
		}
		return uid(got, err)
	case *corev1.Node:
		got, err := cs.CoreV1().Nodes().Create(ctx, o, c)
		if err != nil {
			return "", err
		}
		got.Status = o.Status
		got, err = cs.CoreV1().Nodes().UpdateStatus(ctx, got, u)
		return uid(got, err)
	case *appsv1.Deployment:
		got, err := cs.AppsV1().Deployments(o.Namespace).Create(ctx, o, c)
		return uid(got, err)
	case *appsv1.StatefulSet:
		got, err := cs.AppsV1().StatefulSets(o.Namespace).Create(ctx, o, c)
		return uid(got, err)
	case *appsv1.DaemonSet:
		got, err := cs.AppsV1().DaemonSets(o.Namespace).Create(ctx, o, c)
		return uid(got, err)
	case *appsv1.ReplicaSet:
		got, err := cs.AppsV1().ReplicaSets(o.Namespace).Create(ctx, o, c)
		return uid(got, err)
	case *corev1.ReplicationController:
		got, err := cs.CoreV1().ReplicationControllers(o.Namespace).Create(ctx, o, c)
		return uid(got, err)
	case *batchv1.Job:
		got, err := cs.BatchV1().Jobs(o.Namespace).Create(ctx, o, c)
		return uid(got, err)
	case *batchv1.CronJob:
		got, err := cs.BatchV1().CronJobs(o.Namespace).Create(ctx, o, c)
		return uid(got, err)
	case *corev1.Pod:
		got, err := cs.CoreV1().Pods(o.Namespace).Create(ctx, o, c)
		if err != nil || o.Status.Phase == "" {
			return uid(got, err)
		}
		got.Status = o.Status
		got, err = cs.CoreV1().Pods(o.Namespace).UpdateStatus(ctx, got, u)
		return uid(got, err)
	case *corev1.Service:
		got, err := cs.CoreV1().Services(o.Namespace).Create(ctx, o, c)
		if err != nil || len(o.Status.LoadBalancer.Ingress) == 0 {
			return uid(got, err)
		}
		got.Status = o.Status
		got, err = cs.CoreV1().Services(o.Namespace).UpdateStatus(ctx, got, u)
		return uid(got, err)
	case *networkingv1.Ingress:
		got, err := cs.NetworkingV1().Ingresses(o.Namespace).Create(ctx, o, c)
		if err != nil || len(o.Status.LoadBalancer.Ingress) == 0 {
			return uid(got, err)
		}
		got.Status = o.Status
		got, err = cs.NetworkingV1().Ingresses(o.Namespace).UpdateStatus(ctx, got, u)
		return uid(got, err)
	case *networkingv1.NetworkPolicy:
		got, err := cs.NetworkingV1().NetworkPolicies(o.Namespace).Create(ctx, o, c)
		return uid(got, err)
	}
	return "", fmt.Errorf("fixture of unexpected type %T", obj)
}

func uid(obj metav1.Object, err error) (types.UID, error) {
	if err != nil {
		return "", err
	}
	return obj.GetUID(), nil
}
