// Package nodegroup keeps a NodeGroup's status (node counts, resources in use, conditions) and
// metrics current, creates the nodes its minNodes asks for, and deletes its VPSieNodes when the
// NodeGroup goes away.
package nodegroup

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"go.uber.org/multierr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	controllerruntime "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
)

// Finalizer holds a NodeGroup until every VPSieNode of it is gone, so deleting a group drains and
// removes its nodes instead of orphaning them.
const Finalizer = v1alpha1.Group + "/nodegroup"

const (
	// resyncPeriod re-evaluates offerings (availability and prices change without an event).
	resyncPeriod = time.Minute
	// finalizeRequeue polls a deleting group while its VPSieNodes terminate.
	finalizeRequeue = 5 * time.Second
	// createdTTL is how long a VPSieNode this controller created counts towards minNodes before the
	// (cached) client lists it; long enough for any informer lag.
	createdTTL = time.Minute
	// orphanGrace protects young VPSieNodes of a NodeGroup the cache does not show: informers of two
	// kinds are not ordered, so a brand-new group may be seen after its first node.
	orphanGrace = time.Minute
	// maxReasons bounds how many exclusion reasons a condition message lists.
	maxReasons = 5
)

// Options configure the controller.
type Options struct {
	// DryRun logs and emits events instead of creating VPSieNodes for minNodes.
	DryRun bool
}

// Controller reconciles NodeGroups.
type Controller struct {
	kubeClient    client.Client
	cloudProvider cloudprovider.CloudProvider
	clock         clock.Clock
	recorder      record.EventRecorder
	opts          Options

	mu sync.Mutex
	// created remembers, per NodeGroup, the VPSieNodes created for minNodes and when, until the
	// client lists them, so a reconcile right after a create does not create them again.
	created map[string]map[string]time.Time
}

// NewController returns the NodeGroup controller.
func NewController(kubeClient client.Client, cp cloudprovider.CloudProvider, clk clock.Clock, recorder record.EventRecorder, opts Options) *Controller {
	return &Controller{
		kubeClient:    kubeClient,
		cloudProvider: cp,
		clock:         clk,
		recorder:      recorder,
		opts:          opts,
		created:       map[string]map[string]time.Time{},
	}
}

// Register watches NodeGroups, and VPSieNodes mapped to their spec.nodeGroup.
func (c *Controller) Register(_ context.Context, mgr manager.Manager) error {
	return controllerruntime.NewControllerManagedBy(mgr).
		Named("nodegroup").
		For(&v1alpha1.NodeGroup{}).
		Watches(&v1alpha1.VPSieNode{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			vn, ok := o.(*v1alpha1.VPSieNode)
			if !ok || vn.Spec.NodeGroup == "" {
				return nil
			}
			return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: vn.Spec.NodeGroup}}}
		})).
		Complete(reconcile.Func(c.reconcileRequest))
}

// reconcileRequest fetches the NodeGroup; a NodeGroup that is gone gets its nodes and metric
// series cleaned up.
func (c *Controller) reconcileRequest(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ng := &v1alpha1.NodeGroup{}
	if err := c.kubeClient.Get(ctx, req.NamespacedName, ng); err != nil {
		if client.IgnoreNotFound(err) != nil {
			return reconcile.Result{}, fmt.Errorf("getting nodegroup, %w", err)
		}
		return c.reconcileGone(ctx, req.Name)
	}
	return c.Reconcile(ctx, ng)
}

