package lifecycle

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"go.uber.org/multierr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// Batch release. The provisioner plans a batch of pending pods onto N new nodes at once; if the
// Nodes became schedulable one by one, the kube-scheduler would pack the waiting pods greedily
// onto the first ones, unlike the plan, and strand some of them for another round of nodes. So
// each Node of a batch (VPSieNodes sharing v1alpha1.LabelBatch) registers under
// v1alpha1.TaintKeyBatchPending, and the taint comes off all of them in one go once every
// VPSieNode of the batch is gone, failed, or has a Node that is Ready with nothing else holding
// it, or once BatchReleaseWindow has passed since the first Node of the batch was held.
//
// The window runs from the first hold rather than from the batch's creation: VMs take minutes
// to boot, much longer than the window, and what the window bounds is how long Ready capacity
// stays idle while its siblings catch up.
//
// Whoever sees the batch complete releases it all, so the reconcile triggered by the event of
// the last Node to become Ready does it: Node events need no fan-out to siblings. A sibling that
// goes away (deleted, failed) has no Node event, so VPSieNode events of such members enqueue the
// held siblings (heldSiblings).

// holdsBatch says whether registration puts the batch taint on the Node of vn. Once vn was
// initialized its batch is long released: a re-registered Node is not held again.
func (c *Controller) holdsBatch(vn *v1alpha1.VPSieNode) bool {
	return c.opts.BatchReleaseWindow > 0 && vn.Labels[v1alpha1.LabelBatch] != "" && !isTrue(vn, v1alpha1.VPSieNodeInitialized)
}

func batchTaint(batch string) corev1.Taint {
	return corev1.Taint{Key: v1alpha1.TaintKeyBatchPending, Value: batch, Effect: corev1.TaintEffectNoSchedule}
}

// gone: a VPSieNode that will never bring a Node its batch should wait for.
func gone(vn *v1alpha1.VPSieNode) bool {
	return vn.DeletionTimestamp != nil || vn.Status.Phase == v1alpha1.VPSieNodeFailed
}

// heldSince is when the lifecycle controller first held the Node of vn for its batch.
func heldSince(vn *v1alpha1.VPSieNode) (time.Time, bool) {
	v := vn.Annotations[v1alpha1.AnnotationBatchHeldSince]
	if v == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	return t, err == nil
}

// releaseBatch decides for vn, whose Node is Ready and held only by the batch taint, whether the
// batch is complete (or its window over); if so it takes the taint off every Node of the batch,
// this node included (the object is updated in place). held is true while vn's Node stays held;
// the result then requeues for the rest of the window.
func (c *Controller) releaseBatch(ctx context.Context, vn *v1alpha1.VPSieNode, node *corev1.Node) (bool, reconcile.Result, error) {
	window, batch := c.opts.BatchReleaseWindow, vn.Labels[v1alpha1.LabelBatch]
	if window <= 0 || batch == "" {
		// Holding was turned off after the taint went on: the Node goes by itself.
		return c.releaseNodes(ctx, vn, batch, []*corev1.Node{node}, false, "batch holding is off (--batch-release-window=0)")
	}
	siblings := &v1alpha1.VPSieNodeList{}
	if err := c.kubeClient.List(ctx, siblings, client.MatchingLabels{v1alpha1.LabelBatch: batch}); err != nil {
		return false, reconcile.Result{}, fmt.Errorf("listing the vpsienodes of batch %s, %w", batch, err)
	}
	nodes := &corev1.NodeList{}
	if err := c.kubeClient.List(ctx, nodes, client.MatchingLabels{v1alpha1.LabelBatch: batch}); err != nil {
		return false, reconcile.Result{}, fmt.Errorf("listing the nodes of batch %s, %w", batch, err)
	}
	byOwner := map[string]*corev1.Node{}
	for i := range nodes.Items {
		if owner := nodes.Items[i].Labels[v1alpha1.LabelVPSieNode]; owner != "" {
			byOwner[owner] = &nodes.Items[i]
		}
	}
	// Our own Node as register just read or patched it: the cache may not have it yet.
	byOwner[vn.Name] = node

	now := c.clock.Now()
	start, recorded := heldSince(vn)
	if !recorded {
		start = now
	}
	waiting := 0
	for i := range siblings.Items {
		sib := &siblings.Items[i]
		if sib.Name == vn.Name {
			continue
		}
		if t, ok := heldSince(sib); ok && t.Before(start) {
			start = t
		}
		if gone(sib) || isTrue(sib, v1alpha1.VPSieNodeInitialized) {
			continue
		}
		n := byOwner[sib.Name]
		if n == nil {
			waiting++ // not launched or not registered yet
			continue
		}
		if reason, _ := notInitialized(sib, n); reason != "" && reason != v1alpha1.ReasonBatchHeld {
			waiting++
		}
	}
	if waiting > 0 {
		if remaining := start.Add(window).Sub(now); remaining > 0 {
			if !recorded {
				if err := c.recordHeld(ctx, vn, now); err != nil {
					return true, reconcile.Result{}, err
				}
			}
			log.FromContext(ctx).V(1).Info("holding node for its batch", "Node", node.Name, "batch", batch, "waitingFor", waiting, "remaining", remaining.String())
			return true, reconcile.Result{RequeueAfter: min(remaining, pollInterval)}, nil
		}
	}
	var held []*corev1.Node
	for _, n := range byOwner {
		if hasTaintKey(n.Spec.Taints, v1alpha1.TaintKeyBatchPending) {
			held = append(held, n)
		}
	}
	sort.Slice(held, func(i, j int) bool { return held[i].Name < held[j].Name })
	why := "the whole batch is Ready"
	if waiting > 0 {
		why = fmt.Sprintf("the release window %s expired with %d VPSieNodes of the batch not Ready", window, waiting)
	}
	return c.releaseNodes(ctx, vn, batch, held, waiting > 0, why)
}

