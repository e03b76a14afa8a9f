// Package emptiness is the first consolidation method: it removes nodes that run nothing but
// daemonset, mirror and finished pods. It keeps the Consolidatable condition of every initialized
// VPSieNode current (True with reason Empty while the node is an empty candidate, its
// lastTransitionTime being when it became one; False with reason NotConsolidatable and the why
// otherwise) and deletes a VPSieNode once that condition has been True for its NodeGroup's
// consolidateAfter, within the group's disruption budgets and never below its minNodes. The
// termination controller then drains the Node (the Eviction API) and deletes the VM.
package emptiness

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/state"
)

// PodNodeNameIndex is the field index on Pods by spec.nodeName that Register adds to the
// manager's cache. The termination controller adds the same one under the same name (a second
// registration is tolerated); the apiserver supports the same field selector, so a direct client
// works too.
const PodNodeNameIndex = "spec.nodeName"

// MetricReason is the reason label of metrics.NodesDisrupted for the nodes this controller removes.
const MetricReason = "empty"

// defaultBudget is the API's default (the CRD's default for spec.disruption.budgets), applied
// when a group lists none.
var defaultBudget = v1alpha1.Budget{Nodes: "10%"}

const (
	// blockedRecheck re-evaluates a node whose removal waits on something no watched event
	// announces: a budget's schedule window, nominations of pods that are still pending, an
	// unreadable budget.
	blockedRecheck = 30 * time.Second
	// conflictRetry: the VPSieNode changed under a patch or a delete; read it again soon.
	conflictRetry = time.Second
	// maxListed bounds the pods a condition message names.
	maxListed = 3
)

// Options configure the controller.
type Options struct {
	// DryRun keeps the Consolidatable condition, logs and emits an event for each node it would
	// remove, and deletes nothing.
	DryRun bool
}

// Controller reconciles initialized VPSieNodes that are not being deleted.
type Controller struct {
	kubeClient client.Client
	// apiReader reads past the cache for the removal decision, so a VPSieNode this controller
	// deleted a moment ago counts against the budget even before the informer delivers it.
	apiReader client.Reader
	cluster   *state.Cluster
	clock     clock.Clock
	recorder  record.EventRecorder
	opts      Options

	mu sync.Mutex
	// announced holds, in a dry run, since when each VPSieNode (by name) was empty when its
	// removal was last announced, so an episode of emptiness is announced once.
	announced map[string]time.Time
}

// NewController returns the emptiness controller. cluster supplies the nominations (pods a plan
// put on a node that is not theirs yet); apiReader is an uncached reader (the manager's).
func NewController(kubeClient client.Client, apiReader client.Reader, cluster *state.Cluster, clk clock.Clock, recorder record.EventRecorder, opts Options) *Controller {
	return &Controller{kubeClient: kubeClient, apiReader: apiReader, cluster: cluster, clock: clk, recorder: recorder, opts: opts,
		announced: map[string]time.Time{}}
}