// Reconcile brings one NodeGroup's status, metrics and minNodes up to date.
func (c *Controller) Reconcile(ctx context.Context, ng *v1alpha1.NodeGroup) (result reconcile.Result, err error) {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("NodeGroup", ng.Name))
	if !ng.DeletionTimestamp.IsZero() {
		return c.finalize(ctx, ng)
	}
	if !controllerutil.ContainsFinalizer(ng, Finalizer) {
		stored := ng.DeepCopy()
		controllerutil.AddFinalizer(ng, Finalizer)
		if err := c.kubeClient.Patch(ctx, ng, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("adding finalizer, %w", err))
		}
	}

	stored := ng.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(stored.Status, ng.Status) {
			return
		}
		if perr := c.kubeClient.Status().Patch(ctx, ng, client.MergeFrom(stored)); client.IgnoreNotFound(perr) != nil {
			err = multierr.Append(err, fmt.Errorf("patching nodegroup status, %w", perr))
		}
	}()

	all, err := c.nodesOf(ctx, ng.Name)
	if err != nil {
		return reconcile.Result{}, err
	}
	var active []*v1alpha1.VPSieNode
	for _, vn := range all {
		if vn.DeletionTimestamp.IsZero() {
			active = append(active, vn)
		}
	}

	offerings, offeringsErr := c.cloudProvider.Offerings(ctx, ng)
	allowed := c.resolveOfferings(ctx, ng, offerings, offeringsErr)
	catalogue := map[string]cloudprovider.Offering{}
	for _, o := range offerings {
		catalogue[o.ID] = o
	}
	budgetsErr := c.checkBudgets(ng)

	created, createErr := c.ensureMinNodes(ctx, ng, all, active, allowed, catalogue)
	active = append(active, created...)
	all = append(all, created...)

	usage := corev1.ResourceList{corev1.ResourceCPU: resource.Quantity{}, corev1.ResourceMemory: resource.Quantity{}}
	ready := int32(0)
	for _, vn := range active {
		addCapacity(usage, capacityOf(vn, catalogue))
		if meta.IsStatusConditionTrue(vn.Status.Conditions, v1alpha1.VPSieNodeInitialized) {
			ready++
		}
	}
	ng.Status.Nodes = int32(len(active))
	ng.Status.ReadyNodes = ready
	ng.Status.Resources = usage
	ng.Status.ObservedGeneration = ng.Generation
	c.setLimitsCondition(ng, len(active), usage)
	c.setReadyCondition(ctx, ng, budgetsErr)
	recordMetrics(ng, all, len(active), usage)

	return reconcile.Result{RequeueAfter: resyncPeriod}, createErr
}

// resolveOfferings sets OfferingsResolved and returns the allowed offerings, cheapest first.
func (c *Controller) resolveOfferings(ctx context.Context, ng *v1alpha1.NodeGroup, offerings []cloudprovider.Offering, offeringsErr error) []cloudprovider.Offering {
	cond := metav1.Condition{Type: v1alpha1.NodeGroupOfferingsResolved, Status: metav1.ConditionFalse}
	var allowed []cloudprovider.Offering
	switch {
	case offeringsErr != nil:
		cond.Reason = v1alpha1.ReasonCatalogUnavailable
		cond.Message = fmt.Sprintf("listing offerings of datacenter %s, %v", ng.Spec.DatacenterID, offeringsErr)
	default:
		var excluded []string
		var err error
		allowed, excluded, err = cloudprovider.AllowedOfferings(ng, offerings)
		switch {
		case err != nil:
			cond.Reason = v1alpha1.ReasonInvalidRequirements
			cond.Message = err.Error()
		case len(offerings) == 0:
			cond.Reason = v1alpha1.ReasonNoMatchingOfferings
			cond.Message = fmt.Sprintf("datacenter %s has no offerings", ng.Spec.DatacenterID)
		case len(allowed) == 0:
			cond.Reason = v1alpha1.ReasonNoMatchingOfferings
			cond.Message = fmt.Sprintf("none of the %d offerings of datacenter %s is allowed: %s", len(offerings), ng.Spec.DatacenterID, summarise(excluded))
		default:
			cond.Status = metav1.ConditionTrue
			cond.Reason = v1alpha1.ReasonOfferingsResolved
			cond.Message = fmt.Sprintf("%d of %d offerings allowed, cheapest %s at %.5f/h", len(allowed), len(offerings), allowed[0], allowed[0].HourlyPrice)
		}
	}
	if c.setCondition(ng, cond) && cond.Status == metav1.ConditionFalse {
		log.FromContext(ctx).Info("no offering resolved", "reason", cond.Reason, "message", cond.Message)
		offeringsNotResolved(c.recorder, ng, cond.Reason, cond.Message)
	}
	return allowed
}

