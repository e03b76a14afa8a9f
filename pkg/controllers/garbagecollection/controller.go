// Package garbagecollection removes what the autoscaler leaked: VMs of its node groups that no
// VPSieNode claims, and VPSieNodes whose VM vanished.
package garbagecollection

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/multierr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
)

// Defaults of Options.
const (
	DefaultGracePeriod = 10 * time.Minute
	DefaultInterval    = time.Minute
)

// Options configure garbage collection.
type Options struct {
	// GracePeriod is how long an instance must have been seen unclaimed before it is deleted.
	GracePeriod time.Duration
	// Interval between passes.
	Interval time.Duration
}

// Controller is a leader-only periodic pass over instances and VPSieNodes.
type Controller struct {
	kubeClient    client.Client
	cloudProvider cloudprovider.CloudProvider
	clock         clock.Clock
	recorder      record.EventRecorder
	opts          Options

	mu sync.Mutex
	// firstSeen is when each instance was first seen unclaimed. In memory: a restarted (or newly
	// elected) controller waits a full grace period again, which errs on the side of keeping VMs.
	firstSeen map[string]time.Time
}

var (
	_ manager.Runnable               = (*Controller)(nil)
	_ manager.LeaderElectionRunnable = (*Controller)(nil)
)

// NewController returns the garbage collector; zero options get the defaults.
func NewController(kubeClient client.Client, cp cloudprovider.CloudProvider, clk clock.Clock, recorder record.EventRecorder, opts Options) *Controller {
	if opts.GracePeriod <= 0 {
		opts.GracePeriod = DefaultGracePeriod
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	return &Controller{kubeClient: kubeClient, cloudProvider: cp, clock: clk, recorder: recorder, opts: opts, firstSeen: map[string]time.Time{}}
}

// Register adds the controller to the manager.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	return mgr.Add(c)
}

// NeedLeaderElection: deleting VMs is for the leader only.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start runs a pass every Interval until ctx ends.
func (c *Controller) Start(ctx context.Context) error {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithName("garbagecollection"))
	for {
		if err := c.Reconcile(ctx); err != nil {
			log.FromContext(ctx).Error(err, "garbage collection pass failed")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.clock.After(c.opts.Interval):
		}
	}
}

// Reconcile is one pass. A failed List skips it: deciding on a partial view of the cloud could
// delete a VM in use.
func (c *Controller) Reconcile(ctx context.Context) error {
	instances, err := c.cloudProvider.List(ctx)
	if err != nil {
		return fmt.Errorf("listing instances, skipping garbage collection, %w", err)
	}
	// VPSieNodes are listed after the instances, so a VM launched in between is claimed here or
	// missing from instances; never seen as an orphan.
	vns := &v1alpha1.VPSieNodeList{}
	if err := c.kubeClient.List(ctx, vns); err != nil {
		return fmt.Errorf("listing vpsienodes, %w", err)
	}
	nodes := &corev1.NodeList{}
	if err := c.kubeClient.List(ctx, nodes); err != nil {
		return fmt.Errorf("listing nodes, %w", err)
	}
	return multierr.Combine(
		c.deleteOrphanInstances(ctx, instances, vns.Items, nodes.Items),
		c.deleteVanishedNodes(ctx, instances, vns.Items),
	)
}

