// Package lifecycle launches the VM a VPSieNode asks for and follows its Node until it is
// initialized: launch (CloudProvider.Create), registration (the Node with the VM's providerID
// takes the VPSieNode's labels, taints, owner and finalizer), initialization (Ready, startup
// taints gone, and the batch released: see batch.go) and liveness (no Node within the
// registration timeout: delete, so the provisioner plans again). Deleted VPSieNodes belong to
// the termination controller.
package lifecycle

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/multierr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
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

// DefaultRegistrationTimeout is Options.RegistrationTimeout when unset.
const DefaultRegistrationTimeout = 15 * time.Minute

// NodeProviderIDIndex is the field index on Nodes by spec.providerID that Register adds to the
// manager's cache (other controllers may use it; registering it twice is tolerated).
const NodeProviderIDIndex = "spec.providerID"

// Metric reasons of VPSieNodes this controller deletes.
const (
	TerminationReasonLaunchFailed        = "launch_failed"
	TerminationReasonRegistrationTimeout = "registration_timeout"
)

const (
	// MaxConcurrentLaunches is how many VPSieNodes the controller reconciles at once.
	MaxConcurrentLaunches = 64
	// pollInterval re-checks a Node that is not registered or initialized yet; Node events
	// usually come first.
	pollInterval = 10 * time.Second
	// launch backoff after errors that are not capacity or pending: 5s, 10s, ... at most 5m.
	minBackoff = 5 * time.Second
	maxBackoff = 5 * time.Minute
	// pendingRetry is used when a LaunchPendingError carries no RetryAfter.
	pendingRetry = 5 * time.Second
	// conflictRetry: the Node changed under the registration patch; read it again soon.
	conflictRetry = time.Second
)

// Options configure the lifecycle controller.
type Options struct {
	// RegistrationTimeout: a VPSieNode whose Node has not registered this long after its creation
	// is deleted (default 15m).
	RegistrationTimeout time.Duration
	// BatchReleaseWindow > 0 holds the Nodes of a provisioning batch (VPSieNodes sharing
	// v1alpha1.LabelBatch) under v1alpha1.TaintKeyBatchPending until the whole batch is Ready,
	// at most this long after the first of them was held; 0 (the zero value) puts no such taint
	// on, and a Node that still has it is released as soon as it is Ready on its own.
	BatchReleaseWindow time.Duration
}

// Controller reconciles VPSieNodes that are not being deleted.
type Controller struct {
	kubeClient    client.Client
	cloudProvider cloudprovider.CloudProvider
	clock         clock.Clock
	recorder      record.EventRecorder
	opts          Options
	// launched remembers (by VPSieNode UID) what Create returned until the VPSieNode read by a
	// later reconcile carries it: a cache that has not seen our status patch yet must not make
	// us launch a second VM.
	launched sync.Map
	// indexed is set by Register: the client's cache has NodeProviderIDIndex. A direct client
	// (tests) lists all Nodes instead, since the apiserver cannot select Nodes by providerID.
	indexed bool
}

// NewController returns the lifecycle controller; zero options get the defaults.
func NewController(kubeClient client.Client, cp cloudprovider.CloudProvider, clk clock.Clock, recorder record.EventRecorder, opts Options) *Controller {
	if opts.RegistrationTimeout <= 0 {
		opts.RegistrationTimeout = DefaultRegistrationTimeout
	}
	return &Controller{kubeClient: kubeClient, cloudProvider: cp, clock: clk, recorder: recorder, opts: opts}
}

// Register indexes Nodes by providerID and builds the controller: VPSieNodes, and Nodes mapped
// to the VPSieNode that launched them (by label once registered, by providerID before).
func (c *Controller) Register(ctx context.Context, mgr manager.Manager) error {
	if err := IndexNodeProviderID(ctx, mgr); err != nil {
		return err
	}
	c.indexed = true
	return ctrl.NewControllerManagedBy(mgr).
		Named("vpsienode.lifecycle").
		// A launch may wait on VPSie for seconds; a burst of VPSieNodes must launch side by side,
		// not one after another.
		WithOptions(controller.Options{MaxConcurrentReconciles: MaxConcurrentLaunches}).
		For(&v1alpha1.VPSieNode{}).
		Watches(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(c.nodeToVPSieNode)).
		// A batch member that goes away may be the last one its held siblings wait for.
		Watches(&v1alpha1.VPSieNode{}, handler.EnqueueRequestsFromMapFunc(c.heldSiblings)).
		Complete(reconcile.AsReconciler(mgr.GetClient(), c))
}

