// Package state is the autoscaler's in-memory model of the cluster, fed by informers: nodes,
// pods (and so bindings), VPSieNodes, NodeGroups, daemonsets, PDBs and the storage objects the
// volume plugins need. The provisioner builds every simulator Input from it (never from ad-hoc
// lists), and waits on Synced so it never plans from a picture that misses its own launches.
package state

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
)

// Cluster is the model. All methods are safe for concurrent use.
type Cluster struct {
	clk clock.Clock

	mu         sync.RWMutex
	nodes      map[string]*corev1.Node
	pods       map[types.UID]*corev1.Pod
	vpsieNodes map[string]*v1alpha1.VPSieNode
	nodeGroups map[string]*v1alpha1.NodeGroup
	daemonSets map[string]*appsv1.DaemonSet
	pdbs       map[string]*policyv1.PodDisruptionBudget
	pvcs       map[string]*corev1.PersistentVolumeClaim
	pvs        map[string]*corev1.PersistentVolume
	classes    map[string]*storagev1.StorageClass
	// launched are VPSieNodes this process created and the model has not seen yet, with when.
	launched map[string]time.Time
	// nominations map a pending pod to the VPSieNode a plan put it on (see Nominate).
	nominations map[types.UID]string
	synced      []func() bool
}

// launchedTTL bounds how long Synced waits for a VPSieNode this process created to show up (it
// may have been deleted before the informer saw it).
const launchedTTL = time.Minute

// NominationGrace is how long after its VPSieNode is initialized a nominated pod still counts
// as placed there: the scheduler binds it in that time, or the pod is planned afresh. The
// scheduler retries unschedulable pods as soon as a Node becomes schedulable (and backs off
// 10 s at most), so a pod still pending 10 s later was placed elsewhere than planned and needs
// a new round; waiting longer only delays that round.
const NominationGrace = 10 * time.Second

// NewCluster returns an empty model; Register feeds it from a manager's informers, tests may
// call Update and Delete directly.
func NewCluster(clk clock.Clock) *Cluster {
	return &Cluster{
		clk:        clk,
		nodes:      map[string]*corev1.Node{},
		pods:       map[types.UID]*corev1.Pod{},
		vpsieNodes: map[string]*v1alpha1.VPSieNode{},
		nodeGroups: map[string]*v1alpha1.NodeGroup{},
		daemonSets: map[string]*appsv1.DaemonSet{},
		pdbs:       map[string]*policyv1.PodDisruptionBudget{},
		pvcs:       map[string]*corev1.PersistentVolumeClaim{},
		pvs:        map[string]*corev1.PersistentVolume{},
		classes:    map[string]*storagev1.StorageClass{},
		launched:   map[string]time.Time{},

		nominations: map[types.UID]string{},
	}
}

// Register feeds the model from the manager's shared informers (the same caches the
// controllers read).
func (c *Cluster) Register(ctx context.Context, mgr manager.Manager) error {
	kinds := []client.Object{
		&corev1.Node{}, &corev1.Pod{}, &v1alpha1.VPSieNode{}, &v1alpha1.NodeGroup{}, &appsv1.DaemonSet{},
		&policyv1.PodDisruptionBudget{}, &corev1.PersistentVolumeClaim{}, &corev1.PersistentVolume{}, &storagev1.StorageClass{},
	}
	for _, obj := range kinds {
		inf, err := mgr.GetCache().GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("getting informer for %T, %w", obj, err)
		}
		reg, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { c.update(o) },
			UpdateFunc: func(_, o any) { c.update(o) },
			DeleteFunc: func(o any) {
				if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
					o = t.Obj
				}
				c.delete(o)
			},
		})
		if err != nil {
			return fmt.Errorf("watching %T, %w", obj, err)
		}
		c.mu.Lock()
		c.synced = append(c.synced, reg.HasSynced)
		c.mu.Unlock()
	}
	return nil
}

// Update adds or replaces an object in the model.
func (c *Cluster) Update(obj client.Object) { c.update(obj) }

// Delete removes an object from the model.
func (c *Cluster) Delete(obj client.Object) { c.delete(obj) }

func nsName(m metav1.Object) string { return m.GetNamespace() + "/" + m.GetName() }

func (c *Cluster) update(o any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch t := o.(type) {
	case *corev1.Node:
		c.nodes[t.Name] = t
	case *corev1.Pod:
		c.pods[t.UID] = t
		if !IsProvisionable(t) {
			delete(c.nominations, t.UID)
		}
	case *v1alpha1.VPSieNode:
		c.vpsieNodes[t.Name] = t
		delete(c.launched, t.Name)
		c.recordCost()
	case *v1alpha1.NodeGroup:
		c.nodeGroups[t.Name] = t
	case *appsv1.DaemonSet:
		c.daemonSets[nsName(t)] = t
	case *policyv1.PodDisruptionBudget:
		c.pdbs[nsName(t)] = t
	case *corev1.PersistentVolumeClaim:
		c.pvcs[nsName(t)] = t
	case *corev1.PersistentVolume:
		c.pvs[t.Name] = t
	case *storagev1.StorageClass:
		c.classes[t.Name] = t
	}
}