// Register indexes Pods by node and builds the controller (leader-elected, as every
// controller-runtime controller is by default) over VPSieNodes, the Pods on their Nodes, the
// Nodes (for do-not-disrupt) and the NodeGroups (spec changes).
func (c *Controller) Register(ctx context.Context, mgr manager.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Pod{}, PodNodeNameIndex, func(o client.Object) []string {
		if n := o.(*corev1.Pod).Spec.NodeName; n != "" {
			return []string{n}
		}
		return nil
	})
	if err != nil && !strings.Contains(err.Error(), "indexer conflict") {
		return fmt.Errorf("indexing pods by node name, %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("disruption.emptiness").
		// One reconcile at a time: the budget and minNodes checks count the group's removals, and
		// two decisions side by side could each see room for one more.
		WithOptions(controller.Options{MaxConcurrentReconciles: 1}).
		For(&v1alpha1.VPSieNode{}).
		// A VPSieNode that goes frees budget, one that comes frees minNodes: its siblings that wait
		// are looked at again.
		Watches(&v1alpha1.VPSieNode{}, handler.EnqueueRequestsFromMapFunc(c.waitingSiblings),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(c.podToVPSieNode), builder.WithPredicates(podChanged)).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(nodeToVPSieNode), builder.WithPredicates(nodeChanged)).
		Watches(&v1alpha1.NodeGroup{}, handler.EnqueueRequestsFromMapFunc(c.groupToVPSieNodes),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(reconcile.Func(c.Reconcile))
}

// podChanged passes the pod events that can change whether a node is empty: a pod arriving on
// or leaving a node, or one that starts or stops counting (it finished, or its do-not-disrupt
// annotation changed). Status churn of running pods is dropped.
var podChanged = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool { return nodeNameOf(e.Object) != "" },
	DeleteFunc: func(e event.DeleteEvent) bool { return nodeNameOf(e.Object) != "" },
	UpdateFunc: func(e event.UpdateEvent) bool {
		oldPod, ok1 := e.ObjectOld.(*corev1.Pod)
		newPod, ok2 := e.ObjectNew.(*corev1.Pod)
		if !ok1 || !ok2 {
			return false
		}
		return oldPod.Spec.NodeName != newPod.Spec.NodeName || (newPod.Spec.NodeName != "" && blocks(oldPod) != blocks(newPod))
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}

func nodeNameOf(o client.Object) string {
	if p, ok := o.(*corev1.Pod); ok {
		return p.Spec.NodeName
	}
	return ""
}

// nodeChanged passes Node creations and deletions, and updates of the do-not-disrupt annotation
// or of the VPSieNode label (registration); heartbeats are dropped.
var nodeChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetAnnotations()[v1alpha1.AnnotationDoNotDisrupt] != e.ObjectNew.GetAnnotations()[v1alpha1.AnnotationDoNotDisrupt] ||
			e.ObjectOld.GetLabels()[v1alpha1.LabelVPSieNode] != e.ObjectNew.GetLabels()[v1alpha1.LabelVPSieNode]
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// podToVPSieNode maps a pod to the VPSieNode of its Node, through the label registration puts on
// the Node.
func (c *Controller) podToVPSieNode(ctx context.Context, o client.Object) []reconcile.Request {
	name := nodeNameOf(o)
	if name == "" {
		return nil
	}
	node := &corev1.Node{}
	if err := c.kubeClient.Get(ctx, client.ObjectKey{Name: name}, node); err != nil {
		if !apierrors.IsNotFound(err) {
			log.FromContext(ctx).Error(err, "getting the node of a pod", "Node", name)
		}
		return nil
	}
	return nodeToVPSieNode(ctx, node)
}

func nodeToVPSieNode(_ context.Context, o client.Object) []reconcile.Request {
	if name := o.GetLabels()[v1alpha1.LabelVPSieNode]; name != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
	}
	return nil
}

// groupToVPSieNodes maps a NodeGroup to its VPSieNodes: a new consolidateAfter, policy or budget
// applies to all of them.
func (c *Controller) groupToVPSieNodes(ctx context.Context, o client.Object) []reconcile.Request {
	return c.nodesOf(ctx, o.GetName(), func(*v1alpha1.VPSieNode) bool { return true })
}

// waitingSiblings maps a VPSieNode that came or went to the others of its group that are empty
// candidates (the only ones a budget or minNodes can be holding back).
func (c *Controller) waitingSiblings(ctx context.Context, o client.Object) []reconcile.Request {
	vn, ok := o.(*v1alpha1.VPSieNode)
	if !ok || vn.Spec.NodeGroup == "" {
		return nil
	}
	return c.nodesOf(ctx, vn.Spec.NodeGroup, func(other *v1alpha1.VPSieNode) bool {
		return other.UID != vn.UID && meta.IsStatusConditionTrue(other.Status.Conditions, v1alpha1.VPSieNodeConsolidatable)
	})
}

func (c *Controller) nodesOf(ctx context.Context, group string, keep func(*v1alpha1.VPSieNode) bool) []reconcile.Request {
	vns := &v1alpha1.VPSieNodeList{}
	if err := c.kubeClient.List(ctx, vns); err != nil {
		log.FromContext(ctx).Error(err, "listing vpsienodes", "NodeGroup", group)
		return nil
	}
	var out []reconcile.Request
	for i := range vns.Items {
		if vn := &vns.Items[i]; vn.Spec.NodeGroup == group && keep(vn) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(vn)})
		}
	}
	return out
}

// verdict is what evaluate found.
type verdict struct {
	// empty: the node is an empty candidate; else message says why not.
	empty   bool
	message string
	// consolidateAfter is the group's (when empty).
	consolidateAfter time.Duration
	// recheck > 0 re-evaluates a node that is not a candidate for a reason without an event.
	recheck time.Duration
}