// summarise lists the first few reasons and how many more there are.
func summarise(reasons []string) string {
	if len(reasons) <= maxReasons {
		return strings.Join(reasons, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(reasons[:maxReasons], "; "), len(reasons)-maxReasons)
}

// checkBudgets parses every budget schedule the way the disruption controllers will.
func (c *Controller) checkBudgets(ng *v1alpha1.NodeGroup) error {
	var errs error
	for i, b := range ng.Spec.Disruption.Budgets {
		if b.Schedule == nil {
			continue
		}
		if _, err := cron.ParseStandard(*b.Schedule); err != nil {
			errs = multierr.Append(errs, fmt.Errorf("budget %d schedule %q: %w", i, *b.Schedule, err))
		}
	}
	return errs
}

func (c *Controller) setLimitsCondition(ng *v1alpha1.NodeGroup, nodes int, usage corev1.ResourceList) {
	cond := metav1.Condition{Type: v1alpha1.NodeGroupLimitsExceeded, Status: metav1.ConditionTrue}
	if reason := exceeded(ng, nodes, usage, nil); reason != "" {
		cond.Reason = v1alpha1.ReasonResourceLimitReached
		if nodes >= int(ng.Spec.MaxNodes) {
			cond.Reason = v1alpha1.ReasonMaxNodesReached
		}
		cond.Message = reason
	} else {
		cond.Status = metav1.ConditionFalse
		cond.Reason = v1alpha1.ReasonWithinLimits
		cond.Message = fmt.Sprintf("%d of maxNodes %d nodes", nodes, ng.Spec.MaxNodes)
	}
	c.setCondition(ng, cond)
}

// exceeded says why the group cannot take a node of capacity extra ("" when it can); with extra
// nil, why it is at its limits.
func exceeded(ng *v1alpha1.NodeGroup, nodes int, usage, extra corev1.ResourceList) string {
	if nodes >= int(ng.Spec.MaxNodes) {
		return fmt.Sprintf("%d nodes, maxNodes is %d", nodes, ng.Spec.MaxNodes)
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		limit, ok := ng.Spec.Limits[name]
		if !ok {
			continue
		}
		used := usage[name].DeepCopy()
		if extra == nil {
			if used.Cmp(limit) >= 0 {
				return fmt.Sprintf("%s in use %s reaches limit %s", name, used.String(), limit.String())
			}
			continue
		}
		used.Add(extra[name])
		if used.Cmp(limit) > 0 {
			return fmt.Sprintf("%s would be %s, over limit %s", name, used.String(), limit.String())
		}
	}
	return ""
}

func (c *Controller) setReadyCondition(ctx context.Context, ng *v1alpha1.NodeGroup, budgetsErr error) {
	cond := metav1.Condition{Type: v1alpha1.NodeGroupReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonReady, Message: "offerings resolved and disruption budgets valid"}
	if resolved := meta.FindStatusCondition(ng.Status.Conditions, v1alpha1.NodeGroupOfferingsResolved); resolved == nil || resolved.Status != metav1.ConditionTrue {
		cond.Status = metav1.ConditionFalse
		cond.Reason, cond.Message = v1alpha1.ReasonNoMatchingOfferings, "offerings not resolved"
		if resolved != nil {
			cond.Reason, cond.Message = resolved.Reason, resolved.Message
		}
	} else if budgetsErr != nil {
		cond.Status = metav1.ConditionFalse
		cond.Reason = v1alpha1.ReasonInvalidBudgetSchedule
		cond.Message = budgetsErr.Error()
	}
	// The budget event is tied to the condition changing, so a bad schedule is announced once, not
	// every resync.
	if c.setCondition(ng, cond) && cond.Reason == v1alpha1.ReasonInvalidBudgetSchedule {
		log.FromContext(ctx).Info("invalid disruption budget schedule", "error", budgetsErr)
		invalidBudgetSchedule(c.recorder, ng, cond.Message)
	}
}

// setCondition sets cond (stamped with the clock and the generation) and reports whether its
// status, reason or message changed.
func (c *Controller) setCondition(ng *v1alpha1.NodeGroup, cond metav1.Condition) bool {
	old := meta.FindStatusCondition(ng.Status.Conditions, cond.Type)
	changed := old == nil || old.Status != cond.Status || old.Reason != cond.Reason || old.Message != cond.Message
	cond.ObservedGeneration = ng.Generation
	cond.LastTransitionTime = metav1.NewTime(c.clock.Now())
	meta.SetStatusCondition(&ng.Status.Conditions, cond)
	return changed
}

// ensureMinNodes creates the VPSieNodes missing to reach minNodes on the cheapest allowed
// offering, never beyond maxNodes or limits; it returns those it created.
func (c *Controller) ensureMinNodes(ctx context.Context, ng *v1alpha1.NodeGroup, all, active []*v1alpha1.VPSieNode,
	allowed []cloudprovider.Offering, catalogue map[string]cloudprovider.Offering) ([]*v1alpha1.VPSieNode, error) {
	inFlight := c.inFlight(ng.Name, all)
	missing := int(ng.Spec.MinNodes) - len(active) - inFlight
	if missing <= 0 {
		return nil, nil
	}
	if len(allowed) == 0 {
		minNodesBlocked(c.recorder, ng, missing, "no offering is allowed")
		return nil, nil
	}
	o := allowed[0]
	extra := scheduling.Capacity(o.CPU, o.MemoryMiB, 0, 0)
	usage := corev1.ResourceList{}
	for _, vn := range active {
		addCapacity(usage, capacityOf(vn, catalogue))
	}
	// In-flight nodes are of unknown offering here; count them as the one we would create.
	for range inFlight {
		addCapacity(usage, extra)
	}
	nodes := len(active) + inFlight
	planned := 0
	var blocked string
	for range missing {
		if blocked = exceeded(ng, nodes+planned, usage, extra); blocked != "" {
			break
		}
		planned++
		addCapacity(usage, extra)
	}
	if blocked != "" {
		minNodesBlocked(c.recorder, ng, missing-planned, blocked)
	}
	if planned == 0 {
		return nil, nil
	}
	logger := log.FromContext(ctx)
	if c.opts.DryRun {
		logger.Info("dry run, not creating nodes for minNodes", "count", planned, "offering", o.Name, "minNodes", ng.Spec.MinNodes)
		minNodesDryRun(c.recorder, ng, planned, o.Name)
		return nil, nil
	}
	var created []*v1alpha1.VPSieNode
	for range planned {
		vn := cloudprovider.NewVPSieNode(ng, o, scheduling.DefaultReservation())
		if err := c.kubeClient.Create(ctx, vn); err != nil {
			return created, fmt.Errorf("creating vpsienode for minNodes, %w", err)
		}
		c.expect(ng.Name, vn.Name)
		metrics.NodesCreated.WithLabelValues(ng.Name, "min_nodes").Inc()
		logger.Info("created node for minNodes", "VPSieNode", vn.Name, "offering", o.Name, "minNodes", ng.Spec.MinNodes)
		minNodesCreated(c.recorder, ng, vn)
		created = append(created, vn)
	}
	return created, nil
}

// expect remembers a VPSieNode just created for the group.
func (c *Controller) expect(group, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.created[group] == nil {
		c.created[group] = map[string]time.Time{}
	}
	c.created[group][name] = c.clock.Now()
}

// inFlight counts VPSieNodes created for the group that the client does not list yet, forgetting
// those it lists and those older than createdTTL.
func (c *Controller) inFlight(group string, listed []*v1alpha1.VPSieNode) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	names := map[string]bool{}
	for _, vn := range listed {
		names[vn.Name] = true
	}
	n := 0
	for name, at := range c.created[group] {
		if names[name] || c.clock.Since(at) > createdTTL {
			delete(c.created[group], name)
			continue
		}
		n++
	}
	return n
}

