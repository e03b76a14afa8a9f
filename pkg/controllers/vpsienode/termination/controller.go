// Package termination runs the termination finalizer of VPSieNodes and of the Nodes they own: a
// deleted VPSieNode has its Node tainted and drained through the Eviction API, its VM deleted
// until the cloud says it is gone, then its Node deleted and both finalizers released. A Node we
// own that is deleted by someone else deletes its VPSieNode and waits for that termination.
package termination

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/multierr"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
)

// DefaultTerminationGracePeriod is Options.TerminationGracePeriod when unset.
const DefaultTerminationGracePeriod = time.Hour

// PodNodeNameIndex is the field index on Pods by spec.nodeName that Register adds to the
// manager's cache (the apiserver supports the same field selector, so a direct client works too).
const PodNodeNameIndex = "spec.nodeName"

// TerminationReasonDeleted is the NodesTerminated reason of a VPSieNode deleted for any reason
// but the two the lifecycle controller counts itself when it deletes (launch_failed,
// registration_timeout).
const TerminationReasonDeleted = "deleted"

// MaxConcurrentTerminations is how many VPSieNodes the controller terminates at once.
const MaxConcurrentTerminations = 64

const (
	// drainPoll re-checks a node whose pods are still leaving.
	drainPoll = 5 * time.Second
	// deletePoll re-checks an instance the cloud is deleting.
	deletePoll = 5 * time.Second
	// errorRetry follows a failed cloud or API call.
	errorRetry = 10 * time.Second
	// evictionTimeout bounds one eviction call, retries included.
	evictionTimeout = 3 * time.Second
	// conflictRetry: an object changed under a patch; read it again soon.
	conflictRetry = time.Second
)

// Critical priority classes, evicted after every other pod.
var criticalPriorityClasses = map[string]bool{"system-node-critical": true, "system-cluster-critical": true}

// systemCriticalPriority is scheduling.SystemCriticalPriority (k8s.io/kubernetes, which we may not import).
const systemCriticalPriority = 2000000000

// Options configure termination.
type Options struct {
	// TerminationGracePeriod: this long after a VPSieNode's deletion, pods that block draining
	// (do-not-disrupt, or stuck terminating) no longer do (default 1h).
	TerminationGracePeriod time.Duration
}

// Controller reconciles deleted VPSieNodes and deleted Nodes we own.
type Controller struct {
	kubeClient    client.Client
	cloudProvider cloudprovider.CloudProvider
	clock         clock.Clock
	recorder      record.EventRecorder
	opts          Options

	mu sync.Mutex
	// warned holds the pods (by VPSieNode and pod UID) a blocked-eviction event was emitted for,
	// so a drain retried every few seconds warns once per pod.
	warned map[types.UID]map[types.UID]bool
}

// NewController returns the termination controller; zero options get the defaults.
func NewController(kubeClient client.Client, cp cloudprovider.CloudProvider, clk clock.Clock, recorder record.EventRecorder, opts Options) *Controller {
	if opts.TerminationGracePeriod <= 0 {
		opts.TerminationGracePeriod = DefaultTerminationGracePeriod
	}
	return &Controller{kubeClient: kubeClient, cloudProvider: cp, clock: clk, recorder: recorder, opts: opts,
		warned: map[types.UID]map[types.UID]bool{}}
}

// Register indexes Pods by node and builds the controller over VPSieNodes and the Nodes they own
// (mapped by the LabelVPSieNode label). A request for a VPSieNode that no longer exists releases
// the finalizer of its leftover Nodes.
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
		Named("vpsienode.termination").
		// Draining one node waits on evictions and VPSie; nodes are terminated side by side.
		WithOptions(controller.Options{MaxConcurrentReconciles: MaxConcurrentTerminations}).
		For(&v1alpha1.VPSieNode{}).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			if name := o.GetLabels()[v1alpha1.LabelVPSieNode]; name != "" {
				return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
			}
			return nil
		})).
		Complete(reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
			vn := &v1alpha1.VPSieNode{}
			if err := c.kubeClient.Get(ctx, req.NamespacedName, vn); err != nil {
				if apierrors.IsNotFound(err) {
					return reconcile.Result{}, c.ReleaseNodes(ctx, req.Name)
				}
				return reconcile.Result{}, err
			}
			return c.Reconcile(ctx, vn)
		}))
}