func (c *Controller) deleteOrphanInstances(ctx context.Context, instances []*cloudprovider.Instance, vns []v1alpha1.VPSieNode, nodes []corev1.Node) error {
	claimed := map[string]bool{}
	pendingGroups := map[string]bool{}
	for i := range vns {
		vn := &vns[i]
		if vn.Status.InstanceID != "" {
			claimed[vn.Status.InstanceID] = true
		}
		if vn.Status.ProviderID != "" {
			claimed[vn.Status.ProviderID] = true
		}
		// A worker asked for but not yet attributed: any unclaimed VM of that VPSie group may be it.
		if vn.Status.InstanceID == "" && vn.Annotations[v1alpha1.AnnotationWorkerRequested] != "" {
			pendingGroups[vn.Annotations[v1alpha1.AnnotationWorkerGroup]] = true
		}
	}
	nodeByProviderID := map[string]*corev1.Node{}
	for i := range nodes {
		if nodes[i].Spec.ProviderID != "" {
			nodeByProviderID[nodes[i].Spec.ProviderID] = &nodes[i]
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	unclaimed := map[string]bool{}
	var errs error
	for _, in := range instances {
		providerID := in.ProviderID
		if providerID == "" {
			providerID = cloudprovider.ProviderID(in.ID)
		}
		if claimed[in.ID] || claimed[providerID] {
			continue
		}
		unclaimed[in.ID] = true
		first, ok := c.firstSeen[in.ID]
		if !ok {
			c.firstSeen[in.ID] = now
			first = now
		}
		logger := log.FromContext(ctx).WithValues("instance", in.ID, "group", in.Group, "hostname", in.Hostname)
		if now.Sub(first) < c.opts.GracePeriod {
			logger.V(1).Info("instance unclaimed, within grace period", "since", first)
			continue
		}
		if pendingGroups[in.Group] {
			logger.V(1).Info("instance unclaimed, but a worker request of its group is pending")
			continue
		}
		err := c.cloudProvider.Delete(ctx, &v1alpha1.VPSieNode{
			// Not a real object: the name is invalid as an object name so it can never be taken for one.
			ObjectMeta: metav1.ObjectMeta{Name: "orphan:" + in.ID},
			Status:     v1alpha1.VPSieNodeStatus{InstanceID: in.ID, ProviderID: providerID},
		})
		if err != nil && !cloudprovider.IsNotFound(err) {
			errs = multierr.Append(errs, fmt.Errorf("deleting orphan instance %s, %w", in.ID, err))
			continue
		}
		delete(c.firstSeen, in.ID)
		unclaimedFor := now.Sub(first).Round(time.Second).String()
		metrics.GarbageCollected.WithLabelValues("orphan_instance").Inc()
		logger.Info("deleted orphan instance, no VPSieNode claims it", "unclaimedFor", unclaimedFor)
		if node, ok := nodeByProviderID[providerID]; ok {
			orphanInstanceDeleted(c.recorder, node, in, unclaimedFor)
		}
	}
	// Forget instances that went away or were claimed, so a later orphan starts a fresh grace.
	for id := range c.firstSeen {
		if !unclaimed[id] {
			delete(c.firstSeen, id)
		}
	}
	return errs
}

func (c *Controller) deleteVanishedNodes(ctx context.Context, instances []*cloudprovider.Instance, vns []v1alpha1.VPSieNode) error {
	listed := map[string]bool{}
	for _, in := range instances {
		listed[in.ID] = true
	}
	var errs error
	for i := range vns {
		vn := &vns[i]
		if vn.Status.InstanceID == "" || listed[vn.Status.InstanceID] || !vn.DeletionTimestamp.IsZero() {
			continue
		}
		providerID := vn.Status.ProviderID
		if providerID == "" {
			providerID = cloudprovider.ProviderID(vn.Status.InstanceID)
		}
		// A list can lag a launch; only an explicit NotFound proves the VM is gone.
		if _, err := c.cloudProvider.Get(ctx, providerID); err == nil {
			continue
		} else if !cloudprovider.IsNotFound(err) {
			errs = multierr.Append(errs, fmt.Errorf("getting instance %s of vpsienode %s, %w", vn.Status.InstanceID, vn.Name, err))
			continue
		}
		if err := c.kubeClient.Delete(ctx, vn); client.IgnoreNotFound(err) != nil {
			errs = multierr.Append(errs, fmt.Errorf("deleting vpsienode %s, %w", vn.Name, err))
			continue
		}
		metrics.GarbageCollected.WithLabelValues("instance_gone").Inc()
		log.FromContext(ctx).Info("deleted vpsienode, its instance is gone", "VPSieNode", vn.Name, "NodeGroup", vn.Spec.NodeGroup, "instance", vn.Status.InstanceID)
		instanceGone(c.recorder, vn)
	}
	return errs
}