// IndexNodeProviderID adds NodeProviderIDIndex to the manager's cache, tolerating another
// controller having added it already.
func IndexNodeProviderID(ctx context.Context, mgr manager.Manager) error {
	err := mgr.GetFieldIndexer().IndexField(ctx, &corev1.Node{}, NodeProviderIDIndex, func(o client.Object) []string {
		if id := o.(*corev1.Node).Spec.ProviderID; id != "" {
			return []string{id}
		}
		return nil
	})
	if err != nil && !strings.Contains(err.Error(), "indexer conflict") {
		return fmt.Errorf("indexing nodes by providerID, %w", err)
	}
	return nil
}

func (c *Controller) nodeToVPSieNode(ctx context.Context, o client.Object) []reconcile.Request {
	node := o.(*corev1.Node)
	if name := node.Labels[v1alpha1.LabelVPSieNode]; name != "" {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: name}}}
	}
	if node.Spec.ProviderID == "" {
		return nil
	}
	vns := &v1alpha1.VPSieNodeList{}
	if err := c.kubeClient.List(ctx, vns); err != nil {
		log.FromContext(ctx).Error(err, "listing vpsienodes for a node event", "Node", node.Name)
		return nil
	}
	for i := range vns.Items {
		if vns.Items[i].Status.ProviderID == node.Spec.ProviderID {
			return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: vns.Items[i].Name}}}
		}
	}
	return nil
}

// Reconcile runs launch, registration, initialization and liveness in order, and always writes
// the status (phase and conditions current) at the end.
func (c *Controller) Reconcile(ctx context.Context, vn *v1alpha1.VPSieNode) (result reconcile.Result, err error) {
	if !vn.DeletionTimestamp.IsZero() {
		c.launched.Delete(vn.UID)
		return reconcile.Result{}, nil
	}
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("VPSieNode", vn.Name))
	if !controllerutil.ContainsFinalizer(vn, v1alpha1.TerminationFinalizer) {
		stored := vn.DeepCopy()
		controllerutil.AddFinalizer(vn, v1alpha1.TerminationFinalizer)
		if err := c.kubeClient.Patch(ctx, vn, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("adding the termination finalizer, %w", err))
		}
	}

	stored := vn.DeepCopy()
	defer func() {
		vn.Status.Phase = phase(vn)
		if equality.Semantic.DeepEqual(stored.Status, vn.Status) {
			return
		}
		// Only the status subresource is written, so annotations the cloud provider patched
		// onto the object during Create are never overwritten.
		if perr := c.kubeClient.Status().Patch(ctx, vn, client.MergeFrom(stored)); perr != nil && !apierrors.IsNotFound(perr) {
			err = multierr.Append(err, fmt.Errorf("patching vpsienode status, %w", perr))
		}
	}()

	res, stop, err := c.launch(ctx, vn)
	if stop || err != nil {
		return res, err
	}
	if vn.Status.InstanceID != "" {
		node, regRes, err := c.register(ctx, vn)
		if err != nil {
			return reconcile.Result{}, err
		}
		res = soonest(res, regRes)
		if node != nil {
			initRes, err := c.initialize(ctx, vn, node)
			if err != nil {
				return reconcile.Result{}, err
			}
			res = soonest(res, initRes)
		}
	}
	liveRes, stop, err := c.liveness(ctx, vn)
	if stop || err != nil {
		return liveRes, err
	}
	return soonest(res, liveRes), nil
}