// Reconcile brings the VPSieNode's Consolidatable condition up to date and removes the node once
// it has been empty for consolidateAfter.
func (c *Controller) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	vn := &v1alpha1.VPSieNode{}
	if err := c.kubeClient.Get(ctx, req.NamespacedName, vn); err != nil {
		if apierrors.IsNotFound(err) {
			c.forget(req.Name)
			return reconcile.Result{}, nil
		}
		return reconcile.Result{}, fmt.Errorf("getting vpsienode, %w", err)
	}
	// A node still launching is no candidate yet, and one being deleted is termination's.
	if !vn.DeletionTimestamp.IsZero() || !meta.IsStatusConditionTrue(vn.Status.Conditions, v1alpha1.VPSieNodeInitialized) {
		c.forget(vn.Name)
		return reconcile.Result{}, nil
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("VPSieNode", vn.Name, "NodeGroup", vn.Spec.NodeGroup))

	ng := &v1alpha1.NodeGroup{}
	if err := c.kubeClient.Get(ctx, client.ObjectKey{Name: vn.Spec.NodeGroup}, ng); err != nil {
		if !apierrors.IsNotFound(err) {
			return reconcile.Result{}, fmt.Errorf("getting nodegroup, %w", err)
		}
		ng = nil
	} else {
		// The series exists from the group's first running node on, so increase() sees the
		// first removal and a dashboard shows a zero rather than nothing.
		metrics.NodesDisrupted.WithLabelValues(ng.Name, MetricReason)
	}
	node, err := c.nodeOf(ctx, vn)
	if err != nil {
		return reconcile.Result{}, err
	}
	v, err := c.evaluate(ctx, vn, ng, node)
	if err != nil {
		return reconcile.Result{}, err
	}
	// Since when the node has been an empty candidate: the apiserver keeps whole seconds, and
	// counting from what it keeps gives the same answer before and after a restart.
	since := c.clock.Now()
	prev := meta.FindStatusCondition(vn.Status.Conditions, v1alpha1.VPSieNodeConsolidatable)
	wasEmpty := prev != nil && prev.Status == metav1.ConditionTrue
	if wasEmpty {
		since = prev.LastTransitionTime.Truncate(time.Second)
	}
	remaining := since.Add(v.consolidateAfter).Sub(c.clock.Now())
	// A node due for removal keeps the message remove gives it while it waits, so a node held
	// back by a budget is not written twice per look.
	if !v.empty || !wasEmpty || remaining > 0 {
		if res, err := c.setCondition(ctx, vn, v.empty, v.message); err != nil || !res.IsZero() {
			return res, err
		}
	}
	switch {
	case !v.empty:
		c.forget(vn.Name)
		return reconcile.Result{RequeueAfter: v.recheck}, nil
	case remaining > 0:
		return reconcile.Result{RequeueAfter: remaining}, nil
	}
	return c.remove(ctx, vn, ng, node, v.message, c.clock.Since(since))
}

// nodeOf returns the VPSieNode's Node (from the cache), nil when there is none.
func (c *Controller) nodeOf(ctx context.Context, vn *v1alpha1.VPSieNode) (*corev1.Node, error) {
	if vn.Status.NodeName == "" {
		return nil, nil
	}
	node := &corev1.Node{}
	if err := c.kubeClient.Get(ctx, client.ObjectKey{Name: vn.Status.NodeName}, node); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("getting node %s, %w", vn.Status.NodeName, err)
	}
	// A Node of the same name for another VM is not this VPSieNode's to judge.
	if vn.Status.ProviderID != "" && node.Spec.ProviderID != vn.Status.ProviderID {
		return nil, nil
	}
	return node, nil
}

