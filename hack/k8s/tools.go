//go:build tools

// Package tools pins the Kubernetes control-plane commands that the
// integration tests and the lab build. It lives in its own module so that
// k8s.io/kubernetes never enters Palisade's go.mod.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