// launch asks the cloud for the VM while the VPSieNode has no instance. stop is true when the
// VPSieNode was deleted; a pending or failed launch leaves InstanceID empty and a requeue.
func (c *Controller) launch(ctx context.Context, vn *v1alpha1.VPSieNode) (reconcile.Result, bool, error) {
	if vn.Status.InstanceID != "" {
		c.launched.Delete(vn.UID)
		c.setCondition(vn, v1alpha1.VPSieNodeLaunched, metav1.ConditionTrue, v1alpha1.ReasonLaunched, "instance "+vn.Status.InstanceID)
		return reconcile.Result{}, false, nil
	}
	if st, ok := c.launched.Load(vn.UID); ok {
		// Launched by an earlier pass whose status patch the cache has not caught up with.
		copyLaunched(vn, st.(*v1alpha1.VPSieNodeStatus))
		c.setCondition(vn, v1alpha1.VPSieNodeLaunched, metav1.ConditionTrue, v1alpha1.ReasonLaunched, "instance "+vn.Status.InstanceID)
		return reconcile.Result{}, false, nil
	}
	c.setCondition(vn, v1alpha1.VPSieNodeLaunched, metav1.ConditionUnknown, v1alpha1.ReasonLaunching, "launching offering "+vn.Spec.OfferingID)
	vn.Status.LaunchAttempts++
	created, err := c.cloudProvider.Create(ctx, vn)
	if err == nil && (created == nil || created.Status.InstanceID == "") {
		err = fmt.Errorf("cloud provider returned no instance")
	}
	if err != nil {
		return c.launchFailed(ctx, vn, err)
	}
	c.launched.Store(vn.UID, created.Status.DeepCopy())
	copyLaunched(vn, &created.Status)
	c.setCondition(vn, v1alpha1.VPSieNodeLaunched, metav1.ConditionTrue, v1alpha1.ReasonLaunched, "instance "+vn.Status.InstanceID)
	launched(c.recorder, vn)
	metrics.LaunchDuration.WithLabelValues(vn.Spec.NodeGroup).Observe(c.since(vn))
	log.FromContext(ctx).Info("launched instance", "instance", vn.Status.InstanceID, "providerID", vn.Status.ProviderID, "offering", vn.Spec.OfferingID)
	return reconcile.Result{}, false, nil
}

// copyLaunched copies what the cloud said of the new VM into the status.
func copyLaunched(vn *v1alpha1.VPSieNode, st *v1alpha1.VPSieNodeStatus) {
	vn.Status.InstanceID = st.InstanceID
	vn.Status.ProviderID = st.ProviderID
	if vn.Status.ProviderID == "" {
		vn.Status.ProviderID = cloudprovider.ProviderID(st.InstanceID)
	}
	vn.Status.Hostname = st.Hostname
	vn.Status.IP = st.IP
	vn.Status.Capacity = st.Capacity.DeepCopy()
	vn.Status.Allocatable = st.Allocatable.DeepCopy()
	vn.Status.HourlyPrice = st.HourlyPrice
	vn.Status.LastError = ""
}

func (c *Controller) launchFailed(ctx context.Context, vn *v1alpha1.VPSieNode, err error) (reconcile.Result, bool, error) {
	if p, ok := cloudprovider.AsLaunchPending(err); ok {
		retry := p.RetryAfter
		if retry <= 0 {
			retry = pendingRetry
		}
		c.setCondition(vn, v1alpha1.VPSieNodeLaunched, metav1.ConditionUnknown, v1alpha1.ReasonLaunching, truncate(err.Error()))
		log.FromContext(ctx).V(1).Info("launch pending", "reason", p.Reason, "retryAfter", retry)
		return reconcile.Result{RequeueAfter: retry}, false, nil
	}
	reason := cloudprovider.ErrorReason(err)
	vn.Status.LastError = truncate(err.Error())
	c.setCondition(vn, v1alpha1.VPSieNodeLaunched, metav1.ConditionFalse, reason, truncate(err.Error()))
	launchFailed(c.recorder, vn, reason, err)
	if cloudprovider.IsInsufficientCapacity(err) {
		// The provider has marked the offering unavailable; deleting lets the provisioner plan
		// the pods again on another offering.
		log.FromContext(ctx).Info("launch refused for capacity, deleting", "offering", vn.Spec.OfferingID, "reason", reason, "error", err.Error())
		vn.Status.Phase = v1alpha1.VPSieNodeFailed
		metrics.NodesTerminated.WithLabelValues(vn.Spec.NodeGroup, TerminationReasonLaunchFailed).Inc()
		if derr := c.kubeClient.Delete(ctx, vn); derr != nil && !apierrors.IsNotFound(derr) {
			return reconcile.Result{}, true, fmt.Errorf("deleting vpsienode after a capacity error, %w", derr)
		}
		return reconcile.Result{}, true, nil
	}
	backoff := backoff(vn.Status.LaunchAttempts)
	log.FromContext(ctx).Error(err, "launching failed, retrying", "offering", vn.Spec.OfferingID, "attempt", vn.Status.LaunchAttempts, "retryAfter", backoff)
	return reconcile.Result{RequeueAfter: backoff}, false, nil
}