// evaluate decides whether the node is an empty candidate: its group allows removing empty
// nodes, nothing asks to keep it, no pending pod is headed for it and no pod but daemonset,
// mirror and finished ones runs on it.
func (c *Controller) evaluate(ctx context.Context, vn *v1alpha1.VPSieNode, ng *v1alpha1.NodeGroup, node *corev1.Node) (verdict, error) {
	if ng == nil {
		return verdict{message: fmt.Sprintf("NodeGroup %s does not exist", vn.Spec.NodeGroup)}, nil
	}
	if !ng.DeletionTimestamp.IsZero() {
		return verdict{message: fmt.Sprintf("NodeGroup %s is being deleted", ng.Name)}, nil
	}
	switch p := ng.Spec.Disruption.ConsolidationPolicy; p {
	case "", v1alpha1.ConsolidationPolicyWhenEmpty, v1alpha1.ConsolidationPolicyWhenEmptyOrUnderutilized:
		// Both policies remove empty nodes; "" is the CRD's default, WhenEmptyOrUnderutilized.
	default:
		return verdict{message: fmt.Sprintf("NodeGroup %s has consolidationPolicy %q, which removes no empty node", ng.Name, p)}, nil
	}
	raw := ng.Spec.Disruption.ConsolidateAfter
	if raw == "" {
		raw = "0s" // the CRD's default
	}
	after, ok, err := raw.Parse()
	switch {
	case err != nil:
		return verdict{message: fmt.Sprintf("NodeGroup %s: consolidateAfter: %v", ng.Name, err)}, nil
	case !ok:
		return verdict{message: fmt.Sprintf("NodeGroup %s has consolidateAfter Never", ng.Name)}, nil
	}
	if vn.Annotations[v1alpha1.AnnotationDoNotDisrupt] == "true" {
		return verdict{message: fmt.Sprintf("the VPSieNode has %s", v1alpha1.AnnotationDoNotDisrupt)}, nil
	}
	if node == nil {
		return verdict{message: fmt.Sprintf("Node %s not found", vn.Status.NodeName)}, nil
	}
	if !node.DeletionTimestamp.IsZero() {
		return verdict{message: fmt.Sprintf("Node %s is being deleted", node.Name)}, nil
	}
	if node.Annotations[v1alpha1.AnnotationDoNotDisrupt] == "true" {
		return verdict{message: fmt.Sprintf("Node %s has %s", node.Name, v1alpha1.AnnotationDoNotDisrupt)}, nil
	}
	// A nomination can end without an event on this node (the pod is planned elsewhere, or goes).
	if n := c.cluster.NominatedTo(vn.Name); n > 0 {
		return verdict{message: fmt.Sprintf("%d pending %s nominated to it", n, pluralise(n, "pod is", "pods are")), recheck: blockedRecheck}, nil
	}
	pods := &corev1.PodList{}
	if err := c.kubeClient.List(ctx, pods, client.MatchingFields{PodNodeNameIndex: node.Name}); err != nil {
		return verdict{}, fmt.Errorf("listing pods, %w", err)
	}
	if why := occupied(pods.Items, node.Name); why != "" {
		return verdict{message: why}, nil
	}
	return verdict{empty: true, message: fmt.Sprintf("Node %s runs no pods but daemonset, mirror and finished ones", node.Name), consolidateAfter: after}, nil
}

// occupied says why the pods keep the node from being empty ("" when they do not).
func occupied(pods []corev1.Pod, nodeName string) string {
	var running, keep []string
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName != nodeName || !blocks(p) {
			continue
		}
		key := p.Namespace + "/" + p.Name
		if doNotDisrupt(p) {
			keep = append(keep, key)
		} else {
			running = append(running, key)
		}
	}
	switch {
	case len(keep) > 0:
		return fmt.Sprintf("%s %s", list(keep), pluralise(len(keep), "has", "have")+" "+v1alpha1.AnnotationDoNotDisrupt)
	case len(running) > 0:
		return fmt.Sprintf("%s %s on it", list(running), pluralise(len(running), "runs", "run"))
	}
	return ""
}

func list(keys []string) string {
	noun := "pod"
	if len(keys) > 1 {
		noun = "pods"
	}
	if len(keys) <= maxListed {
		return noun + " " + strings.Join(keys, ", ")
	}
	return fmt.Sprintf("%s %s and %d more", noun, strings.Join(keys[:maxListed], ", "), len(keys)-maxListed)
}

func pluralise(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// blocks says whether the pod keeps its node from being empty: anything but daemonset, mirror and
// finished pods (they go with the node, or are done), and any unfinished pod that asks not to be
// disrupted.
func blocks(p *corev1.Pod) bool {
	return !ignorable(p) || doNotDisrupt(p)
}

func ignorable(p *corev1.Pod) bool {
	if terminal(p) {
		return true
	}
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return true
	}
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == "DaemonSet"
}

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func doNotDisrupt(p *corev1.Pod) bool {
	return !terminal(p) && p.Annotations[v1alpha1.AnnotationDoNotDisrupt] == "true"
}