// ReleaseNodes removes the termination finalizer from the deleted Nodes of a VPSieNode that no
// longer exists (nothing is left to wait for).
func (c *Controller) ReleaseNodes(ctx context.Context, vnName string) error {
	nodes := &corev1.NodeList{}
	if err := c.kubeClient.List(ctx, nodes, client.MatchingLabels{v1alpha1.LabelVPSieNode: vnName}); err != nil {
		return fmt.Errorf("listing nodes of vpsienode %s, %w", vnName, err)
	}
	var errs error
	for i := range nodes.Items {
		if node := &nodes.Items[i]; !node.DeletionTimestamp.IsZero() {
			errs = multierr.Append(errs, c.removeNodeFinalizer(ctx, node))
		}
	}
	return errs
}

// Reconcile terminates a deleted VPSieNode, or deletes a VPSieNode whose Node is being deleted.
func (c *Controller) Reconcile(ctx context.Context, vn *v1alpha1.VPSieNode) (result reconcile.Result, err error) {
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("VPSieNode", vn.Name))
	if vn.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, c.deleteIfNodeDeleted(ctx, vn)
	}
	if !controllerutil.ContainsFinalizer(vn, v1alpha1.TerminationFinalizer) {
		return reconcile.Result{}, nil
	}

	stored := vn.DeepCopy()
	defer func() {
		if equality.Semantic.DeepEqual(stored.Status, vn.Status) {
			return
		}
		if perr := c.kubeClient.Status().Patch(ctx, vn, client.MergeFrom(stored)); perr != nil && !apierrors.IsNotFound(perr) {
			err = multierr.Append(err, fmt.Errorf("patching vpsienode status, %w", perr))
		}
	}()
	vn.Status.Phase = v1alpha1.VPSieNodeTerminating

	node, err := c.findNode(ctx, vn)
	if err != nil {
		return reconcile.Result{}, err
	}
	if vn.Status.InstanceID == "" && vn.Annotations[v1alpha1.AnnotationWorkerRequested] == "" && node == nil {
		// Never launched: nothing to drain or delete.
		return c.finish(ctx, vn)
	}
	if node != nil {
		if stored.Status.Phase != v1alpha1.VPSieNodeTerminating {
			draining(c.recorder, vn, node.Name)
			log.FromContext(ctx).Info("draining node", "Node", node.Name)
		}
		if res, err := c.taint(ctx, node); err != nil || !res.IsZero() {
			return res, err
		}
		if res, done, err := c.drain(ctx, vn, node); err != nil || !done {
			return res, err
		}
	}

	if err := c.cloudProvider.Delete(ctx, vn); err == nil {
		// Deleted or being deleted: ask again until the cloud says it is gone.
		return reconcile.Result{RequeueAfter: deletePoll}, nil
	} else if !cloudprovider.IsNotFound(err) {
		vn.Status.LastError = truncate(err.Error())
		deleteFailed(c.recorder, vn, err)
		log.FromContext(ctx).Error(err, "deleting instance failed, retrying", "instance", vn.Status.InstanceID)
		return reconcile.Result{RequeueAfter: errorRetry}, nil
	}
	instanceDeleted(c.recorder, vn)
	log.FromContext(ctx).Info("instance deleted", "instance", vn.Status.InstanceID)
	vn.Status.LastError = ""

	if node != nil {
		if node.DeletionTimestamp.IsZero() {
			if err := c.kubeClient.Delete(ctx, node); client.IgnoreNotFound(err) != nil {
				return reconcile.Result{}, fmt.Errorf("deleting node %s, %w", node.Name, err)
			}
		}
		if err := c.removeNodeFinalizer(ctx, node); err != nil {
			if apierrors.IsConflict(err) {
				return reconcile.Result{RequeueAfter: conflictRetry}, nil
			}
			return reconcile.Result{}, err
		}
	}
	return c.finish(ctx, vn)
}