func backoff(attempts int32) time.Duration {
	d := minBackoff
	for i := int32(1); i < attempts && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// register finds the Node of the VM and, the first time, applies the VPSieNode's labels, taints,
// owner and finalizer to it in one patch. It returns the Node (nil while none registered).
func (c *Controller) register(ctx context.Context, vn *v1alpha1.VPSieNode) (*corev1.Node, reconcile.Result, error) {
	node, err := c.findNode(ctx, vn.Status.ProviderID)
	if err != nil {
		return nil, reconcile.Result{}, err
	}
	if node == nil {
		if !isTrue(vn, v1alpha1.VPSieNodeRegistered) {
			c.setCondition(vn, v1alpha1.VPSieNodeRegistered, metav1.ConditionUnknown, v1alpha1.ReasonAwaitingNode, "waiting for a Node with providerID "+vn.Status.ProviderID)
			c.setCondition(vn, v1alpha1.VPSieNodeInitialized, metav1.ConditionUnknown, v1alpha1.ReasonAwaitingNode, "waiting for the Node to register")
		}
		return nil, reconcile.Result{RequeueAfter: pollInterval}, nil
	}
	if owner := node.Labels[v1alpha1.LabelVPSieNode]; owner != "" && owner != vn.Name {
		// Two VPSieNodes claiming one VM would drain and delete each other's node.
		log.FromContext(ctx).Error(nil, "node belongs to another vpsienode", "Node", node.Name, "owner", owner)
		return nil, reconcile.Result{RequeueAfter: pollInterval}, nil
	}
	if node.Labels[v1alpha1.LabelRegistered] != "true" || node.Labels[v1alpha1.LabelVPSieNode] != vn.Name {
		stored := node.DeepCopy()
		applyRegistration(node, vn, c.holdsBatch(vn))
		// Optimistic lock: lists (taints, finalizers) are replaced whole by a merge patch, so a
		// concurrent change (the cloud controller manager removing its taint) must conflict
		// rather than be undone.
		if err := c.kubeClient.Patch(ctx, node, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{})); err != nil {
			if apierrors.IsConflict(err) {
				return nil, reconcile.Result{RequeueAfter: conflictRetry}, nil
			}
			return nil, reconcile.Result{}, fmt.Errorf("registering node %s, %w", node.Name, err)
		}
		log.FromContext(ctx).Info("registered node", "Node", node.Name)
	}
	vn.Status.NodeName = node.Name
	if len(node.Status.Capacity) > 0 {
		vn.Status.Capacity = node.Status.Capacity.DeepCopy()
	}
	if len(node.Status.Allocatable) > 0 {
		vn.Status.Allocatable = node.Status.Allocatable.DeepCopy()
	}
	if !isTrue(vn, v1alpha1.VPSieNodeRegistered) {
		c.setCondition(vn, v1alpha1.VPSieNodeRegistered, metav1.ConditionTrue, v1alpha1.ReasonRegistered, "node "+node.Name)
		registered(c.recorder, vn, node)
		metrics.RegistrationDuration.WithLabelValues(vn.Spec.NodeGroup).Observe(c.since(vn))
	}
	return node, reconcile.Result{}, nil
}

// applyRegistration adds what registration puts on the Node; hold adds the batch taint too. It
// goes on in the same patch as everything else, so the scheduler never sees the Node untainted.
func applyRegistration(node *corev1.Node, vn *v1alpha1.VPSieNode, hold bool) {
	if node.Labels == nil {
		node.Labels = map[string]string{}
	}
	for k, v := range vn.Labels {
		node.Labels[k] = v
	}
	node.Labels[v1alpha1.LabelVPSieNode] = vn.Name
	node.Labels[v1alpha1.LabelRegistered] = "true"
	for _, t := range append(append([]v1alpha1.Taint{}, vn.Spec.Taints...), vn.Spec.StartupTaints...) {
		if !hasTaint(node.Spec.Taints, t.Key, t.Effect) {
			node.Spec.Taints = append(node.Spec.Taints, t.ToCore())
		}
	}
	if hold && !hasTaintKey(node.Spec.Taints, v1alpha1.TaintKeyBatchPending) {
		node.Spec.Taints = append(node.Spec.Taints, batchTaint(vn.Labels[v1alpha1.LabelBatch]))
	}
	owned := false
	for _, ref := range node.OwnerReferences {
		if ref.UID == vn.UID {
			owned = true
		}
	}
	if !owned {
		node.OwnerReferences = append(node.OwnerReferences, metav1.OwnerReference{
			APIVersion:         v1alpha1.GroupVersion.String(),
			Kind:               "VPSieNode",
			Name:               vn.Name,
			UID:                vn.UID,
			BlockOwnerDeletion: ptr.To(true),
		})
	}
	controllerutil.AddFinalizer(node, v1alpha1.TerminationFinalizer)
}