// releaseNodes takes the batch taint off the nodes (one of them the Node of vn) and reports the
// release, and why, in an event on vn. held is true when vn's own Node kept the taint (a
// conflict: it is read again soon).
func (c *Controller) releaseNodes(ctx context.Context, vn *v1alpha1.VPSieNode, batch string, nodes []*corev1.Node, expired bool, why string) (bool, reconcile.Result, error) {
	var errs error
	released, ownHeld := 0, false
	for _, n := range nodes {
		stored := n.DeepCopy()
		n.Spec.Taints = withoutTaintKey(n.Spec.Taints, v1alpha1.TaintKeyBatchPending)
		// Optimistic lock, as in register: the taint list is replaced whole by a merge patch.
		err := c.kubeClient.Patch(ctx, n, client.MergeFromWithOptions(stored, client.MergeFromWithOptimisticLock{}))
		switch {
		case err == nil:
			released++
		case apierrors.IsNotFound(err):
		case apierrors.IsConflict(err):
			// A sibling's Node changed under us; its own Node event re-runs the release for it.
			*n = *stored
			if n.Labels[v1alpha1.LabelVPSieNode] == vn.Name {
				ownHeld = true
			}
		default:
			errs = multierr.Append(errs, fmt.Errorf("releasing node %s of batch %s, %w", n.Name, batch, err))
		}
	}
	if released > 0 {
		batchReleased(c.recorder, vn, batch, released, why)
		log.FromContext(ctx).Info("released batch", "batch", batch, "nodes", released, "windowExpired", expired)
	}
	if errs != nil {
		return true, reconcile.Result{}, errs
	}
	if ownHeld {
		return true, reconcile.Result{RequeueAfter: conflictRetry}, nil
	}
	return false, reconcile.Result{}, nil
}

// recordHeld writes AnnotationBatchHeldSince on vn with a patch of its own object, so the
// status changes this reconcile has made to vn in memory stay for the status patch.
func (c *Controller) recordHeld(ctx context.Context, vn *v1alpha1.VPSieNode, at time.Time) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		v1alpha1.AnnotationBatchHeldSince: at.UTC().Format(time.RFC3339Nano),
	}}})
	if err != nil {
		return fmt.Errorf("encoding the batch hold annotation, %w", err)
	}
	obj := &v1alpha1.VPSieNode{ObjectMeta: metav1.ObjectMeta{Name: vn.Name}}
	if err := c.kubeClient.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("recording when vpsienode %s was first held, %w", vn.Name, err))
	}
	return nil
}

// heldSiblings maps an event of a batch member that went away (deleted, failed) to its siblings
// still held, since that member may have been the last one they waited for.
func (c *Controller) heldSiblings(ctx context.Context, o client.Object) []reconcile.Request {
	vn, ok := o.(*v1alpha1.VPSieNode)
	if !ok || c.opts.BatchReleaseWindow <= 0 || !gone(vn) {
		return nil
	}
	batch := vn.Labels[v1alpha1.LabelBatch]
	if batch == "" {
		return nil
	}
	siblings := &v1alpha1.VPSieNodeList{}
	if err := c.kubeClient.List(ctx, siblings, client.MatchingLabels{v1alpha1.LabelBatch: batch}); err != nil {
		log.FromContext(ctx).Error(err, "listing the vpsienodes of a batch", "batch", batch)
		return nil
	}
	var out []reconcile.Request
	for i := range siblings.Items {
		sib := &siblings.Items[i]
		if sib.Name == vn.Name || gone(sib) {
			continue
		}
		// Only a held sibling can release the batch; the others are not there yet or are done.
		if cond := meta.FindStatusCondition(sib.Status.Conditions, v1alpha1.VPSieNodeInitialized); cond != nil && cond.Reason == v1alpha1.ReasonBatchHeld {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKey{Name: sib.Name}})
		}
	}
	return out
}

func withoutTaintKey(taints []corev1.Taint, key string) []corev1.Taint {
	out := make([]corev1.Taint, 0, len(taints))
	for _, t := range taints {
		if t.Key != key {
			out = append(out, t)
		}
	}
	return out
}