// finalize deletes the group's VPSieNodes and releases the NodeGroup once none is left.
func (c *Controller) finalize(ctx context.Context, ng *v1alpha1.NodeGroup) (reconcile.Result, error) {
	if !controllerutil.ContainsFinalizer(ng, Finalizer) {
		return reconcile.Result{}, nil
	}
	remaining, err := c.deleteNodesOf(ctx, ng.Name, false)
	if err != nil {
		return reconcile.Result{}, err
	}
	if remaining > 0 {
		log.FromContext(ctx).V(1).Info("waiting for nodes to terminate", "count", remaining)
		return reconcile.Result{RequeueAfter: finalizeRequeue}, nil
	}
	stored := ng.DeepCopy()
	controllerutil.RemoveFinalizer(ng, Finalizer)
	if err := c.kubeClient.Patch(ctx, ng, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("removing finalizer, %w", err))
	}
	log.FromContext(ctx).Info("nodegroup deleted, its nodes are gone")
	c.forget(ng.Name)
	return reconcile.Result{}, nil
}

// reconcileGone cleans up after a NodeGroup that no longer exists (deleted without our finalizer).
func (c *Controller) reconcileGone(ctx context.Context, name string) (reconcile.Result, error) {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("NodeGroup", name))
	remaining, err := c.deleteNodesOf(ctx, name, true)
	if err != nil {
		return reconcile.Result{}, err
	}
	c.forget(name)
	if remaining > 0 {
		return reconcile.Result{RequeueAfter: finalizeRequeue}, nil
	}
	return reconcile.Result{}, nil
}