func (c *Cluster) delete(o any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch t := o.(type) {
	case *corev1.Node:
		delete(c.nodes, t.Name)
	case *corev1.Pod:
		delete(c.pods, t.UID)
		delete(c.nominations, t.UID)
	case *v1alpha1.VPSieNode:
		delete(c.vpsieNodes, t.Name)
		delete(c.launched, t.Name)
		for uid, vn := range c.nominations {
			if vn == t.Name {
				delete(c.nominations, uid)
			}
		}
		c.recordCost()
	case *v1alpha1.NodeGroup:
		delete(c.nodeGroups, t.Name)
	case *appsv1.DaemonSet:
		delete(c.daemonSets, nsName(t))
	case *policyv1.PodDisruptionBudget:
		delete(c.pdbs, nsName(t))
	case *corev1.PersistentVolumeClaim:
		delete(c.pvcs, nsName(t))
	case *corev1.PersistentVolume:
		delete(c.pvs, t.Name)
	case *storagev1.StorageClass:
		delete(c.classes, t.Name)
	}
}

// recordCost sets the cluster cost gauge; c.mu is held.
func (c *Cluster) recordCost() {
	total := 0.0
	for _, vn := range c.vpsieNodes {
		if vn.DeletionTimestamp != nil || vn.Status.HourlyPrice == "" {
			continue
		}
		if p, err := strconv.ParseFloat(vn.Status.HourlyPrice, 64); err == nil {
			total += p
		}
	}
	metrics.ClusterCost.Set(total)
}

// MarkLaunched records a VPSieNode this process just created: Synced is false until the model
// has seen it, so the next plan counts it as capacity instead of launching again.
func (c *Cluster) MarkLaunched(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.vpsieNodes[name]; !ok {
		c.launched[name] = c.clk.Now()
	}
}

// Nominate records that a plan put these pending pods on the VPSieNode. Until that node is
// usable (and for NominationGrace after), Snapshot shows them bound to it rather than pending:
// the next plan counts them where they are going and does not place them again, so it neither
// launches twice for them nor spends its time re-placing every pod of an earlier burst. A
// nomination ends when the pod is bound, deleted or no longer provisionable, or the VPSieNode
// goes.
func (c *Cluster) Nominate(pods []types.UID, vpsieNode string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, uid := range pods {
		c.nominations[uid] = vpsieNode
	}
}

// NominatedTo counts the pods nominated for the VPSieNode (see Nominate) that still wait for
// capacity. Unlike Snapshot it does not let a nomination lapse after NominationGrace: a pod that
// is still pending was last planned onto that node (a later plan that puts it on another new
// node nominates it there instead), so disruption must not take the node away from under it.
func (c *Cluster) NominatedTo(vpsieNode string) int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n := 0
	for uid, name := range c.nominations {
		if name != vpsieNode {
			continue
		}
		if p, ok := c.pods[uid]; ok && IsProvisionable(p) {
			n++
		}
	}
	return n
}

// Synced says whether the informers have delivered their initial lists and every VPSieNode this
// process launched is in the model.
func (c *Cluster) Synced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.synced {
		if !s() {
			return false
		}
	}
	now := c.clk.Now()
	for name, at := range c.launched {
		if now.Sub(at) > launchedTTL {
			delete(c.launched, name)
			continue
		}
		return false
	}
	return true
}

