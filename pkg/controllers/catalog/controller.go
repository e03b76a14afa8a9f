// Package catalog keeps the cloud provider's offering catalogue warm: it asks for the offerings
// of every datacenter in use, so provisioning never waits on a cold catalogue, and reports
// readiness until the catalogue of the operator's datacenter has loaded once.
package catalog

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"go.uber.org/multierr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// DefaultInterval between refreshes. The provider's own TTL decides whether a refresh reaches
// the API; this only keeps it from going cold.
const DefaultInterval = time.Minute

// Options configure the controller.
type Options struct {
	// Datacenter is the operator's (the cluster's) datacenter; readiness waits for its catalogue.
	Datacenter string
	// Interval between refreshes.
	Interval time.Duration
}

// Controller refreshes the catalogue periodically.
type Controller struct {
	kubeClient    client.Client
	cloudProvider cloudprovider.CloudProvider
	clock         clock.Clock
	opts          Options

	mu      sync.Mutex
	loaded  bool
	lastErr error
}

var (
	_ manager.Runnable               = (*Controller)(nil)
	_ manager.LeaderElectionRunnable = (*Controller)(nil)
)

// NewController returns the catalogue controller; a zero Interval gets DefaultInterval.
func NewController(kubeClient client.Client, cp cloudprovider.CloudProvider, clk clock.Clock, opts Options) *Controller {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	return &Controller{kubeClient: kubeClient, cloudProvider: cp, clock: clk, opts: opts}
}

// Register adds the controller to the manager.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	return mgr.Add(c)
}

// NeedLeaderElection is false: warming a read-only cache is harmless on every replica, and
// readiness gated on it must not keep standby replicas (and so rollouts) unready forever.
func (c *Controller) NeedLeaderElection() bool { return false }

// Start refreshes every Interval until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithName("catalog"))
	for {
		if err := c.Reconcile(ctx); err != nil {
			log.FromContext(ctx).Error(err, "refreshing offering catalogue")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(c.opts.Interval):
		}
	}
}

// Reconcile asks for the offerings of the operator's datacenter and of every datacenter a
// NodeGroup names. The catalogue counts as loaded once the operator's datacenter (or, without
// one, any datacenter) answered; other datacenters' failures are returned but do not block it.
func (c *Controller) Reconcile(ctx context.Context) error {
	datacenters, err := c.datacenters(ctx)
	if err != nil {
		c.setResult(false, err)
		return err
	}
	var errs error
	loaded := len(datacenters) == 0
	for _, dc := range datacenters {
		offerings, err := c.cloudProvider.Offerings(ctx, &v1alpha1.NodeGroup{
			ObjectMeta: metav1.ObjectMeta{Name: "datacenter-" + dc},
			Spec:       v1alpha1.NodeGroupSpec{DatacenterID: dc},
		})
		if err != nil {
			errs = multierr.Append(errs, fmt.Errorf("loading offerings of datacenter %s, %w", dc, err))
			continue
		}
		log.FromContext(ctx).V(1).Info("offering catalogue loaded", "datacenter", dc, "offerings", len(offerings))
		if c.opts.Datacenter == "" || dc == c.opts.Datacenter {
			loaded = true
		}
	}
	c.setResult(loaded, errs)
	return errs
}

// datacenters is the operator's datacenter and those of the NodeGroups, sorted, operator's first.
func (c *Controller) datacenters(ctx context.Context) ([]string, error) {
	ngs := &v1alpha1.NodeGroupList{}
	if err := c.kubeClient.List(ctx, ngs); err != nil {
		return nil, fmt.Errorf("listing nodegroups, %w", err)
	}
	var others []string
	for _, ng := range ngs.Items {
		if dc := ng.Spec.DatacenterID; dc != "" && dc != c.opts.Datacenter && !slices.Contains(others, dc) {
			others = append(others, dc)
		}
	}
	slices.Sort(others)
	if c.opts.Datacenter != "" {
		return append([]string{c.opts.Datacenter}, others...), nil
	}
	return others, nil
}

func (c *Controller) setResult(loaded bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.loaded = c.loaded || loaded
	c.lastErr = err
}

// Loaded reports whether the catalogue has loaded at least once.
func (c *Controller) Loaded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loaded
}

// Ready is a /readyz check: nil once the catalogue has loaded.
func (c *Controller) Ready() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.loaded:
		return nil
	case c.lastErr != nil:
		return fmt.Errorf("catalogue not loaded yet: %w", c.lastErr)
	default:
		return fmt.Errorf("catalogue not loaded yet")
	}
}