// deleteNodesOf deletes the group's VPSieNodes and returns how many still exist (terminating
// behind their finalizers). With protectYoung, nodes younger than orphanGrace are kept for now.
func (c *Controller) deleteNodesOf(ctx context.Context, group string, protectYoung bool) (int, error) {
	nodes, err := c.nodesOf(ctx, group)
	if err != nil {
		return 0, err
	}
	remaining := 0
	var errs error
	for _, vn := range nodes {
		if !vn.DeletionTimestamp.IsZero() {
			remaining++
			continue
		}
		if protectYoung && c.clock.Since(vn.CreationTimestamp.Time) < orphanGrace {
			remaining++
			continue
		}
		if err := c.kubeClient.Delete(ctx, vn); client.IgnoreNotFound(err) != nil {
			errs = multierr.Append(errs, fmt.Errorf("deleting vpsienode %s, %w", vn.Name, err))
			continue
		}
		log.FromContext(ctx).Info("deleting node of deleted nodegroup", "VPSieNode", vn.Name)
		deletingVPSieNode(c.recorder, vn)
		// Without finalizers the object is gone already; with them termination takes over.
		if len(vn.Finalizers) > 0 {
			remaining++
		}
	}
	return remaining, errs
}

// nodesOf lists the group's VPSieNodes. It filters in memory rather than by a field selector so
// it works the same on a cached client and on a direct one.
func (c *Controller) nodesOf(ctx context.Context, group string) ([]*v1alpha1.VPSieNode, error) {
	list := &v1alpha1.VPSieNodeList{}
	if err := c.kubeClient.List(ctx, list); err != nil {
		return nil, fmt.Errorf("listing vpsienodes, %w", err)
	}
	var out []*v1alpha1.VPSieNode
	for i := range list.Items {
		if list.Items[i].Spec.NodeGroup == group {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// forget drops the group's metric series and expectations.
func (c *Controller) forget(group string) {
	c.mu.Lock()
	delete(c.created, group)
	c.mu.Unlock()
	labels := prometheus.Labels{metrics.LabelNodeGroup: group}
	metrics.NodeGroupUsage.DeletePartialMatch(labels)
	metrics.NodeGroupLimit.DeletePartialMatch(labels)
	metrics.VPSieNodes.DeletePartialMatch(labels)
}

var phases = []v1alpha1.VPSieNodePhase{
	v1alpha1.VPSieNodePending, v1alpha1.VPSieNodeLaunching, v1alpha1.VPSieNodeRegistering,
	v1alpha1.VPSieNodeReady, v1alpha1.VPSieNodeTerminating, v1alpha1.VPSieNodeFailed,
}

func recordMetrics(ng *v1alpha1.NodeGroup, all []*v1alpha1.VPSieNode, nodes int, usage corev1.ResourceList) {
	cpu, memory := usage[corev1.ResourceCPU], usage[corev1.ResourceMemory]
	metrics.NodeGroupUsage.WithLabelValues(ng.Name, "cpu").Set(float64(cpu.MilliValue()) / 1000)
	metrics.NodeGroupUsage.WithLabelValues(ng.Name, "memory").Set(float64(memory.Value()))
	metrics.NodeGroupUsage.WithLabelValues(ng.Name, "nodes").Set(float64(nodes))
	metrics.NodeGroupLimit.WithLabelValues(ng.Name, "nodes").Set(float64(ng.Spec.MaxNodes))
	if q, ok := ng.Spec.Limits[corev1.ResourceCPU]; ok {
		metrics.NodeGroupLimit.WithLabelValues(ng.Name, "cpu").Set(float64(q.MilliValue()) / 1000)
	} else {
		metrics.NodeGroupLimit.DeleteLabelValues(ng.Name, "cpu")
	}
	if q, ok := ng.Spec.Limits[corev1.ResourceMemory]; ok {
		metrics.NodeGroupLimit.WithLabelValues(ng.Name, "memory").Set(float64(q.Value()))
	} else {
		metrics.NodeGroupLimit.DeleteLabelValues(ng.Name, "memory")
	}
	counts := map[v1alpha1.VPSieNodePhase]int{}
	for _, vn := range all {
		counts[phaseOf(vn)]++
	}
	for _, p := range phases {
		metrics.VPSieNodes.WithLabelValues(ng.Name, string(p)).Set(float64(counts[p]))
	}
}

func phaseOf(vn *v1alpha1.VPSieNode) v1alpha1.VPSieNodePhase {
	switch {
	case !vn.DeletionTimestamp.IsZero() && vn.Status.Phase != v1alpha1.VPSieNodeFailed:
		return v1alpha1.VPSieNodeTerminating
	case vn.Status.Phase == "":
		return v1alpha1.VPSieNodePending
	default:
		return vn.Status.Phase
	}
}

// capacityOf is the node's cpu and memory: its observed capacity, else its offering's, else what
// the simulator expected.
func capacityOf(vn *v1alpha1.VPSieNode, catalogue map[string]cloudprovider.Offering) corev1.ResourceList {
	out := corev1.ResourceList{}
	var offering corev1.ResourceList
	if o, ok := catalogue[vn.Spec.OfferingID]; ok {
		offering = scheduling.Capacity(o.CPU, o.MemoryMiB, 0, 0)
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if q, ok := vn.Status.Capacity[name]; ok {
			out[name] = q
		} else if q, ok := offering[name]; ok {
			out[name] = q
		} else if q, ok := vn.Spec.Resources[name]; ok {
			out[name] = q
		}
	}
	return out
}

func addCapacity(total, add corev1.ResourceList) {
	for name, q := range add {
		sum := total[name].DeepCopy()
		sum.Add(q)
		total[name] = sum
	}
}
