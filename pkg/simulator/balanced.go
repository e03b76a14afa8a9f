package simulator

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
)

// A DoNotSchedule hostname spread with maxSkew s is a counting constraint over every node the
// pods may use: the final per-node counts of the group lie within s of each other. Pattern
// packing caps such a class at one pod per new node, which is right when there are more nodes
// than pods and wasteful otherwise (one node per pod of each Deployment). The balanced
// strategy makes the node count N the decision instead: N nodes of one template, each taking
// floor or ceil of T/N of every spread class, dealt round-robin (the order the real scheduler
// is held to), the other pending pods riding in the room left. It picks the cheapest (template,
// N) whose per-node share fits, lets Filter confirm every placement, and keeps the result only
// if the final counts are balanced over every eligible node, existing ones included.

// balancedCandidates bounds how many (template, N) choices are tried for real.
const balancedCandidates = 3

// balancedMaxSteps bounds the node counts tried per template above the resource minimum.
const balancedMaxSteps = 512

// spreadClasses returns the classes with pods left whose members are kept apart by a
// DoNotSchedule hostname spread on their own labels (and by nothing stricter).
func (s *solver) spreadClasses() []int {
	var out []int
	for ci, c := range s.classes {
		if s.next[ci] >= len(c.pods) || !c.selfHostnameLimited || c.selfAntiAffinity {
			continue
		}
		ok := true
		for _, tc := range c.pods[0].Spec.TopologySpreadConstraints {
			if tc.WhenUnsatisfiable == corev1.DoNotSchedule && tc.TopologyKey == corev1.LabelHostname && tc.MinDomains != nil {
				ok = false // minDomains changes what the global minimum is; not modelled here
			}
		}
		if ok {
			out = append(out, ci)
		}
	}
	return out
}

type balancedChoice struct {
	n int
	// tmpl is each node's template: the cheapest that holds its share.
	tmpl []int
	cost float64
}

// dealOrder is the order classes are dealt in: largest first. Each class starts where the
// previous one stopped, so the nodes that get one more pod differ from class to class and
// loads stay even.
func (s *solver) dealOrder(spread []int) []int {
	order := slices.Clone(spread)
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(sizeScore(s.classes[b].req), sizeScore(s.classes[a].req))
	})
	return order
}

// balancedChoices estimates, for each node count N below the largest spread class, the cost of
// dealing the spread classes round-robin over N nodes, each node of the cheapest template that
// holds its share, and returns the choices cheapest first.
func (s *solver) balancedChoices(spread []int) []balancedChoice {
	maxLeft := 0
	var demand [numDims]int64
	for _, ci := range spread {
		c := s.classes[ci]
		left := len(c.pods) - s.next[ci]
		maxLeft = max(maxLeft, left)
		for d := 0; d < numDims; d++ {
			demand[d] += int64(left) * c.req[d]
		}
	}
	var usable []int // templates every spread class may use, cheapest first
	var biggest [numDims]int64
	for ti, t := range s.templates {
		ok := true
		for _, ci := range spread {
			ok = ok && s.allowed[ci][ti]
		}
		if ok {
			usable = append(usable, ti)
			for d := 0; d < numDims; d++ {
				biggest[d] = max(biggest[d], t.free[d])
			}
		}
	}
	if len(usable) == 0 {
		return nil
	}
	slices.SortStableFunc(usable, func(a, b int) int {
		return cmp.Compare(s.templates[a].offering.HourlyPrice, s.templates[b].offering.HourlyPrice)
	})
	lo := 1
	for d := 0; d < numDims; d++ {
		if biggest[d] <= 0 {
			return nil
		}
		lo = max(lo, int((demand[d]+biggest[d]-1)/biggest[d]))
	}
	// The other pending pods that may use these templates ride in the room left: each node
	// gets an even share of their demand on top of its spread share.
	inSpread := make([]bool, len(s.classes))
	for _, ci := range spread {
		inSpread[ci] = true
	}
	var riders [numDims]int64
	for ci, c := range s.classes {
		if inSpread[ci] || s.next[ci] >= len(c.pods) || !slices.ContainsFunc(usable, func(ti int) bool { return s.allowed[ci][ti] }) {
			continue
		}
		for d := 0; d < numDims; d++ {
			riders[d] += int64(len(c.pods)-s.next[ci]) * c.req[d]
		}
	}
	for d := 0; d < numDims; d++ {
		lo = max(lo, int((demand[d]+riders[d]+biggest[d]-1)/biggest[d]))
	}
	order := s.dealOrder(spread)
	var out []balancedChoice
	for n := lo; n < maxLeft && n < lo+balancedMaxSteps; n++ {
		load := make([][numDims]int64, n)
		for k := range load {
			for d := 0; d < numDims; d++ {
				// A little headroom: riders are whole pods, packed best fit.
				load[k][d] = (riders[d]*riderHeadroom/100 + int64(n) - 1) / int64(n)
			}
		}
		at := 0
		for _, ci := range order {
			c := s.classes[ci]
			for k := 0; k < len(c.pods)-s.next[ci]; k++ {
				for d := 0; d < numDims; d++ {
					load[at%n][d] += c.req[d]
				}
				at++
			}
		}
		ch := balancedChoice{n: n, tmpl: make([]int, n)}
		used := map[*nodeGroup]int{}
		complete := true
		for k := range load {
			ch.tmpl[k] = -1
			for _, ti := range usable {
				t := s.templates[ti]
				fits := t.free[dimCPU] >= load[k][dimCPU] && t.free[dimMemory] >= load[k][dimMemory] && t.free[dimPods] >= load[k][dimPods]
				if fits && s.groupAllowsNodes(t, used[t.group]+1) {
					ch.tmpl[k] = ti
					used[t.group]++
					ch.cost += t.offering.HourlyPrice
					break
				}
			}
			if ch.tmpl[k] < 0 {
				complete = false
				break
			}
		}
		if complete {
			out = append(out, ch)
		}
	}
	slices.SortStableFunc(out, func(a, b balancedChoice) int { return cmp.Compare(a.cost, b.cost) })
	return out
}

