package simulator

import (
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// Topology spread with whenUnsatisfiable: ScheduleAnyway is only a score for kube-scheduler,
// so a plan that ignored it would pack replicas onto as few nodes as possible and the
// scheduler would then have no spread-out room to prefer. Like Karpenter, the simulator plans
// such pods with the constraint made DoNotSchedule first, and relaxes it only for the pods
// that this leaves unschedulable, planning them with their own spec on top of the first plan.

func hasPreferredSpread(p *corev1.Pod) bool {
	for _, c := range p.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable == corev1.ScheduleAnyway {
			return true
		}
	}
	return false
}

// strictInput returns in with every unbound pod's ScheduleAnyway spread constraints made
// DoNotSchedule (on copies), and the originals of the pods it changed by key; the map is nil
// when no pod has such a constraint.
func strictInput(in Input) (Input, map[string]*corev1.Pod) {
	var lenient map[string]*corev1.Pod
	pods := in.Pods
	for i, p := range in.Pods {
		if p.Spec.NodeName != "" || !hasPreferredSpread(p) {
			continue
		}
		if lenient == nil {
			lenient = map[string]*corev1.Pod{}
			pods = slices.Clone(in.Pods)
		}
		q := p.DeepCopy()
		for k := range q.Spec.TopologySpreadConstraints {
			q.Spec.TopologySpreadConstraints[k].WhenUnsatisfiable = corev1.DoNotSchedule
		}
		pods[i] = q
		lenient[podKey(p)] = p
	}
	in.Pods = pods
	return in, lenient
}

// solvePreferred plans strict (in with preferred spread made strict), then plans the pods it
// left unschedulable again with their original specs, in the cluster as the first plan leaves
// it. The returned solver is the second pass's when there is one: its snapshot holds every
// placement, with original specs.
func solvePreferred(in, strict Input, lenient map[string]*corev1.Pod, start time.Time) (*Plan, *solver, error) {
	s1, err := newSolver(strict, lenient)
	if err != nil {
		return nil, nil, err
	}
	s1.start = start
	pending := s1.prepare()
	if err := s1.packNew(); err != nil {
		s1.sched.Close()
		return nil, nil, err
	}
	first := s1.placement(pending)
	if len(first.Unschedulable) == 0 {
		s1.addBound(first)
		first.SolveTime = time.Since(start)
		return first, s1, nil
	}

	// The second pass sees the first plan's new nodes as nodes that exist (in-flight ones,
	// counted against NodeGroup limits) and its pods as bound, with their original specs.
	boundTo := map[string]string{}
	for _, e := range first.Existing {
		for _, p := range e.Pods {
			boundTo[p] = e.Node
		}
	}
	planned := map[string]int{}
	for i, n := range first.NewNodes {
		planned[n.Name] = i
		for _, p := range n.Pods {
			boundTo[p] = n.Name
		}
	}
	nodes := make([]*framework.NodeInfo, len(first.NewNodes))
	for i, n := range first.NewNodes {
		nodes[i] = s1.snap.NodeInfo(n.Name)
	}
	second := withPlannedBound(in, nodes, boundTo, nil)
	s2, err := newSolver(second, nil)
	if err != nil {
		s1.sched.Close()
		return nil, nil, err
	}
	s2.start = start
	s2.seq = s1.seq // new node names stay unique across both passes
	pending2 := s2.prepare()
	if err := s2.packNew(); err != nil {
		s1.sched.Close()
		s2.sched.Close()
		return nil, nil, err
	}
	relaxed := s2.placement(pending2)

	plan := &Plan{
		Pending:       first.Pending,
		HourlyCost:    first.HourlyCost + relaxed.HourlyCost,
		Unschedulable: relaxed.Unschedulable,
	}
	onExisting := map[string][]string{}
	for _, e := range first.Existing {
		onExisting[e.Node] = slices.Clone(e.Pods)
	}
	for _, n := range first.NewNodes {
		n.Pods = slices.Clone(n.Pods)
		plan.NewNodes = append(plan.NewNodes, n)
	}
	var placedAgain []string
	for _, e := range relaxed.Existing {
		placedAgain = append(placedAgain, e.Pods...)
		if i, ok := planned[e.Node]; ok {
			plan.NewNodes[i].Pods = append(plan.NewNodes[i].Pods, e.Pods...)
		} else {
			onExisting[e.Node] = append(onExisting[e.Node], e.Pods...)
		}
	}
	for _, n := range relaxed.NewNodes {
		placedAgain = append(placedAgain, n.Pods...)
		plan.NewNodes = append(plan.NewNodes, n)
	}
	for _, name := range s1.existing {
		if pods := onExisting[name]; len(pods) > 0 {
			plan.Existing = append(plan.Existing, Placement{Node: name, Pods: pods})
		}
	}

	// The bound covers every placed pod, over the first pass's classes (whose fits for the
	// bound are judged with the original specs).
	classOf := map[string]int{}
	for ci, c := range s1.classes {
		for _, p := range c.pods {
			classOf[podKey(p)] = ci
		}
	}
	for _, p := range placedAgain {
		s1.next[classOf[p]]++
	}
	s1.addBound(plan)
	s1.sched.Close()
	plan.SolveTime = time.Since(start)
	return plan, s2, nil
}

