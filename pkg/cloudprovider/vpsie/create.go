package vpsie

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
	vpsieapi "github.com/vpsie/vpsie-k8s-autoscaler/pkg/vpsie"
)

// Create gets vn a worker of the VPSie node group of its offering.
//
// VPSie's add-worker usually answers without naming the worker, and the workers of one group are
// interchangeable (same size), so attribution is a count: under the group's lock, the group's
// listed workers minus those claimed (status.instanceID of every VPSieNode, plus claims handed out
// here that no status shows yet) are free. Free workers are reserved for the VPSieNodes with a
// still-valid pending request (annotation AnnotationWorkerRequested younger than the attribution
// window) in request order: vn adopts the oldest free worker when there are more free workers
// than VPSieNodes ahead of it (every pending one when vn has no request of its own). Otherwise a
// vn with a pending request waits (LaunchPending), and one without persists its request on the
// VPSieNode before asking VPSie, so a restarted controller waits for that worker instead of
// asking twice. Every add whose outcome is unknown (5xx, timeout, lost answer) is never retried:
// it answers LaunchPending and a later call adopts the worker or, after the window, asks again.
func (c *CloudProvider) Create(ctx context.Context, vn *v1alpha1.VPSieNode) (*v1alpha1.VPSieNode, error) {
	log := c.logger(ctx).WithValues("VPSieNode", vn.Name, "offering", vn.Spec.OfferingID)
	o, err := c.offering(ctx, vn.Spec.DatacenterID, vn.Spec.OfferingID)
	if err != nil {
		if cloudprovider.IsInsufficientCapacity(err) {
			c.MarkUnavailable(vn.Spec.OfferingID)
		}
		return nil, err
	}
	unlock, err := c.lockGroup(ctx, o.ID)
	if err != nil {
		return nil, fmt.Errorf("waiting for the node group of offering %s, %w", o.ID, err)
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()

	g, err := c.ensureGroup(ctx, o)
	if err != nil {
		return nil, err
	}
	v, err := c.observe(ctx, g)
	if err != nil {
		return nil, err
	}
	if id := cmp.Or(vn.Status.InstanceID, v.launched[vn.Name]); id != "" {
		// Already launched (the caller's copy is older, or it lost our answer): describe the
		// same worker again.
		if w, ok := v.nodes[id]; ok {
			return c.launched(vn, o, w), nil
		}
		return nil, cloudprovider.NewNotFoundError(fmt.Errorf("worker %s of vpsienode %s not found", id, vn.Name))
	}
	if w, ok := c.attribute(v, vn.Name); ok {
		c.claim(vn.Name, w.Identifier, g.ID)
		log.Info("attributed worker", "instance", w.Identifier, "groupID", g.ID)
		return c.launched(vn, o, w), nil
	}
	if _, ok := v.requests[vn.Name]; ok {
		return nil, cloudprovider.NewLaunchPendingError(c.pollInterval, fmt.Sprintf("waiting for the worker requested from node group %s", g.Name))
	}
	if c.isUnavailable(o.ID) {
		return nil, cloudprovider.NewInsufficientCapacityError(o.ID, false, fmt.Errorf("offering %s was recently refused for capacity", o.Name))
	}

	// Persisted before asking: after a crash between here and the answer, the next controller
	// waits for this worker instead of asking for a second one.
	at, err := c.persistRequest(ctx, vn, g)
	if err != nil {
		return nil, err
	}
	log.Info("requesting worker", "groupID", g.ID, "group", g.Name)
	res, err := c.api.AddWorker(ctx, c.clusterID, g.ID)
	// Whatever the answer, a listing from before the add may lack a worker it built.
	c.clusterListing.invalidate()
	if err != nil {
		return nil, c.addFailed(ctx, vn, o, g, at, err)
	}
	if res.Node != nil && res.Node.Identifier != "" {
		c.claim(vn.Name, res.Node.Identifier, g.ID)
		w := vpsieapi.ClusterNode{Identifier: res.Node.Identifier, Hostname: res.Node.Hostname, Status: res.Node.Status, GroupID: g.ID}
		// Best effort: the listing also has the worker's address.
		if cl, err := c.cluster(ctx, 0); err == nil {
			for _, n := range cl.Nodes {
				if n.Identifier == w.Identifier {
					w = n
				}
			}
		}
		log.Info("worker added", "instance", w.Identifier, "groupID", g.ID)
		return c.launched(vn, o, w), nil
	}

	// The wait does not hold the group's lock: the request is recorded, so other VPSieNodes of
	// the group may ask for their workers meanwhile and attribution (by request order) still
	// gives each worker to one of them. Holding it would make a burst of one size launch one
	// VPSieNode per listing delay.
	deadline := c.clock.Now().Add(c.asyncWait)
	for c.asyncWait > 0 && c.clock.Now().Before(deadline) {
		unlock()
		locked = false
		select {
		case <-ctx.Done():
			return nil, cloudprovider.NewLaunchPendingError(c.pollInterval, "worker requested, stopped waiting for it: "+ctx.Err().Error())
		case <-c.clock.After(c.pollInterval):
		}
		if unlock, err = c.lockGroup(ctx, o.ID); err != nil {
			return nil, cloudprovider.NewLaunchPendingError(c.pollInterval, "worker requested, stopped waiting for it: "+err.Error())
		}
		locked = true
		v, err := c.observe(ctx, g)
		if err != nil {
			log.V(1).Info("listing workers while waiting for the requested one failed", "error", err.Error())
			continue
		}
		if w, ok := c.attribute(v, vn.Name); ok {
			c.claim(vn.Name, w.Identifier, g.ID)
			log.Info("attributed worker", "instance", w.Identifier, "groupID", g.ID)
			return c.launched(vn, o, w), nil
		}
	}
	return nil, cloudprovider.NewLaunchPendingError(c.pollInterval, fmt.Sprintf("worker requested from node group %s, not listed yet", g.Name))
}

// addFailed handles a failed add-worker call. A definite refusal (a 4xx answer: nothing was
// built) withdraws the request; any other failure may have built a worker, so the request stays
// and the launch is pending.
func (c *CloudProvider) addFailed(ctx context.Context, vn *v1alpha1.VPSieNode, o cloudprovider.Offering, g nodeGroup, at time.Time, err error) error {
	log := c.logger(ctx).WithValues("VPSieNode", vn.Name, "offering", o.ID, "groupID", g.ID)
	var apiErr *vpsieapi.Error
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus < 400 || apiErr.HTTPStatus > 499 {
		log.Info("add-worker outcome unknown, waiting for the worker instead of asking again", "error", err.Error())
		return cloudprovider.NewLaunchPendingError(c.pollInterval, "add-worker outcome unknown ("+err.Error()+"), waiting for the worker")
	}
	if cerr := c.withdrawRequest(ctx, vn, g, at); cerr != nil {
		// The request then blocks this VPSieNode for one attribution window: slower, still safe.
		log.Error(cerr, "withdrawing the worker request failed")
	}
	switch {
	case vpsieapi.IsQuotaExceeded(err):
		c.MarkUnavailable(o.ID)
		msg := strings.ToLower(apiErr.Message)
		quota := !strings.Contains(msg, "capacity") && !strings.Contains(msg, "unavailable")
		return cloudprovider.NewInsufficientCapacityError(o.ID, quota, err)
	case apiErr.HTTPStatus == http.StatusNotFound:
		// The node group vanished behind our back: find or create it again next time.
		c.forgetGroup(o.ID)
		return fmt.Errorf("node group %s not found, %w", g.Name, err)
	default:
		return err
	}
}

// view is what attribution decides on: the group's listed workers and who claims what.
type view struct {
	// workers of the group, oldest first.
	workers []vpsieapi.ClusterNode
	// nodes is every node of the cluster by identifier.
	nodes map[string]vpsieapi.ClusterNode
	// claimed are the worker identifiers some VPSieNode has (status or in-memory claim).
	claimed map[string]bool
	// claims are the in-memory claims by VPSieNode name.
	claims map[string]string
	// launched are the instance ids VPSieNode statuses show, by VPSieNode name.
	launched map[string]string
	// requests are the still-valid pending requests on this group by VPSieNode name.
	requests map[string]time.Time
}

// observe lists the group's workers and the VPSieNodes, and prunes the in-memory claims and
// requests that the VPSieNodes now show (or that are moot).
func (c *CloudProvider) observe(ctx context.Context, g nodeGroup) (*view, error) {
	cluster, err := c.cluster(ctx, c.listingMaxAge)
	if err != nil {
		return nil, fmt.Errorf("listing workers, %w", err)
	}
	var vns v1alpha1.VPSieNodeList
	if err := c.kube.List(ctx, &vns); err != nil {
		return nil, fmt.Errorf("listing vpsienodes, %w", err)
	}
	v := &view{nodes: map[string]vpsieapi.ClusterNode{}, claimed: map[string]bool{}, claims: map[string]string{}, launched: map[string]string{}, requests: map[string]time.Time{}}
	for _, n := range cluster.Nodes {
		v.nodes[n.Identifier] = n
		if n.IsWorker() && n.GroupID == g.ID && n.Identifier != "" {
			v.workers = append(v.workers, n)
		}
	}
	slices.SortFunc(v.workers, func(a, b vpsieapi.ClusterNode) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Identifier, b.Identifier))
	})

	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	listed := map[string]*v1alpha1.VPSieNode{}
	for i := range vns.Items {
		vn := &vns.Items[i]
		listed[vn.Name] = vn
		if vn.Status.InstanceID != "" {
			v.claimed[vn.Status.InstanceID] = true
			v.launched[vn.Name] = vn.Status.InstanceID
		}
	}
	for name, cl := range c.claims {
		if cl.groupID != g.ID {
			// Only this group's observations (serialised by its lock, each listing at least as
			// new as the one before) may drop its claims: another group's listing can be newer
			// than the one this call took, and dropping a claim on its evidence would free a
			// worker this call's older listing does not show as taken.
			continue
		}
		vn, ok := listed[name]
		_, exists := v.nodes[cl.instanceID]
		// A claim the status shows is no longer needed; one whose VPSieNode or worker is gone is
		// kept for a window, since a cached client or a just-built worker may lag behind.
		switch {
		case ok && vn.Status.InstanceID != "",
			(!ok || !exists) && now.Sub(cl.at) >= c.attributionWindow:
			delete(c.claims, name)
		default:
			v.claimed[cl.instanceID] = true
			v.claims[name] = cl.instanceID
		}
	}
	for name, r := range c.pending {
		vn, ok := listed[name]
		if _, claimed := c.claims[name]; claimed || (ok && vn.Status.InstanceID != "") || now.Sub(r.at) >= c.attributionWindow {
			delete(c.pending, name)
			continue
		}
		if r.groupID == g.ID && (!ok || vn.DeletionTimestamp.IsZero()) {
			v.requests[name] = r.at
		}
	}
	groupID := strconv.Itoa(g.ID)
	for name, vn := range listed {
		if _, ok := v.requests[name]; ok || vn.Status.InstanceID != "" || !vn.DeletionTimestamp.IsZero() {
			continue
		}
		if _, claimed := c.claims[name]; claimed || vn.Annotations[v1alpha1.AnnotationWorkerGroup] != groupID {
			continue
		}
		at, err := time.Parse(time.RFC3339, vn.Annotations[v1alpha1.AnnotationWorkerRequested])
		if err != nil || now.Sub(at) >= c.attributionWindow {
			continue
		}
		v.requests[name] = at
	}
	return v, nil
}