// initialize marks the Node initialized once it is Ready without startup or not-ready taints,
// and its batch released.
func (c *Controller) initialize(ctx context.Context, vn *v1alpha1.VPSieNode, node *corev1.Node) (reconcile.Result, error) {
	if isTrue(vn, v1alpha1.VPSieNodeInitialized) && node.Labels[v1alpha1.LabelInitialized] == "true" {
		return reconcile.Result{}, nil
	}
	reason, msg := notInitialized(vn, node)
	if reason == v1alpha1.ReasonBatchHeld {
		// Only the batch holds the Node: release it (and its siblings) or keep waiting.
		held, res, err := c.releaseBatch(ctx, vn, node)
		if err != nil {
			return reconcile.Result{}, err
		}
		if held {
			c.setCondition(vn, v1alpha1.VPSieNodeInitialized, metav1.ConditionFalse, reason, msg)
			return res, nil
		}
		// releaseBatch took the taint off this very Node object.
		reason, msg = notInitialized(vn, node)
	}
	if reason != "" {
		c.setCondition(vn, v1alpha1.VPSieNodeInitialized, metav1.ConditionFalse, reason, msg)
		return reconcile.Result{RequeueAfter: pollInterval}, nil
	}
	if node.Labels[v1alpha1.LabelInitialized] != "true" {
		stored := node.DeepCopy()
		node.Labels[v1alpha1.LabelInitialized] = "true"
		if err := c.kubeClient.Patch(ctx, node, client.MergeFrom(stored)); err != nil {
			return reconcile.Result{}, client.IgnoreNotFound(fmt.Errorf("labelling node %s initialized, %w", node.Name, err))
		}
	}
	if !isTrue(vn, v1alpha1.VPSieNodeInitialized) {
		c.setCondition(vn, v1alpha1.VPSieNodeInitialized, metav1.ConditionTrue, v1alpha1.ReasonInitialized, "node "+node.Name+" is Ready")
		initialized(c.recorder, vn, node)
		metrics.InitializationDuration.WithLabelValues(vn.Spec.NodeGroup).Observe(c.since(vn))
		log.FromContext(ctx).Info("initialized node", "Node", node.Name)
	}
	return reconcile.Result{}, nil
}

// notInitialized returns the reason (and a message) the Node is not initialized, "" when it is.
func notInitialized(vn *v1alpha1.VPSieNode, node *corev1.Node) (string, string) {
	ready := false
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			ready = true
		}
	}
	if !ready {
		return v1alpha1.ReasonNodeNotReady, "node " + node.Name + " is not Ready"
	}
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == v1alpha1.TaintKeyExternalCloudProviderUninitialized {
			return v1alpha1.ReasonNodeNotReady, fmt.Sprintf("node %s has taint %s", node.Name, t.Key)
		}
	}
	var present []string
	for _, t := range vn.Spec.StartupTaints {
		if hasTaint(node.Spec.Taints, t.Key, t.Effect) {
			present = append(present, t.Key+":"+string(t.Effect))
		}
	}
	if len(present) > 0 {
		return v1alpha1.ReasonStartupTaintsPresent, "startup taints still present: " + strings.Join(present, ", ")
	}
	// Checked last: a Node held by its batch is otherwise ready, which is what its siblings'
	// release decision asks.
	if hasTaintKey(node.Spec.Taints, v1alpha1.TaintKeyBatchPending) {
		return v1alpha1.ReasonBatchHeld, fmt.Sprintf("node %s is Ready and held until the rest of its batch %s is Ready", node.Name, vn.Labels[v1alpha1.LabelBatch])
	}
	return "", ""
}