// withPlannedBound is in with planned nodes as nodes that exist (in-flight ones, counted against
// NodeGroup limits; each carries its template's daemonset pods under names of its own) and the
// pending pods of boundTo bound to the node it names. Other pending pods stay pending when keep
// (nil: all) says so and are left out otherwise.
func withPlannedBound(in Input, nodes []*framework.NodeInfo, boundTo map[string]string, keep func(key string) bool) Input {
	out := in
	out.Pods = make([]*corev1.Pod, 0, len(in.Pods))
	for _, p := range in.Pods {
		if p.Spec.NodeName == "" {
			if node, ok := boundTo[podKey(p)]; ok {
				q := p.DeepCopy()
				q.Spec.NodeName = node
				p = q
			} else if keep != nil && !keep(podKey(p)) {
				continue
			}
		}
		out.Pods = append(out.Pods, p)
	}
	out.Nodes = slices.Clone(in.Nodes)
	for _, ni := range nodes {
		name := ni.Node().Name
		out.Nodes = append(out.Nodes, ni.Node().DeepCopy())
		for _, pi := range ni.GetPods() {
			p := pi.GetPod()
			if _, ok := boundTo[podKey(p)]; ok {
				continue
			}
			// A daemonset pod of the template: the same object on every node of it, so it
			// gets a name and UID of its own here.
			q := p.DeepCopy()
			q.Name += "-" + name
			q.UID = types.UID(string(q.UID) + "-" + name)
			q.Spec.NodeName = name
			out.Pods = append(out.Pods, q)
		}
	}
	return out
}

// addSpreadDomains adds to the snapshot, for each template, an empty node that no pod fits
// (it has no allocatable room) and that packing never uses (it is not in s.existing). Spread
// then counts a node of every template as a topology domain with no pods, as it would once
// the node is created: without it, a strict hostname spread would allow any number of pods on
// the first new node, since the scheduler only sees domains that exist.
func (s *solver) addSpreadDomains() error {
	zero := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("0"),
		corev1.ResourceMemory: resource.MustParse("0"),
		corev1.ResourcePods:   resource.MustParse("0"),
	}
	for ti, t := range s.templates {
		node := t.node.DeepCopy()
		node.Name = fmt.Sprintf("spread-domain-%d.%s", ti, node.Name)
		node.Labels[v1alpha1.LabelHostname] = node.Name
		node.Status.Capacity, node.Status.Allocatable = zero.DeepCopy(), zero.DeepCopy()
		if err := s.snap.AddNode(node); err != nil {
			return fmt.Errorf("adding spread domain, %w", err)
		}
	}
	return nil
}
