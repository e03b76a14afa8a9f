package simulator

import (
	"fmt"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	schedulingv1alpha3 "k8s.io/api/scheduling/v1alpha3"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

// Snapshot is the cluster as the simulated scheduler sees it: nodes with the pods on them. It
// implements the scheduler framework's SharedLister so the real plugins read it directly.
//
// Fork starts a copy-on-write layer: the first change to a node inside the layer clones that
// node's NodeInfo and keeps the original aside, so Revert is O(nodes touched) and nodes that
// were never touched are shared. Layers nest; Commit folds the top layer into the one below.
// Consolidation forks once per candidate, so untouched nodes must cost nothing.
//
// A Snapshot is not safe for concurrent use.
type Snapshot struct {
	nodes map[string]*framework.NodeInfo
	// list keeps insertion order, which makes every iteration (and so every plan) deterministic.
	list  []fwk.NodeInfo
	index map[string]int

	affinityDirty    bool
	withAffinity     []fwk.NodeInfo
	withAntiAffinity []fwk.NodeInfo
	withNonHostAnti  []fwk.NodeInfo

	layers []*layer

	// version changes on every mutation; nodeVersion only when the node set changes. Cached
	// PreFilter states remember the version they were computed at.
	version     uint64
	nodeVersion uint64

	// added is the run of pod additions that led to the current version: entry k made
	// version addedFrom+k+1. Any other change ends the run. A PreFilter state computed within
	// the run catches up through the AddPod extensions instead of a new PreFilter, which
	// scans every pod with affinity in the cluster.
	added     []addedPod
	addedFrom uint64
}

type addedPod struct {
	pi   fwk.PodInfo
	node string
}

// maxAddedRun bounds the run of additions kept; older entries are dropped.
const maxAddedRun = 256

type layer struct {
	// saved holds the NodeInfo a node had when the layer started; nil for nodes added in it.
	saved map[string]*framework.NodeInfo
	// order is the node order when the layer started, restored on Revert.
	order []string
}

var _ fwk.SharedLister = (*Snapshot)(nil)
var _ fwk.NodeInfoLister = (*Snapshot)(nil)

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{
		nodes: map[string]*framework.NodeInfo{},
		index: map[string]int{},
	}
}

// AddNode adds a node without pods. Adding a name twice is an error.
func (s *Snapshot) AddNode(node *corev1.Node) error {
	if node == nil || node.Name == "" {
		return fmt.Errorf("adding node: node has no name")
	}
	ni := framework.NewNodeInfo()
	ni.SetNode(node)
	return s.AddNodeInfo(ni)
}

// AddNodeInfo adds a prepared NodeInfo (a node with its pods). The snapshot owns it afterwards.
func (s *Snapshot) AddNodeInfo(ni *framework.NodeInfo) error {
	if ni == nil || ni.Node() == nil {
		return fmt.Errorf("adding node: node info has no node")
	}
	name := ni.Node().Name
	if _, ok := s.nodes[name]; ok {
		return fmt.Errorf("adding node %q: already in the snapshot", name)
	}
	if top := s.top(); top != nil {
		if _, ok := top.saved[name]; !ok {
			top.saved[name] = nil
		}
	}
	s.nodes[name] = ni
	s.index[name] = len(s.list)
	s.list = append(s.list, ni)
	s.changed(true, len(ni.PodsWithAffinity) > 0)
	// To a PreFilter state a new node is its pods: no plugin whose state a PreFilter
	// extension keeps counts nodes without pods (spread does, and spread classes always get
	// a new PreFilter).
	s.logAdded(ni.Pods, name)
	return nil
}

// logAdded records that the last change added pods (none: an empty node) to node.
func (s *Snapshot) logAdded(pods []fwk.PodInfo, node string) {
	if s.addedFrom+uint64(len(s.added))+1 != s.version {
		s.added, s.addedFrom = s.added[:0], s.version-1
	}
	if len(pods) == 0 {
		// An empty node changes no PreFilter state: keep the run going with a no-op entry.
		s.added = append(s.added, addedPod{node: node})
	}
	for i, pi := range pods {
		if i > 0 {
			s.version++ // one version per pod, so the run stays one entry per version
		}
		s.added = append(s.added, addedPod{pi: pi, node: node})
	}
	if len(s.added) > 2*maxAddedRun {
		drop := len(s.added) - maxAddedRun
		s.added = append(s.added[:0], s.added[drop:]...)
		s.addedFrom += uint64(drop)
	}
}