// setCondition writes the Consolidatable condition when it changed. Its lastTransitionTime moves
// only when the status flips, so while the node stays empty it keeps saying since when. A
// non-zero result asks to come back (the VPSieNode changed under the patch).
func (c *Controller) setCondition(ctx context.Context, vn *v1alpha1.VPSieNode, empty bool, message string) (reconcile.Result, error) {
	cond := metav1.Condition{
		Type: v1alpha1.VPSieNodeConsolidatable, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonNotConsolidatable,
		Message: message, ObservedGeneration: vn.Generation, LastTransitionTime: metav1.NewTime(c.clock.Now()),
	}
	if empty {
		cond.Status, cond.Reason = metav1.ConditionTrue, v1alpha1.ReasonEmpty
	}
	stored := vn.DeepCopy()
	before := meta.FindStatusCondition(stored.Status.Conditions, v1alpha1.VPSieNodeConsolidatable)
	meta.SetStatusCondition(&vn.Status.Conditions, cond)
	if equality.Semantic.DeepEqual(stored.Status, vn.Status) {
		return reconcile.Result{}, nil
	}
	// Optimistic lock: a merge patch replaces the conditions list whole, so a concurrent write of
	// another condition (lifecycle) must conflict rather than be undone.
	if err := c.kubeClient.Status().Patch(ctx, vn, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		}
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("patching vpsienode status, %w", err))
	}
	if before == nil || before.Status != cond.Status {
		log.FromContext(ctx).V(1).Info("consolidatable condition changed", "status", cond.Status, "reason", cond.Reason, "message", cond.Message)
	}
	return reconcile.Result{}, nil
}

// remove deletes the VPSieNode unless minNodes or a disruption budget holds it back. It decides
// on live reads, not the cache: the group's VPSieNodes (what is already going, what is left) and
// the Node's pods (one may have been bound since the cache last said). The delete is
// conditional on the VPSieNode read, so a do-not-disrupt annotation added meanwhile wins.
func (c *Controller) remove(ctx context.Context, vn *v1alpha1.VPSieNode, ng *v1alpha1.NodeGroup, node *corev1.Node, message string, emptyFor time.Duration) (reconcile.Result, error) {
	logger := log.FromContext(ctx)
	vns := &v1alpha1.VPSieNodeList{}
	if err := c.apiReader.List(ctx, vns); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing vpsienodes, %w", err)
	}
	var live *v1alpha1.VPSieNode
	remaining, initialized, disrupting := 0, 0, 0
	for i := range vns.Items {
		o := &vns.Items[i]
		if o.Spec.NodeGroup != ng.Name {
			continue
		}
		if o.UID == vn.UID {
			live = o
		}
		// minNodes counts what the nodegroup controller counts: every VPSieNode not being deleted.
		if o.DeletionTimestamp.IsZero() {
			remaining++
		}
		// Budgets are over the group's running nodes; those already going use them up.
		if meta.IsStatusConditionTrue(o.Status.Conditions, v1alpha1.VPSieNodeInitialized) {
			initialized++
			if !o.DeletionTimestamp.IsZero() {
				disrupting++
			}
		}
	}
	if live == nil || !live.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil // gone or going already
	}
	if live.Annotations[v1alpha1.AnnotationDoNotDisrupt] == "true" {
		// The cache delivers the annotation in a moment and the next pass says so.
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	}
	if remaining-1 < int(ng.Spec.MinNodes) {
		logger.V(1).Info("keeping empty node for minNodes", "Node", node.Name, "minNodes", ng.Spec.MinNodes, "nodes", remaining)
		return c.hold(ctx, vn, message, fmt.Sprintf("removal waits: NodeGroup %s has %d nodes, minNodes %d", ng.Name, remaining, ng.Spec.MinNodes))
	}
	allowed, err := allowedDisruptions(ng, v1alpha1.DisruptionReasonEmpty, initialized, c.clock.Now())
	if err != nil {
		// Fail closed: a budget that cannot be read might have forbidden this. The nodegroup
		// controller reports a bad schedule on the group's Ready condition.
		logger.V(1).Info("disruption budgets unreadable, keeping empty node", "Node", node.Name, "error", err.Error())
		return c.hold(ctx, vn, message, fmt.Sprintf("removal waits: NodeGroup %s: %v", ng.Name, err))
	}
	if disrupting >= allowed {
		logger.V(1).Info("empty node waits for the disruption budget", "Node", node.Name, "allowed", allowed, "disrupting", disrupting)
		return c.hold(ctx, vn, message, fmt.Sprintf("removal waits for the disruption budget of NodeGroup %s: %d of %d nodes may be disrupted, %d are", ng.Name, allowed, initialized, disrupting))
	}
	pods := &corev1.PodList{}
	if err := c.apiReader.List(ctx, pods, client.MatchingFields{PodNodeNameIndex: node.Name}); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing pods, %w", err)
	}
	if why := occupied(pods.Items, node.Name); why != "" {
		// The pod's event reaches the cache in a moment and the next pass records why.
		logger.V(1).Info("node no longer empty", "Node", node.Name, "reason", why)
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	}
	if c.opts.DryRun {
		if c.announce(vn.Name, c.clock.Now().Add(-emptyFor)) {
			logger.Info("dry run, not removing empty node", "Node", node.Name, "emptyFor", emptyFor.Round(time.Second).String())
			removingEmptyNodeDryRun(c.recorder, vn, ng, node.Name, emptyFor)
		}
		return reconcile.Result{}, nil
	}
	err = c.kubeClient.Delete(ctx, live, client.Preconditions{UID: &live.UID, ResourceVersion: &live.ResourceVersion})
	switch {
	case apierrors.IsConflict(err):
		return reconcile.Result{RequeueAfter: conflictRetry}, nil
	case apierrors.IsNotFound(err):
		return reconcile.Result{}, nil
	case err != nil:
		return reconcile.Result{}, fmt.Errorf("deleting vpsienode, %w", err)
	}
	metrics.NodesDisrupted.WithLabelValues(ng.Name, MetricReason).Inc()
	logger.Info("removing empty node", "Node", node.Name, "emptyFor", emptyFor.Round(time.Second).String(),
		"disrupting", disrupting+1, "allowed", allowed)
	removingEmptyNode(c.recorder, vn, ng, node.Name, emptyFor)
	return reconcile.Result{}, nil
}