// deleteIfNodeDeleted deletes the VPSieNode when someone deletes the Node it owns; the Node's
// finalizer holds it until the VPSieNode's termination is done.
func (c *Controller) deleteIfNodeDeleted(ctx context.Context, vn *v1alpha1.VPSieNode) error {
	node, err := c.findNode(ctx, vn)
	if err != nil || node == nil || node.DeletionTimestamp.IsZero() || node.Labels[v1alpha1.LabelVPSieNode] != vn.Name {
		return err
	}
	nodeDeleted(c.recorder, vn, node.Name)
	log.FromContext(ctx).Info("node is being deleted, deleting its vpsienode", "Node", node.Name)
	if err := c.kubeClient.Delete(ctx, vn); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting vpsienode of deleted node %s, %w", node.Name, err)
	}
	return nil
}

// finish releases the VPSieNode's finalizer and counts the termination.
func (c *Controller) finish(ctx context.Context, vn *v1alpha1.VPSieNode) (reconcile.Result, error) {
	stored := vn.DeepCopy()
	controllerutil.RemoveFinalizer(vn, v1alpha1.TerminationFinalizer)
	if err := c.kubeClient.Patch(ctx, vn, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		}
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("removing the termination finalizer, %w", err))
	}
	if !countedByLifecycle(vn) {
		metrics.NodesTerminated.WithLabelValues(vn.Spec.NodeGroup, TerminationReasonDeleted).Inc()
	}
	c.mu.Lock()
	delete(c.warned, vn.UID)
	c.mu.Unlock()
	log.FromContext(ctx).Info("terminated vpsienode")
	return reconcile.Result{}, nil
}

// countedByLifecycle: the lifecycle controller counted the termination when it deleted the
// VPSieNode for a capacity refusal or a registration timeout.
func countedByLifecycle(vn *v1alpha1.VPSieNode) bool {
	if l := meta.FindStatusCondition(vn.Status.Conditions, v1alpha1.VPSieNodeLaunched); l != nil && l.Status == metav1.ConditionFalse &&
		(l.Reason == v1alpha1.ReasonOfferingUnavailable || l.Reason == v1alpha1.ReasonInsufficientQuota) {
		return true
	}
	r := meta.FindStatusCondition(vn.Status.Conditions, v1alpha1.VPSieNodeRegistered)
	return r != nil && r.Status == metav1.ConditionFalse && r.Reason == v1alpha1.ReasonRegistrationTimeout
}

// taint puts the disrupted NoSchedule taint on the Node so no new pod lands there.
func (c *Controller) taint(ctx context.Context, node *corev1.Node) (reconcile.Result, error) {
	for _, t := range node.Spec.Taints {
		if t.Key == v1alpha1.TaintKeyDisrupted && t.Effect == corev1.TaintEffectNoSchedule {
			return reconcile.Result{}, nil
		}
	}
	stored := node.DeepCopy()
	node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: v1alpha1.TaintKeyDisrupted, Effect: corev1.TaintEffectNoSchedule})
	if err := c.kubeClient.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{RequeueAfter: conflictRetry}, nil
		}
		return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("tainting node %s, %w", node.Name, err))
	}
	return reconcile.Result{}, nil
}