// attribute picks the worker for the VPSieNode name, if one is free for it (see Create).
func (c *CloudProvider) attribute(v *view, name string) (vpsieapi.ClusterNode, bool) {
	if id, ok := v.claims[name]; ok {
		if w, ok := v.nodes[id]; ok {
			return w, true
		}
		return vpsieapi.ClusterNode{Identifier: id}, true
	}
	var free []vpsieapi.ClusterNode
	for _, w := range v.workers {
		if !v.claimed[w.Identifier] {
			free = append(free, w)
		}
	}
	if len(free) == 0 {
		return vpsieapi.ClusterNode{}, false
	}
	own, hasOwn := v.requests[name]
	ahead := 0
	for other, at := range v.requests {
		if other == name {
			continue
		}
		// One total order on requests (time, then name), the same for every caller, so the
		// first request in it can always adopt and nobody waits on a worker that never comes
		// longer than one attribution window.
		if !hasOwn || at.Before(own) || (at.Equal(own) && other < name) {
			ahead++
		}
	}
	if len(free) > ahead {
		return free[0], true
	}
	return vpsieapi.ClusterNode{}, false
}

func (c *CloudProvider) claim(name, instanceID string, groupID int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.claims[name] = claim{instanceID: instanceID, groupID: groupID, at: c.clock.Now()}
	delete(c.pending, name)
}