// announce records a dry-run announcement of the VPSieNode's removal for the emptiness episode
// that began at since, and says whether it is the first.
func (c *Controller) announce(name string, since time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at, ok := c.announced[name]; ok && at.Equal(since) {
		return false
	}
	c.announced[name] = since
	return true
}

// forget drops the dry-run announcement of a VPSieNode that is gone or no longer empty.
func (c *Controller) forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.announced, name)
}

// hold keeps an empty node whose removal waits and says why in the (still True) condition's
// message, then looks again after blockedRecheck (or when a sibling comes or goes).
func (c *Controller) hold(ctx context.Context, vn *v1alpha1.VPSieNode, message, why string) (reconcile.Result, error) {
	if res, err := c.setCondition(ctx, vn, true, message+"; "+why); err != nil || !res.IsZero() {
		return res, err
	}
	return reconcile.Result{RequeueAfter: blockedRecheck}, nil
}

// allowedDisruptions is how many of the group's total initialized nodes may be disrupted at once
// for reason: the minimum over the budgets that apply to the reason and are active at now. A
// group that lists no budget gets the API's default (10%); budgets that all apply to other
// reasons, or are all outside their windows, do not limit it.
func allowedDisruptions(ng *v1alpha1.NodeGroup, reason v1alpha1.DisruptionReason, total int, now time.Time) (int, error) {
	budgets := ng.Spec.Disruption.Budgets
	if len(budgets) == 0 {
		budgets = []v1alpha1.Budget{defaultBudget}
	}
	allowed := total
	for i, b := range budgets {
		if !b.AppliesTo(reason) {
			continue
		}
		active, err := budgetActive(b, now)
		if err != nil {
			return 0, fmt.Errorf("budget %d, %w", i, err)
		}
		if !active {
			continue
		}
		n, err := b.AllowedDisruptions(total)
		if err != nil {
			return 0, fmt.Errorf("budget %d, %w", i, err)
		}
		allowed = min(allowed, n)
	}
	return allowed, nil
}

// budgetActive says whether the budget limits disruptions at now: always without a schedule,
// else for duration after each tick of the schedule (in UTC), i.e. when a tick fell in
// (now-duration, now].
func budgetActive(b v1alpha1.Budget, now time.Time) (bool, error) {
	if b.Schedule == nil {
		return true, nil
	}
	if b.Duration == nil {
		return false, fmt.Errorf("schedule %q has no duration", *b.Schedule)
	}
	// Parsed as the nodegroup controller validates it.
	sched, err := cron.ParseStandard(*b.Schedule)
	if err != nil {
		return false, fmt.Errorf("parsing schedule %q, %w", *b.Schedule, err)
	}
	// A schedule without a time zone runs in the location of the time it is given.
	now = now.UTC()
	return !sched.Next(now.Add(-b.Duration.Duration)).After(now), nil
}