// riderHeadroom is the percentage of the riders' demand a choice makes room for.
const riderHeadroom = 105

// groupAllowsNodes says whether n more nodes of t stay within its NodeGroup's limits.
func (s *solver) groupAllowsNodes(t *template, n int) bool {
	g := t.group
	if g.maxNodes > 0 && g.nodes+n > g.maxNodes {
		return false
	}
	if g.limitCPU != 0 && (g.limitCPU < 0 || g.cpu+int64(n)*t.offering.CPU*1000 > g.limitCPU) {
		return false
	}
	if g.limitMem != 0 && (g.limitMem < 0 || g.memory+int64(n)*t.offering.MemoryMiB<<20 > g.limitMem) {
		return false
	}
	return true
}

// openBalanced is the balanced strategy's new-node stage. Where it does not apply or no
// choice survives it places nothing, and the other strategies win the portfolio; only in a
// hurry, with no time for them, it packs like the plain column-generation strategy.
func (s *solver) openBalanced() error {
	if spread := s.spreadClasses(); len(spread) > 0 {
		choices := s.balancedChoices(spread)
		for _, ch := range choices[:min(balancedCandidates, len(choices))] {
			if s.hurry() {
				break
			}
			ok, err := s.tryBalanced(spread, ch)
			if err != nil {
				return err
			}
			if ok {
				return nil
			}
		}
	}
	if !s.hurry() {
		return nil
	}
	s.strategy = colgenStrategy
	if err := s.openNewNodes(); err != nil {
		return err
	}
	if err := s.emptyNodes(); err != nil {
		return err
	}
	return s.downsize()
}

// tryBalanced opens the ch.n nodes of ch for the spread classes and the pods riding
// with them, on a fork it keeps only when every pod has a place and the spread is balanced.
func (s *solver) tryBalanced(spread []int, ch balancedChoice) (bool, error) {
	saved := s.save()
	s.snap.Fork()
	ok, err := s.dealBalanced(spread, ch)
	if err != nil {
		return false, err
	}
	if ok {
		return true, s.snap.Commit()
	}
	if err := s.snap.Revert(); err != nil {
		return false, err
	}
	s.restore(saved)
	return false, nil
}

func (s *solver) dealBalanced(spread []int, ch balancedChoice) (bool, error) {
	names := make([]string, ch.n)
	for k := range names {
		t := s.templates[ch.tmpl[k]]
		s.seq++
		names[k] = fmt.Sprintf("%s-%s-%d", t.group.name, t.offering.Name, s.seq)
		if err := s.snap.AddNodeInfo(t.instantiate(names[k])); err != nil {
			return false, err
		}
		t.group.count(t.offering.CPU*1000, t.offering.MemoryMiB<<20)
		s.newNodes = append(s.newNodes, &plannedNode{name: names[k], tmpl: t, seq: s.seq})
	}
	at := 0
	for _, ci := range s.dealOrder(spread) {
		c := s.classes[ci]
		for s.next[ci] < len(c.pods) {
			if s.expired() {
				return false, nil
			}
			name := names[at%ch.n]
			if !s.sched.Filter(c.prep, s.snap.NodeInfo(name)).IsSuccess() {
				return false, nil
			}
			if err := s.place(ci, name); err != nil {
				return false, err
			}
			at++
		}
	}
	inSpread := make([]bool, len(s.classes))
	for _, ci := range spread {
		inSpread[ci] = true
	}
	all := func(int) bool { return true }
	for ci, c := range s.classes {
		if inSpread[ci] || s.next[ci] >= len(c.pods) {
			continue
		}
		if err := s.bestFit(ci, names, all); err != nil {
			return false, err
		}
	}
	// Pods that did not fit (or may not use this template) get nodes the plain way; the
	// balance check below says whether those nodes broke the spread.
	s.strategy = colgenStrategy
	if err := s.openNewNodes(); err != nil {
		return false, err
	}
	for ci, c := range s.classes {
		if s.next[ci] < len(c.pods) {
			return false, nil
		}
	}
	for _, ci := range spread {
		if !s.spreadBalanced(s.classes[ci].pods[0]) {
			return false, nil
		}
	}
	return true, nil
}

// spreadBalanced says whether every DoNotSchedule hostname spread of pod holds on the final
// snapshot: per-node counts of matching pods within maxSkew over the nodes the pod may use.
func (s *solver) spreadBalanced(pod *corev1.Pod) bool {
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, tc := range pod.Spec.TopologySpreadConstraints {
		if tc.WhenUnsatisfiable != corev1.DoNotSchedule || tc.TopologyKey != corev1.LabelHostname {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(tc.LabelSelector)
		if err != nil {
			return false
		}
		lo, hi := math.MaxInt, 0
		for _, ni := range s.snap.nodes {
			node := ni.Node()
			if node == nil {
				continue
			}
			if _, ok := node.Labels[corev1.LabelHostname]; !ok {
				continue
			}
			if match, err := required.Match(node); err != nil || !match {
				continue
			}
			n := 0
			for _, pi := range ni.Pods {
				p := pi.GetPod()
				if p.Namespace == pod.Namespace && sel.Matches(labels.Set(p.Labels)) {
					n++
				}
			}
			lo, hi = min(lo, n), max(hi, n)
		}
		if lo != math.MaxInt && hi-lo > int(tc.MaxSkew) {
			return false
		}
	}
	return true
}
