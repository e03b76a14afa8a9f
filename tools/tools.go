//go:build tools

// Package tools pins the Kubernetes control-plane commands that hack/tools.sh builds from this
// module. They live in their own module so that the project's go.mod stays free of them.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
