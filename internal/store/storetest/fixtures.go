package storetest

import (
	"fmt"
	"time"

	"github.com/palisade-project/palisade/internal/model"
)

func ptr[T any](v T) *T { return &v }

// meta returns metadata with every field set.
func meta(cluster, namespace, name string) model.Meta {
	return model.Meta{
		Cluster:         cluster,
		Namespace:       namespace,
		Name:            name,
		UID:             "uid-" + cluster + "-" + namespace + "-" + name,
		ResourceVersion: "42",
		Labels:          map[string]string{"app": name, "team": "payments"},
		Annotations:     map[string]string{"palisade.dev/note": "line one\nline \"two\" é ✓"},
		CreatedAt:       time.Date(2024, 3, 1, 12, 30, 45, 123456789, time.UTC),
		Source:          "deploy.yaml#2",
	}
}

func selector() *model.LabelSelector {
	return &model.LabelSelector{
		MatchLabels: map[string]string{"app": "web"},
		MatchExpressions: []model.Requirement{
			{Key: "tier", Operator: "In", Values: []string{"frontend", "edge"}},
		},
	}
}

// FullWorkload returns a workload of kind with every field of the model set,
// pod status included: a round trip that drops any field shows up as a
// diff.
func FullWorkload(cluster string, kind model.Kind, namespace, name string) *model.Workload {
	sc := model.SecurityContext{
		Privileged:               true,
		AllowPrivilegeEscalation: ptr(false),
		RunAsUser:                ptr(int64(0)),
		RunAsGroup:               ptr(int64(1 << 40)),
		RunAsNonRoot:             ptr(false),
		ReadOnlyRootFilesystem:   true,
		CapAdd:                   []string{"NET_ADMIN", "SYS_ADMIN"},
		CapDrop:                  []string{"ALL"},
		ProcMount:                "Unmasked",
		SeccompProfile:           "Unconfined",
		AppArmorProfile:          "unconfined",
		SELinuxType:              "spc_t",
		WindowsHostProcess:       true,
	}
	container := func(n string, t model.ContainerType) model.Container {
		return model.Container{
			Name: n,
			Type: t,
			Image: model.ImageRef{
				Original:   "nginx:1.27@sha256:0123",
				Registry:   "docker.io",
				Repository: "library/nginx",
				Tag:        "1.27",
				Digest:     "sha256:0123",
				Error:      "not really an error",
			},
			SecurityContext: sc,
			Ports:           []model.ContainerPort{{Name: "http", ContainerPort: 8080, HostPort: 80, HostIP: "0.0.0.0", Protocol: "TCP"}},
			VolumeMounts:    []model.VolumeMount{{Name: "host", MountPath: "/host", ReadOnly: true}},
		}
	}
	return &model.Workload{
		Meta:     meta(cluster, namespace, name),
		Kind:     kind,
		Owner:    &model.OwnerRef{Kind: "ReplicaSet", Name: name + "-abc", UID: "owner-uid"},
		Selector: selector(),
		Replicas: ptr(int32(3)),
		Template: model.PodTemplate{
			Labels:           map[string]string{"app": "web", "tier": "frontend"},
			Annotations:      map[string]string{"kubectl.kubernetes.io/default-container": "app"},
			ServiceAccount:   "web",
			HostNetwork:      true,
			HostPID:          true,
			HostIPC:          true,
			NodeName:         "node-1",
			OS:               "linux",
			ImagePullSecrets: []string{"regcred"},
			Containers: []model.Container{
				container("init", model.ContainerInit),
				container("app", model.ContainerRegular),
				container("debug", model.ContainerEphemeral),
			},
			Volumes: []model.Volume{{
				Name:                "host",
				Type:                model.VolumeHostPath,
				HostPath:            "/",
				HostPathType:        "Directory",
				SecretName:          "web-tls",
				ServiceAccountToken: true,
			}},
		},
		Status: &model.PodStatus{
			Phase:    "Running",
			NodeName: "node-1",
			PodIP:    "10.0.0.7",
			PodIPs:   []string{"10.0.0.7", "fd00::7"},
			HostIP:   "192.0.2.1",
			Containers: []model.ContainerStatus{{
				Name:        "app",
				Type:        model.ContainerRegular,
				Image:       "nginx:1.27",
				ImageID:     "docker.io/library/nginx@sha256:0123",
				Digest:      "sha256:0123",
				ContainerID: "containerd://abc",
				Ready:       true,
				Running:     true,
			}},
		},
	}
}