// liveness deletes a VPSieNode whose Node has not registered within the timeout.
func (c *Controller) liveness(ctx context.Context, vn *v1alpha1.VPSieNode) (reconcile.Result, bool, error) {
	if isTrue(vn, v1alpha1.VPSieNodeRegistered) {
		return reconcile.Result{}, false, nil
	}
	remaining := vn.CreationTimestamp.Add(c.opts.RegistrationTimeout).Sub(c.clock.Now())
	if remaining > 0 {
		return reconcile.Result{RequeueAfter: remaining}, false, nil
	}
	timeout := c.opts.RegistrationTimeout.String()
	log.FromContext(ctx).Info("node did not register in time, deleting", "providerID", vn.Status.ProviderID, "timeout", timeout)
	c.setCondition(vn, v1alpha1.VPSieNodeRegistered, metav1.ConditionFalse, v1alpha1.ReasonRegistrationTimeout, "no Node registered within "+timeout)
	vn.Status.Phase = v1alpha1.VPSieNodeFailed
	registrationTimeout(c.recorder, vn, timeout)
	metrics.NodesTerminated.WithLabelValues(vn.Spec.NodeGroup, TerminationReasonRegistrationTimeout).Inc()
	if err := c.kubeClient.Delete(ctx, vn); err != nil && !apierrors.IsNotFound(err) {
		return reconcile.Result{}, true, fmt.Errorf("deleting vpsienode after the registration timeout, %w", err)
	}
	return reconcile.Result{}, true, nil
}

// findNode returns the Node with this providerID, nil when there is none.
func (c *Controller) findNode(ctx context.Context, providerID string) (*corev1.Node, error) {
	if providerID == "" {
		return nil, nil
	}
	nodes := &corev1.NodeList{}
	var opts []client.ListOption
	if c.indexed {
		opts = append(opts, client.MatchingFields{NodeProviderIDIndex: providerID})
	}
	if err := c.kubeClient.List(ctx, nodes, opts...); err != nil {
		return nil, fmt.Errorf("listing nodes, %w", err)
	}
	for i := range nodes.Items {
		if nodes.Items[i].Spec.ProviderID == providerID {
			return &nodes.Items[i], nil
		}
	}
	return nil, nil
}

func (c *Controller) setCondition(vn *v1alpha1.VPSieNode, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(&vn.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: vn.Generation,
		LastTransitionTime: metav1.NewTime(c.clock.Now()),
	})
}

func (c *Controller) since(vn *v1alpha1.VPSieNode) float64 {
	return c.clock.Since(vn.CreationTimestamp.Time).Seconds()
}

// phase summarises the conditions; Failed, once set, stays.
func phase(vn *v1alpha1.VPSieNode) v1alpha1.VPSieNodePhase {
	switch {
	case vn.Status.Phase == v1alpha1.VPSieNodeFailed || vn.Status.Phase == v1alpha1.VPSieNodeTerminating:
		return vn.Status.Phase
	case isTrue(vn, v1alpha1.VPSieNodeInitialized):
		return v1alpha1.VPSieNodeReady
	case isTrue(vn, v1alpha1.VPSieNodeLaunched):
		return v1alpha1.VPSieNodeRegistering
	case vn.Status.LaunchAttempts > 0:
		return v1alpha1.VPSieNodeLaunching
	default:
		return v1alpha1.VPSieNodePending
	}
}

func isTrue(vn *v1alpha1.VPSieNode, typ string) bool {
	return meta.IsStatusConditionTrue(vn.Status.Conditions, typ)
}

func hasTaintKey(taints []corev1.Taint, key string) bool {
	for _, t := range taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

func hasTaint(taints []corev1.Taint, key string, effect corev1.TaintEffect) bool {
	for _, t := range taints {
		if t.Key == key && t.Effect == effect {
			return true
		}
	}
	return false
}

// soonest merges two results: the earlier non-zero requeue wins.
func soonest(a, b reconcile.Result) reconcile.Result {
	var out reconcile.Result
	switch {
	case a.RequeueAfter == 0:
		out.RequeueAfter = b.RequeueAfter
	case b.RequeueAfter == 0:
		out.RequeueAfter = a.RequeueAfter
	default:
		out.RequeueAfter = min(a.RequeueAfter, b.RequeueAfter)
	}
	return out
}