// persistRequest writes the request annotations on vn (a metadata patch) and records the
// request in memory. It returns the request time as written (whole seconds), so the in-memory
// and persisted orders of requests agree.
func (c *CloudProvider) persistRequest(ctx context.Context, vn *v1alpha1.VPSieNode, g nodeGroup) (time.Time, error) {
	at := c.clock.Now().UTC().Truncate(time.Second)
	orig := &v1alpha1.VPSieNode{ObjectMeta: *vn.ObjectMeta.DeepCopy()}
	patched := orig.DeepCopy()
	if patched.Annotations == nil {
		patched.Annotations = map[string]string{}
	}
	patched.Annotations[v1alpha1.AnnotationWorkerRequested] = at.Format(time.RFC3339)
	patched.Annotations[v1alpha1.AnnotationWorkerGroup] = strconv.Itoa(g.ID)
	if err := c.kube.Patch(ctx, patched, client.MergeFrom(orig)); err != nil {
		return time.Time{}, fmt.Errorf("recording the worker request on vpsienode %s, %w", vn.Name, err)
	}
	c.mu.Lock()
	c.pending[vn.Name] = request{at: at, groupID: g.ID}
	c.mu.Unlock()
	return at, nil
}

// withdrawRequest removes a request VPSie refused, so the VPSieNode may ask again at once.
func (c *CloudProvider) withdrawRequest(ctx context.Context, vn *v1alpha1.VPSieNode, g nodeGroup, at time.Time) error {
	c.mu.Lock()
	delete(c.pending, vn.Name)
	c.mu.Unlock()
	orig := &v1alpha1.VPSieNode{ObjectMeta: *vn.ObjectMeta.DeepCopy()}
	if orig.Annotations == nil {
		orig.Annotations = map[string]string{}
	}
	orig.Annotations[v1alpha1.AnnotationWorkerRequested] = at.Format(time.RFC3339)
	orig.Annotations[v1alpha1.AnnotationWorkerGroup] = strconv.Itoa(g.ID)
	patched := orig.DeepCopy()
	delete(patched.Annotations, v1alpha1.AnnotationWorkerRequested)
	delete(patched.Annotations, v1alpha1.AnnotationWorkerGroup)
	return client.IgnoreNotFound(c.kube.Patch(ctx, patched, client.MergeFrom(orig)))
}

