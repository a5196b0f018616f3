package manifest

import (
	networkingv1 "k8s.io/api/networking/v1"
	networkingv1beta1 "k8s.io/api/networking/v1beta1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ingressFromV1beta1 converts the removed extensions/v1beta1 and
// networking.k8s.io/v1beta1 Ingress (still common in manifests) to v1.
func ingressFromV1beta1(in *networkingv1beta1.Ingress) *networkingv1.Ingress {
	out := &networkingv1.Ingress{ObjectMeta: in.ObjectMeta}
	out.Spec.IngressClassName = in.Spec.IngressClassName
	if in.Spec.Backend != nil {
		out.Spec.DefaultBackend = backendFromV1beta1(in.Spec.Backend)
	}
	for _, t := range in.Spec.TLS {
		out.Spec.TLS = append(out.Spec.TLS, networkingv1.IngressTLS{Hosts: t.Hosts, SecretName: t.SecretName})
	}
	for _, r := range in.Spec.Rules {
		rule := networkingv1.IngressRule{Host: r.Host}
		if r.HTTP != nil {
			rule.HTTP = &networkingv1.HTTPIngressRuleValue{}
			for _, p := range r.HTTP.Paths {
				path := networkingv1.HTTPIngressPath{Path: p.Path, Backend: *backendFromV1beta1(&p.Backend)}
				if p.PathType != nil {
					pt := networkingv1.PathType(*p.PathType)
					path.PathType = &pt
				}
				rule.HTTP.Paths = append(rule.HTTP.Paths, path)
			}
		}
		out.Spec.Rules = append(out.Spec.Rules, rule)
	}
	for _, lb := range in.Status.LoadBalancer.Ingress {
		out.Status.LoadBalancer.Ingress = append(out.Status.LoadBalancer.Ingress, networkingv1.IngressLoadBalancerIngress{IP: lb.IP, Hostname: lb.Hostname})
	}
	return out
}

func backendFromV1beta1(b *networkingv1beta1.IngressBackend) *networkingv1.IngressBackend {
	out := &networkingv1.IngressBackend{Resource: b.Resource}
	if b.ServiceName != "" {
		out.Service = &networkingv1.IngressServiceBackend{Name: b.ServiceName}
		if b.ServicePort.Type == intstr.String {
			out.Service.Port.Name = b.ServicePort.StrVal
		} else {
			out.Service.Port.Number = b.ServicePort.IntVal
		}
	}
	return out
}
