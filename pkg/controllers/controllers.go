// Package controllers wires every controller of the autoscaler onto a controller-runtime
// manager. Everything that writes or decides runs only on the elected leader.
package controllers

import (
	"context"
	"fmt"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/catalog"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/disruption/emptiness"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/garbagecollection"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/nodegroup"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/provisioning"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/vpsienode/lifecycle"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/vpsienode/termination"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/state"
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
	// SkipReplay launches plans as packed, without the scheduler replay (see provisioning).
	SkipReplay bool
	// RegistrationTimeout deletes a VPSieNode whose Node has not registered by then (default 15m).
	RegistrationTimeout time.Duration
	// BatchReleaseWindow: the new Nodes of one provisioning pass are held under a NoSchedule
	// taint until all of them are Ready, at most this long after the first was held; 0 holds
	// nothing. The binary's default is 30s.
	BatchReleaseWindow time.Duration
	// TerminationGracePeriod: after this long in termination, pods that block draining
	// (do-not-disrupt) are evicted anyway (default 1h).
	TerminationGracePeriod time.Duration
	// GarbageCollectionGracePeriod: an instance with no VPSieNode is deleted after this long (default 10m).
	GarbageCollectionGracePeriod time.Duration
	// GarbageCollectionInterval is the period of garbage collection (default 1m).
	GarbageCollectionInterval time.Duration
}

// Deps are what the controllers are built from.
type Deps struct {
	Manager       manager.Manager
	CloudProvider cloudprovider.CloudProvider
	Clock         clock.WithTicker
	Options       Options
}

// EventSource names the autoscaler in the events it emits.
const EventSource = "vpsie-autoscaler"

// Register builds every controller and adds it to the manager. It returns readiness checks
// (name -> check) the operator adds to /readyz.
func Register(ctx context.Context, deps Deps) (map[string]func() error, error) {
	mgr, cp, clk, opts := deps.Manager, deps.CloudProvider, deps.Clock, deps.Options
	kube := mgr.GetClient()
	// The controllers and their tests speak record.EventRecorder (core/v1 events); moving them to
	// the events.k8s.io recorder is its own change.
	recorder := mgr.GetEventRecorderFor(EventSource) //nolint:staticcheck // SA1019, see above

	cluster := state.NewCluster(clk)
	if err := cluster.Register(ctx, mgr); err != nil {
		return nil, fmt.Errorf("registering the cluster state, %w", err)
	}
	cat := catalog.NewController(kube, cp, clk, catalog.Options{Datacenter: opts.Datacenter})
	registrars := []struct {
		name string
		reg  func(context.Context, manager.Manager) error
	}{
		{"catalog", cat.Register},
		{"provisioning", provisioning.NewProvisioner(kube, mgr.GetAPIReader(), cluster, cp, clk, recorder, provisioning.Options{
			DryRun: opts.DryRun, BatchIdle: opts.BatchIdle, BatchMax: opts.BatchMax, SolveDeadline: opts.SolveDeadline,
			SkipReplay: opts.SkipReplay, BatchReleaseWindow: opts.BatchReleaseWindow,
		}).Register},
		{"vpsienode.lifecycle", lifecycle.NewController(kube, cp, clk, recorder, lifecycle.Options{
			RegistrationTimeout: opts.RegistrationTimeout, BatchReleaseWindow: opts.BatchReleaseWindow,
		}).Register},
		{"vpsienode.termination", termination.NewController(kube, cp, clk, recorder, termination.Options{TerminationGracePeriod: opts.TerminationGracePeriod}).Register},
		// Shares the provisioner's cluster state: a node that pending pods were planned onto stays.
		{"disruption.emptiness", emptiness.NewController(kube, mgr.GetAPIReader(), cluster, clk, recorder, emptiness.Options{DryRun: opts.DryRun}).Register},
		{"nodegroup", nodegroup.NewController(kube, cp, clk, recorder, nodegroup.Options{DryRun: opts.DryRun}).Register},
		{"garbagecollection", garbagecollection.NewController(kube, cp, clk, recorder, garbagecollection.Options{
			GracePeriod: opts.GarbageCollectionGracePeriod, Interval: opts.GarbageCollectionInterval,
		}).Register},
	}
	for _, r := range registrars {
		if err := r.reg(ctx, mgr); err != nil {
			return nil, fmt.Errorf("registering the %s controller, %w", r.name, err)
		}
	}
	return map[string]func() error{"catalog": cat.Ready}, nil
}