// launched is vn with the status of its worker.
func (c *CloudProvider) launched(vn *v1alpha1.VPSieNode, o cloudprovider.Offering, w vpsieapi.ClusterNode) *v1alpha1.VPSieNode {
	out := vn.DeepCopy()
	capacity := scheduling.Capacity(o.CPU, o.MemoryMiB, o.DiskGB, 0)
	out.Status.InstanceID = w.Identifier
	out.Status.ProviderID = cloudprovider.ProviderID(w.Identifier)
	out.Status.Hostname = w.Hostname
	out.Status.IP = ipOf(w)
	out.Status.Capacity = capacity
	out.Status.Allocatable = scheduling.Allocatable(capacity, scheduling.DefaultReservation())
	out.Status.HourlyPrice = strconv.FormatFloat(o.HourlyPrice, 'f', -1, 64)
	return out
}

// lockGroup takes the offering's group lock, giving up when ctx ends.
func (c *CloudProvider) lockGroup(ctx context.Context, offeringID string) (func(), error) {
	c.mu.Lock()
	ch, ok := c.groupLocks[offeringID]
	if !ok {
		ch = make(chan struct{}, 1)
		c.groupLocks[offeringID] = ch
	}
	c.mu.Unlock()
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *CloudProvider) isUnavailable(offeringID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unavailableLocked(offeringID, c.clock.Now())
}