// NodeGroups returns the NodeGroups that are not being deleted, by name.
func (c *Cluster) NodeGroups() []*v1alpha1.NodeGroup {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*v1alpha1.NodeGroup
	for _, ng := range c.nodeGroups {
		if ng.DeletionTimestamp == nil {
			out = append(out, ng)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// VPSieNodes returns every VPSieNode, by name.
func (c *Cluster) VPSieNodes() []*v1alpha1.VPSieNode {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*v1alpha1.VPSieNode, 0, len(c.vpsieNodes))
	for _, vn := range c.vpsieNodes {
		out = append(out, vn)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Pod returns the pod with the UID, if the model has it.
func (c *Cluster) Pod(uid types.UID) (*corev1.Pod, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p, ok := c.pods[uid]
	return p, ok
}

// IsProvisionable says whether a pod waits for capacity the autoscaler may add: the scheduler
// found no node for it (PodScheduled=False, Unschedulable), it is unbound, not a daemonset or
// mirror pod, not terminating or finished, has no scheduling gates, and carries no
// nominatedNodeName (the scheduler is preempting for it: that capacity is on its way).
func IsProvisionable(p *corev1.Pod) bool {
	if p.Spec.NodeName != "" || p.DeletionTimestamp != nil || len(p.Spec.SchedulingGates) > 0 || p.Status.NominatedNodeName != "" {
		return false
	}
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return false
	}
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "DaemonSet" {
		return false
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodScheduled {
			return cond.Status == corev1.ConditionFalse && cond.Reason == corev1.PodReasonUnschedulable
		}
	}
	return false
}

// PendingPods returns the provisionable pods, oldest first.
func (c *Cluster) PendingPods() []*corev1.Pod {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out []*corev1.Pod
	for _, p := range c.pods {
		if IsProvisionable(p) {
			out = append(out, p)
		}
	}
	sortPods(out)
	return out
}

func sortPods(pods []*corev1.Pod) {
	sort.Slice(pods, func(i, j int) bool {
		a, b := pods[i], pods[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return a.CreationTimestamp.Before(&b.CreationTimestamp)
		}
		return nsName(a) < nsName(b)
	})
}

// Snapshot is what one plan is made from, consistent at one instant.
type Snapshot struct {
	NodeGroups []*v1alpha1.NodeGroup
	// Nodes: the cluster's usable nodes plus one node per in-flight VPSieNode (launching, or
	// registered but not yet initialized), shaped like the node it will become.
	Nodes []*corev1.Node
	// Pods: the pods bound to those nodes and the provisionable pending pods.
	Pods                   []*corev1.Pod
	DaemonSets             []*appsv1.DaemonSet
	PodDisruptionBudgets   []*policyv1.PodDisruptionBudget
	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	PersistentVolumes      []*corev1.PersistentVolume
	StorageClasses         []*storagev1.StorageClass
	// Pending are the provisionable pods (also in Pods) that no plan has a node for yet.
	Pending []*corev1.Pod
	// Nominated counts the provisionable pods shown bound (in Pods) to the node of the
	// VPSieNode an earlier plan put them on (see Cluster.Nominate).
	Nominated int
	// InFlight maps the simulated node name of each in-flight VPSieNode to the VPSieNode name.
	InFlight map[string]string
	// GroupNodes counts, per NodeGroup, its VPSieNodes that are not being deleted, and
	// GroupCPU/GroupMemory their capacity (millicores, bytes): what maxNodes and limits see.
	GroupNodes  map[string]int
	GroupCPU    map[string]int64
	GroupMemory map[string]int64
}

// Snapshot captures the model for one plan.
func (c *Cluster) Snapshot() *Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := &Snapshot{InFlight: map[string]string{}, GroupNodes: map[string]int{}, GroupCPU: map[string]int64{}, GroupMemory: map[string]int64{}}
	for _, ng := range c.nodeGroups {
		if ng.DeletionTimestamp == nil {
			s.NodeGroups = append(s.NodeGroups, ng)
		}
	}
	sort.Slice(s.NodeGroups, func(i, j int) bool { return s.NodeGroups[i].Name < s.NodeGroups[j].Name })

	byProviderID := map[string]*corev1.Node{}
	for _, n := range c.nodes {
		if n.Spec.ProviderID != "" {
			byProviderID[n.Spec.ProviderID] = n
		}
	}
	// Nodes that belong to a VPSieNode are judged through it: going away, or in flight.
	skip := map[string]bool{}
	// pinTo maps a VPSieNode whose nominated pods count as placed to its node in the snapshot.
	pinTo := map[string]string{}
	var nodes []*corev1.Node
	for _, vn := range c.vpsieNodes {
		var node *corev1.Node
		if vn.Status.ProviderID != "" {
			node = byProviderID[vn.Status.ProviderID]
		}
		if node == nil && vn.Status.NodeName != "" {
			node = c.nodes[vn.Status.NodeName]
		}
		if vn.DeletionTimestamp != nil {
			if node != nil {
				skip[node.Name] = true
			}
			continue
		}
		s.GroupNodes[vn.Spec.NodeGroup]++
		capacity := vn.Status.Capacity
		if capacity == nil {
			capacity = vn.Spec.Resources
		}
		cpu, mem := capacity[corev1.ResourceCPU], capacity[corev1.ResourceMemory]
		s.GroupCPU[vn.Spec.NodeGroup] += cpu.MilliValue()
		s.GroupMemory[vn.Spec.NodeGroup] += mem.Value()
		if node != nil && initialized(vn) {
			if c.clk.Since(initializedAt(vn)) < NominationGrace {
				pinTo[vn.Name] = node.Name
			}
			continue // a real, usable node: taken as it is below
		}
		if node != nil {
			skip[node.Name] = true
		}
		in := inFlightNode(vn, node)
		s.InFlight[in.Name] = vn.Name
		pinTo[vn.Name] = in.Name
		nodes = append(nodes, in)
	}
	for _, n := range c.nodes {
		if skip[n.Name] || n.DeletionTimestamp != nil || !nodeReady(n) {
			continue
		}
		nodes = append(nodes, withoutBatchTaint(n))
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	s.Nodes = nodes
	present := map[string]bool{}
	for _, n := range nodes {
		present[n.Name] = true
	}
	for _, p := range c.pods {
		switch {
		case p.Spec.NodeName != "":
			if present[p.Spec.NodeName] && p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				s.Pods = append(s.Pods, p)
			}
		case IsProvisionable(p):
			if node, ok := pinTo[c.nominations[p.UID]]; ok && present[node] {
				pinned := p.DeepCopy()
				pinned.Spec.NodeName = node
				s.Pods = append(s.Pods, pinned)
				s.Nominated++
				continue
			}
			s.Pods = append(s.Pods, p)
			s.Pending = append(s.Pending, p)
		}
	}
	sortPods(s.Pods)
	sortPods(s.Pending)
	for _, ds := range c.daemonSets {
		s.DaemonSets = append(s.DaemonSets, ds)
	}
	sort.Slice(s.DaemonSets, func(i, j int) bool { return nsName(s.DaemonSets[i]) < nsName(s.DaemonSets[j]) })
	for _, p := range c.pdbs {
		s.PodDisruptionBudgets = append(s.PodDisruptionBudgets, p)
	}
	for _, p := range c.pvcs {
		s.PersistentVolumeClaims = append(s.PersistentVolumeClaims, p)
	}
	for _, p := range c.pvs {
		s.PersistentVolumes = append(s.PersistentVolumes, p)
	}
	for _, sc := range c.classes {
		s.StorageClasses = append(s.StorageClasses, sc)
	}
	return s
}

// initializedAt is when the VPSieNode's Initialized condition last changed.
func initializedAt(vn *v1alpha1.VPSieNode) time.Time {
	if cond := meta.FindStatusCondition(vn.Status.Conditions, v1alpha1.VPSieNodeInitialized); cond != nil {
		return cond.LastTransitionTime.Time
	}
	return time.Time{}
}

func initialized(vn *v1alpha1.VPSieNode) bool {
	return meta.IsStatusConditionTrue(vn.Status.Conditions, v1alpha1.VPSieNodeInitialized)
}

func nodeReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// withoutBatchTaint hides v1alpha1.TaintKeyBatchPending from the simulator: the lifecycle
// controller takes it off by itself once the node's batch is Ready, so a plan that saw it would
// think the node unusable and launch a duplicate. A Node normally has it only while its
// VPSieNode is in flight (shown by inFlightNode, which never copies the Node's taints); this
// covers a Node whose VPSieNode the model has not caught up with. The cached object is shared,
// so the taint is dropped from a copy.
func withoutBatchTaint(n *corev1.Node) *corev1.Node {
	batch := func(t corev1.Taint) bool { return t.Key == v1alpha1.TaintKeyBatchPending }
	if !slices.ContainsFunc(n.Spec.Taints, batch) {
		return n
	}
	out := n.DeepCopy()
	out.Spec.Taints = slices.DeleteFunc(out.Spec.Taints, batch)
	return out
}

// inFlightNode is the node a VPSieNode will become: its labels (the NodeGroup's and the
// offering's), its taints without the startup ones (they go away; pods land there anyway) and
// without the batch taint (the same), and the allocatable the simulator expected. A registered
// Node lends its name, so the pods already bound to it (daemonsets) count; its own taints are
// not copied.
func inFlightNode(vn *v1alpha1.VPSieNode, registered *corev1.Node) *corev1.Node {
	name := vn.Name
	if registered != nil {
		name = registered.Name
	}
	labels := map[string]string{}
	for k, v := range vn.Labels {
		labels[k] = v
	}
	labels[v1alpha1.LabelHostname] = name
	labels[v1alpha1.LabelVPSieNode] = vn.Name
	allocatable := corev1.ResourceList{}
	for k, v := range vn.Spec.Resources {
		allocatable[k] = v.DeepCopy()
	}
	if _, ok := allocatable[corev1.ResourcePods]; !ok {
		allocatable[corev1.ResourcePods] = *resource.NewQuantity(scheduling.DefaultReservation().MaxPods, resource.DecimalSI)
	}
	capacity := vn.Status.Capacity
	if capacity == nil {
		capacity = allocatable
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: v1alpha1.CoreTaints(vn.Spec.Taints), ProviderID: vn.Status.ProviderID},
		Status:     corev1.NodeStatus{Capacity: capacity, Allocatable: allocatable},
	}
}