// drain evicts the Node's pods, non-critical ones first and critical ones once those are gone.
// Daemonset, mirror and terminal pods stay (they go with the VM). done is true when nothing
// else is left.
func (c *Controller) drain(ctx context.Context, vn *v1alpha1.VPSieNode, node *corev1.Node) (reconcile.Result, bool, error) {
	pods := &corev1.PodList{}
	if err := c.kubeClient.List(ctx, pods, client.MatchingFields{PodNodeNameIndex: node.Name}); err != nil {
		return reconcile.Result{}, false, fmt.Errorf("listing pods of node %s, %w", node.Name, err)
	}
	deadline := vn.DeletionTimestamp.Add(c.opts.TerminationGracePeriod)
	graceOver := !c.clock.Now().Before(deadline)
	var groups [2][]*corev1.Pod // non-critical, critical
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Spec.NodeName != node.Name || ignored(pod) {
			continue
		}
		if !pod.DeletionTimestamp.IsZero() && graceOver {
			continue // stuck terminating: the VM's deletion ends it
		}
		if critical(pod) {
			groups[1] = append(groups[1], pod)
		} else {
			groups[0] = append(groups[0], pod)
		}
	}
	var group []*corev1.Pod
	for _, g := range groups {
		if len(g) > 0 {
			group = g
			break
		}
	}
	if group == nil {
		return reconcile.Result{}, true, nil
	}
	res := reconcile.Result{RequeueAfter: drainPoll}
	var errs error
	for _, pod := range group {
		if !pod.DeletionTimestamp.IsZero() {
			continue // leaving
		}
		if pod.Annotations[v1alpha1.AnnotationDoNotDisrupt] == "true" && !graceOver {
			if c.warnOnce(vn, pod) {
				doNotDisrupt(c.recorder, vn, pod, deadline.UTC().Format(time.RFC3339))
			}
			if wait := deadline.Sub(c.clock.Now()); wait < res.RequeueAfter {
				res.RequeueAfter = wait
			}
			continue
		}
		// A budget the disruption controller has not processed yet is refused with Retry-After
		// 10s, which client-go obeys up to ten times; the timeout keeps one such pod from
		// holding the reconcile for minutes.
		ectx, cancel := context.WithTimeout(ctx, evictionTimeout)
		err := c.kubeClient.SubResource("eviction").Create(ectx, pod, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace},
		})
		timedOut := ectx.Err() != nil && ctx.Err() == nil
		cancel()
		switch {
		case err == nil || apierrors.IsNotFound(err):
			log.FromContext(ctx).V(1).Info("evicted pod", "Pod", client.ObjectKeyFromObject(pod).String())
		case apierrors.IsTooManyRequests(err) || timedOut:
			// A PodDisruptionBudget does not allow it now; the next pass tries again.
			if c.warnOnce(vn, pod) {
				evictionBlocked(c.recorder, vn, pod, err.Error())
			}
		default:
			errs = multierr.Append(errs, fmt.Errorf("evicting pod %s/%s, %w", pod.Namespace, pod.Name, err))
		}
	}
	return res, false, errs
}

func (c *Controller) warnOnce(vn *v1alpha1.VPSieNode, pod *corev1.Pod) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warned[vn.UID] == nil {
		c.warned[vn.UID] = map[types.UID]bool{}
	}
	if c.warned[vn.UID][pod.UID] {
		return false
	}
	c.warned[vn.UID][pod.UID] = true
	return true
}

// ignored: pods draining does not wait for.
func ignored(pod *corev1.Pod) bool {
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return true
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return true
	}
	for _, ref := range pod.OwnerReferences {
		if ref.Controller != nil && *ref.Controller && ref.Kind == "DaemonSet" {
			return true
		}
	}
	return false
}

func critical(pod *corev1.Pod) bool {
	return criticalPriorityClasses[pod.Spec.PriorityClassName] || (pod.Spec.Priority != nil && *pod.Spec.Priority >= systemCriticalPriority)
}

// findNode returns the VPSieNode's Node: by name once registered, else by its label.
func (c *Controller) findNode(ctx context.Context, vn *v1alpha1.VPSieNode) (*corev1.Node, error) {
	if vn.Status.NodeName != "" {
		node := &corev1.Node{}
		err := c.kubeClient.Get(ctx, client.ObjectKey{Name: vn.Status.NodeName}, node)
		if err == nil && (vn.Status.ProviderID == "" || node.Spec.ProviderID == vn.Status.ProviderID) {
			return node, nil
		}
		if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("getting node %s, %w", vn.Status.NodeName, err)
		}
	}
	nodes := &corev1.NodeList{}
	if err := c.kubeClient.List(ctx, nodes, client.MatchingLabels{v1alpha1.LabelVPSieNode: vn.Name}); err != nil {
		return nil, fmt.Errorf("listing nodes, %w", err)
	}
	if len(nodes.Items) > 0 {
		return &nodes.Items[0], nil
	}
	return nil, nil
}

// removeNodeFinalizer releases the Node's termination finalizer (read fresh, optimistic lock:
// other finalizers on the list must survive).
func (c *Controller) removeNodeFinalizer(ctx context.Context, node *corev1.Node) error {
	fresh := &corev1.Node{}
	if err := c.kubeClient.Get(ctx, client.ObjectKeyFromObject(node), fresh); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("getting node %s, %w", node.Name, err))
	}
	if !controllerutil.ContainsFinalizer(fresh, v1alpha1.TerminationFinalizer) {
		return nil
	}
	stored := fresh.DeepCopy()
	controllerutil.RemoveFinalizer(fresh, v1alpha1.TerminationFinalizer)
	if err := c.kubeClient.Patch(ctx, fresh, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("removing the termination finalizer of node %s, %w", node.Name, err))
	}
	return nil
}