// FullObject returns an object of kind with every field of the model set.
// Cluster-scoped kinds ignore namespace.
func FullObject(cluster string, kind model.Kind, namespace, name string) model.Object {
	switch kind {
	case model.KindService:
		return &model.Service{
			Meta:                     meta(cluster, namespace, name),
			Type:                     "LoadBalancer",
			Selector:                 map[string]string{"app": "web"},
			ClusterIP:                "10.96.0.10",
			Ports:                    []model.ServicePort{{Name: "https", Protocol: "TCP", Port: 443, TargetPort: "https", NodePort: 30443}},
			ExternalIPs:              []string{"198.51.100.1"},
			ExternalName:             "web.example.com",
			LoadBalancerIngress:      []string{"203.0.113.9"},
			LoadBalancerSourceRanges: []string{"0.0.0.0/0"},
		}
	case model.KindIngress:
		backend := model.IngressBackend{Service: "web", Port: "https", Resource: "StorageBucket/static"}
		return &model.Ingress{
			Meta:                meta(cluster, namespace, name),
			ClassName:           "nginx",
			DefaultBackend:      &backend,
			Rules:               []model.IngressRule{{Host: "web.example.com", Paths: []model.IngressPath{{Path: "/", PathType: "Prefix", Backend: backend}}}},
			TLSHosts:            []string{"web.example.com"},
			LoadBalancerIngress: []string{"203.0.113.10"},
		}
	case model.KindNetworkPolicy:
		rule := model.NetworkPolicyRule{
			Peers: []model.NetworkPolicyPeer{{
				PodSelector:       selector(),
				NamespaceSelector: selector(),
				IPBlock:           &model.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}},
			}},
			Ports: []model.NetworkPolicyPort{{Protocol: "TCP", Port: "8000", EndPort: ptr(int32(9000))}},
		}
		return &model.NetworkPolicy{
			Meta:        meta(cluster, namespace, name),
			PodSelector: *selector(),
			PolicyTypes: []string{"Ingress", "Egress"},
			Ingress:     []model.NetworkPolicyRule{rule},
			Egress:      []model.NetworkPolicyRule{rule},
		}
	case model.KindNamespace:
		return &model.Namespace{Meta: meta(cluster, "", name)}
	case model.KindNode:
		return &model.Node{
			Meta:        meta(cluster, "", name),
			InternalIPs: []string{"192.0.2.1"},
			ExternalIPs: []string{"198.51.100.2"},
			Kubelet:     "v1.31.2",
			OSImage:     "Debian GNU/Linux 12 (bookworm)",
			Runtime:     "containerd://1.7.22",
		}
	}
	if model.IsWorkloadKind(kind) {
		return FullWorkload(cluster, kind, namespace, name)
	}
	panic(fmt.Sprintf("storetest: no fixture for kind %q", kind))
}

// EveryKind returns one full object of every kind in cluster, ordered by
// key.
func EveryKind(cluster string) []model.Object {
	out := make([]model.Object, 0, len(model.AllKinds))
	for _, k := range model.AllKinds {
		out = append(out, FullObject(cluster, k, "prod", "web"))
	}
	sortObjects(out)
	return out
}

// Workload returns a realistic Deployment, about one kilobyte of JSON, for
// batches and benchmarks.
func Workload(cluster, namespace, name string) *model.Workload {
	return &model.Workload{
		Meta: model.Meta{
			Cluster:         cluster,
			Namespace:       namespace,
			Name:            name,
			UID:             "uid-" + name,
			ResourceVersion: "1",
			Labels:          map[string]string{"app": name, "app.kubernetes.io/part-of": "shop"},
			CreatedAt:       time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC),
			Source:          "live",
		},
		Kind:     model.KindDeployment,
		Selector: &model.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Replicas: ptr(int32(2)),
		Template: model.PodTemplate{
			Labels:         map[string]string{"app": name},
			ServiceAccount: name,
			Containers: []model.Container{{
				Name: "app",
				Type: model.ContainerRegular,
				Image: model.ImageRef{
					Original:   "registry.example.com/shop/" + name + ":v1.2.3",
					Registry:   "registry.example.com",
					Repository: "shop/" + name,
					Tag:        "v1.2.3",
				},
				SecurityContext: model.SecurityContext{
					AllowPrivilegeEscalation: ptr(false),
					RunAsNonRoot:             ptr(true),
					ReadOnlyRootFilesystem:   true,
					CapDrop:                  []string{"ALL"},
					SeccompProfile:           "RuntimeDefault",
				},
				Ports:        []model.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: "TCP"}},
				VolumeMounts: []model.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
			}},
			Volumes: []model.Volume{{Name: "tmp", Type: model.VolumeEmptyDir}},
		},
	}
}

// Workloads returns n workloads in cluster spread over ten namespaces.
func Workloads(cluster string, n int) []model.Object {
	out := make([]model.Object, n)
	for i := range out {
		out[i] = Workload(cluster, fmt.Sprintf("ns-%d", i%10), fmt.Sprintf("app-%05d", i))
	}
	return out
}