// addedSince returns the pod additions that took the snapshot from version v to the current
// one, and false when something else changed meanwhile or the run no longer reaches back to v.
func (s *Snapshot) addedSince(v uint64) ([]addedPod, bool) {
	if v < s.addedFrom || s.addedFrom+uint64(len(s.added)) != s.version || v > s.version {
		return nil, false
	}
	return s.added[v-s.addedFrom:], true
}

// RemoveNode drops a node and its pods.
func (s *Snapshot) RemoveNode(name string) error {
	ni, ok := s.nodes[name]
	if !ok {
		return fmt.Errorf("removing node %q: not in the snapshot", name)
	}
	if top := s.top(); top != nil {
		if _, ok := top.saved[name]; !ok {
			top.saved[name] = ni
		}
	}
	delete(s.nodes, name)
	s.rebuildList(s.order())
	s.changed(true, true)
	return nil
}

// AddPod puts a pod on a node. The pod is not modified (its spec.nodeName is not required).
func (s *Snapshot) AddPod(pod *corev1.Pod, nodeName string) error {
	pi, err := framework.NewPodInfo(pod)
	if err != nil {
		return fmt.Errorf("adding pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return s.AddPodInfo(pi, nodeName)
}

// NewPodInfos builds the PodInfos of pods, aligned with pods, their requests summed. Summing a
// pod's requests is most of what its PodInfo costs, and in a big cluster the bound pods'
// PodInfos are most of what a snapshot costs; but a Deployment's pods are alike. Pods whose
// PodInfo can depend on nothing but their containers' resources (no pod (anti-)affinity, no
// resource claims, no pod-level resources, no resources in their status) share the parsed
// parts and the sums of the first pod with the same resources.
func NewPodInfos(pods []*corev1.Pod) ([]fwk.PodInfo, error) {
	out := make([]fwk.PodInfo, len(pods))
	alike := map[string]*framework.PodInfo{}
	var key []byte
	for i, p := range pods {
		var ok bool
		key, ok = appendResourceKey(key[:0], p)
		if rep := alike[string(key)]; ok && rep != nil {
			c := *rep
			c.Pod = p
			out[i] = &c
			continue
		}
		pi, err := framework.NewPodInfo(p)
		if err != nil {
			return nil, fmt.Errorf("adding pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		pi.CalculateResource() // cached in the PodInfo, and in every copy of it
		if ok {
			alike[string(key)] = pi
		}
		out[i] = pi
	}
	return out, nil
}

// appendResourceKey appends to b what a pod's PodInfo depends on: its containers' requests
// and limits (init containers with their restart policy) and its overhead. It says false
// when the PodInfo may depend on more (pod affinity terms, resource claims, pod-level or
// resized resources): such a pod gets a PodInfo of its own.
func appendResourceKey(b []byte, p *corev1.Pod) ([]byte, bool) {
	if a := p.Spec.Affinity; a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil) {
		return b, false
	}
	if len(p.Spec.ResourceClaims) > 0 || p.Spec.Resources != nil || p.Status.ExtendedResourceClaimStatus != nil {
		return b, false
	}
	for _, statuses := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for _, cs := range statuses {
			if cs.Resources != nil || cs.AllocatedResources != nil {
				return b, false
			}
		}
	}
	list := func(tag byte, l corev1.ResourceList) {
		b = append(b, tag)
		names := make([]string, 0, len(l))
		for name := range l {
			names = append(names, string(name))
		}
		slices.Sort(names)
		for _, name := range names {
			q := l[corev1.ResourceName(name)]
			b = append(b, name...)
			b = append(b, '=')
			b = strconv.AppendInt(b, q.MilliValue(), 10)
			b = append(b, ',')
		}
	}
	for _, c := range p.Spec.Containers {
		list('c', c.Resources.Requests)
		list('l', c.Resources.Limits)
	}
	for _, c := range p.Spec.InitContainers {
		b = append(b, 'i')
		if c.RestartPolicy != nil {
			b = append(b, *c.RestartPolicy...)
		}
		list('c', c.Resources.Requests)
		list('l', c.Resources.Limits)
	}
	list('o', p.Spec.Overhead)
	return b, true
}

// AddPodInfo is AddPod for a pod whose PodInfo is already computed (it parses affinity terms,
// which is worth doing once per pod, not once per placement attempt).
func (s *Snapshot) AddPodInfo(pi fwk.PodInfo, nodeName string) error {
	ni, err := s.mutable(nodeName)
	if err != nil {
		return fmt.Errorf("adding pod %s/%s: %w", pi.GetPod().Namespace, pi.GetPod().Name, err)
	}
	ni.AddPodInfo(pi)
	s.changed(false, hasAffinity(pi.GetPod()))
	s.logAdded([]fwk.PodInfo{pi}, nodeName)
	return nil
}

// RemovePod takes a pod off a node.
func (s *Snapshot) RemovePod(pod *corev1.Pod, nodeName string) error {
	ni, err := s.mutable(nodeName)
	if err != nil {
		return fmt.Errorf("removing pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if err := ni.RemovePod(klog.Background(), pod); err != nil {
		return fmt.Errorf("removing pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	s.changed(false, hasAffinity(pod))
	return nil
}

// Fork starts a layer of changes that Revert undoes and Commit keeps.
func (s *Snapshot) Fork() {
	s.layers = append(s.layers, &layer{saved: map[string]*framework.NodeInfo{}, order: s.order()})
}

// Revert undoes every change since the last Fork.
func (s *Snapshot) Revert() error {
	top := s.top()
	if top == nil {
		return fmt.Errorf("revert without fork")
	}
	s.layers = s.layers[:len(s.layers)-1]
	for name, prev := range top.saved {
		if prev == nil {
			delete(s.nodes, name)
		} else {
			s.nodes[name] = prev
		}
	}
	s.rebuildList(top.order)
	s.changed(true, true)
	return nil
}

// Commit keeps the changes since the last Fork, folding them into the enclosing layer (if any)
// so that an outer Revert still undoes them.
func (s *Snapshot) Commit() error {
	top := s.top()
	if top == nil {
		return fmt.Errorf("commit without fork")
	}
	s.layers = s.layers[:len(s.layers)-1]
	if lower := s.top(); lower != nil {
		for name, prev := range top.saved {
			if _, ok := lower.saved[name]; !ok {
				lower.saved[name] = prev
			}
		}
	}
	return nil
}

// Depth is the number of open forks.
func (s *Snapshot) Depth() int { return len(s.layers) }

// Version changes whenever the snapshot changes.
func (s *Snapshot) Version() uint64 { return s.version }

// NodeInfo returns the node's info, or nil. Callers must not modify it.
func (s *Snapshot) NodeInfo(name string) *framework.NodeInfo { return s.nodes[name] }

// NodeNames lists nodes in insertion order.
func (s *Snapshot) NodeNames() []string { return s.order() }

// Len is the number of nodes.
func (s *Snapshot) Len() int { return len(s.list) }

func (s *Snapshot) top() *layer {
	if len(s.layers) == 0 {
		return nil
	}
	return s.layers[len(s.layers)-1]
}

// mutable returns a NodeInfo that may be changed in the current layer, cloning it on first touch.
func (s *Snapshot) mutable(name string) (*framework.NodeInfo, error) {
	ni, ok := s.nodes[name]
	if !ok {
		return nil, fmt.Errorf("node %q not in the snapshot", name)
	}
	top := s.top()
	if top == nil {
		return ni, nil
	}
	if _, ok := top.saved[name]; ok {
		// Already cloned (or added) in this layer.
		return ni, nil
	}
	top.saved[name] = ni
	clone := ni.SnapshotConcrete()
	s.nodes[name] = clone
	s.list[s.index[name]] = clone
	if len(clone.PodsWithAffinity) > 0 {
		s.affinityDirty = true
	}
	return clone, nil
}

func (s *Snapshot) order() []string {
	names := make([]string, len(s.list))
	for i, ni := range s.list {
		names[i] = ni.Node().Name
	}
	return names
}

func (s *Snapshot) rebuildList(order []string) {
	s.list = s.list[:0]
	clear(s.index)
	for _, name := range order {
		ni, ok := s.nodes[name]
		if !ok {
			continue
		}
		s.index[name] = len(s.list)
		s.list = append(s.list, ni)
	}
	// Nodes added since the order was taken (only possible when the order is stale) go last,
	// in name order, so the result stays deterministic.
	if len(s.list) != len(s.nodes) {
		var extra []string
		for name := range s.nodes {
			if _, ok := s.index[name]; !ok {
				extra = append(extra, name)
			}
		}
		slices.Sort(extra)
		for _, name := range extra {
			s.index[name] = len(s.list)
			s.list = append(s.list, s.nodes[name])
		}
	}
}

func (s *Snapshot) changed(nodes, affinity bool) {
	s.version++
	if nodes {
		s.nodeVersion++
	}
	if affinity {
		s.affinityDirty = true
	}
}

func hasAffinity(p *corev1.Pod) bool {
	a := p.Spec.Affinity
	return a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)
}

func (s *Snapshot) refreshAffinity() {
	if !s.affinityDirty {
		return
	}
	s.withAffinity = s.withAffinity[:0]
	s.withAntiAffinity = s.withAntiAffinity[:0]
	s.withNonHostAnti = s.withNonHostAnti[:0]
	for _, n := range s.list {
		ni := n.(*framework.NodeInfo)
		if len(ni.PodsWithAffinity) > 0 {
			s.withAffinity = append(s.withAffinity, ni)
		}
		if len(ni.PodsWithRequiredAntiAffinity) > 0 {
			s.withAntiAffinity = append(s.withAntiAffinity, ni)
		}
		if len(ni.PodsWithRequiredNonHostScopedAntiAffinity) > 0 {
			s.withNonHostAnti = append(s.withNonHostAnti, ni)
		}
	}
	s.affinityDirty = false
}

// NodeInfos implements fwk.SharedLister.
func (s *Snapshot) NodeInfos() fwk.NodeInfoLister { return s }

// StorageInfos implements fwk.SharedLister.
func (s *Snapshot) StorageInfos() fwk.StorageInfoLister { return s }

// List implements fwk.NodeInfoLister. The slice is shared; callers must not modify it.
func (s *Snapshot) List() ([]fwk.NodeInfo, error) { return s.list, nil }

// HavePodsWithAffinityList implements fwk.NodeInfoLister.
func (s *Snapshot) HavePodsWithAffinityList() ([]fwk.NodeInfo, error) {
	s.refreshAffinity()
	return s.withAffinity, nil
}

// HavePodsWithRequiredAntiAffinityList implements fwk.NodeInfoLister.
func (s *Snapshot) HavePodsWithRequiredAntiAffinityList() ([]fwk.NodeInfo, error) {
	s.refreshAffinity()
	return s.withAntiAffinity, nil
}

// HavePodsWithRequiredNonHostScopedAntiAffinityList implements fwk.NodeInfoLister.
func (s *Snapshot) HavePodsWithRequiredNonHostScopedAntiAffinityList() ([]fwk.NodeInfo, error) {
	s.refreshAffinity()
	return s.withNonHostAnti, nil
}

// Get implements fwk.NodeInfoLister.
func (s *Snapshot) Get(name string) (fwk.NodeInfo, error) {
	if ni, ok := s.nodes[name]; ok {
		return ni, nil
	}
	return nil, fmt.Errorf("nodeinfo not found for node name %q", name)
}

// IsPVCUsedByPods implements fwk.StorageInfoLister.
func (s *Snapshot) IsPVCUsedByPods(key string) bool {
	for _, n := range s.list {
		if n.(*framework.NodeInfo).PVCRefCounts[key] > 0 {
			return true
		}
	}
	return false
}

// The simulator does not model pod groups (gang scheduling); these listers report "not found",
// which is what the scheduler reports for pods that do not belong to a group.

// PodGroupStates implements fwk.SharedLister.
func (s *Snapshot) PodGroupStates() fwk.PodGroupStateLister { return noPodGroupStates{} }

// PodGroups implements fwk.SharedLister.
func (s *Snapshot) PodGroups() fwk.PodGroupLister { return noPodGroups{} }

// CompositePodGroupStates implements fwk.SharedLister.
func (s *Snapshot) CompositePodGroupStates() fwk.CompositePodGroupStateLister {
	return noCompositeStates{}
}

// CompositePodGroups implements fwk.SharedLister.
func (s *Snapshot) CompositePodGroups() fwk.CompositePodGroupLister { return noComposites{} }

type noPodGroups struct{}

func (noPodGroups) Get(namespace, name string) (*schedulingv1beta1.PodGroup, error) {
	return nil, fmt.Errorf("pod group %s/%s not found: the simulator does not model pod groups", namespace, name)
}

type noPodGroupStates struct{}

func (noPodGroupStates) Get(namespace, name string) (fwk.PodGroupState, error) {
	return nil, fmt.Errorf("pod group state %s/%s not found", namespace, name)
}

type noCompositeStates struct{}

func (noCompositeStates) Get(namespace, name string) (fwk.CompositePodGroupState, error) {
	return nil, fmt.Errorf("composite pod group state %s/%s not found", namespace, name)
}

type noComposites struct{}

func (noComposites) Get(namespace, name string) (*schedulingv1alpha3.CompositePodGroup, error) {
	return nil, fmt.Errorf("composite pod group %s/%s not found", namespace, name)
}

// newNodeInfo wraps a node (without pods) in a NodeInfo.
type fwkNodeInfo = fwk.NodeInfo

func newNodeInfo(node *corev1.Node) *framework.NodeInfo {
	ni := framework.NewNodeInfo()
	ni.SetNode(node)
	return ni
}
