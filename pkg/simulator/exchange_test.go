package simulator

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	corev1 "k8s.io/api/core/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// An existing node with 3.5 cpu and 12.5Gi free holds either the memory pod (500m, 12Gi) or
// the three web pods (1 cpu, 1Gi each), not both. On new nodes the memory pod is dear (its
// 12Gi need s-6vcpu-16gb, $0.12329, or a share of a larger memory-rich node) while the web
// pods fill s-4vcpu-8gb ($0.06575, 3.9 cpu). With the web pods on the node, the exchange
// swaps them for the memory pod: the web pods go back to pending, the plan then costs
// $0.06575 instead of $0.12329.
func TestExchangeSwapsCheapPodsForDearOnes(t *testing.T) {
	g := NewWithT(t)
	in := Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Nodes:      []*corev1.Node{testNode("old-1", "3500m", "12800Mi", nil)},
		Pods:       append(replicas(1, "cache", "500m", "12Gi"), replicas(3, "web", "1", "1Gi")...),
	}
	s, err := newSolver(in, nil)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	s.prepare()
	var cache, web int
	for ci, c := range s.classes {
		if c.pods[0].Name == "cache-0" {
			cache = ci
		} else {
			web = ci
		}
	}
	for i := 0; i < 3; i++ {
		g.Expect(s.place(web, "old-1")).To(Succeed())
	}
	g.Expect(s.exchangeExisting()).To(Succeed())
	g.Expect(s.next[cache]).To(Equal(1))
	g.Expect(s.next[web]).To(Equal(0))
	g.Expect(s.keys(s.placedOn["old-1"])).To(ConsistOf("default/cache-0"))
	// The snapshot agrees: the node holds the cache pod only.
	g.Expect(s.snap.NodeInfo("old-1").GetPods()).To(HaveLen(1))

	// The rest of the plan: the web pods on one s-4vcpu-8gb.
	g.Expect(s.bestOf(1, func(int) error { s.strategy = colgenStrategy; return s.openNewNodes() })).To(Succeed())
	plan, err := s.plan(4)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(offeringNames(plan)).To(Equal([]string{"s-4vcpu-8gb"}))
	g.Expect(plan.Unschedulable).To(BeEmpty())
}

// Nothing gains: the pods on the node stay, and so do the counts.
func TestExchangeKeepsAGoodChoice(t *testing.T) {
	g := NewWithT(t)
	in := Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Nodes:      []*corev1.Node{testNode("old-1", "3500m", "12800Mi", nil)},
		Pods:       append(replicas(1, "cache", "500m", "12Gi"), replicas(3, "web", "1", "1Gi")...),
	}
	s, err := newSolver(in, nil)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	s.prepare()
	for ci, c := range s.classes {
		if c.pods[0].Name == "cache-0" {
			g.Expect(s.place(ci, "old-1")).To(Succeed())
		}
	}
	g.Expect(s.exchangeExisting()).To(Succeed())
	g.Expect(s.keys(s.placedOn["old-1"])).To(ConsistOf("default/cache-0"))
}

// Diving column generation alone places every pod, at the integer optimum: 10 pods of 1 cpu
// / 1Gi are s-8vcpu-16gb (7 pods) + s-4vcpu-8gb (3) = $0.19726 (see
// TestOfferingChoiceHandWorked). Without diving, column generation opens only the nodes the
// LP buys whole and leaves the fractional rest to the later phases.
func TestDivingColumnGenerationRoundsToTheOptimum(t *testing.T) {
	g := NewWithT(t)
	in := Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general", ngCategory("standard"))},
		Offerings:  standardOfferings(),
		Pods:       replicas(10, "web", "1", "1Gi", withLabels("app", "web")),
	}
	for _, dive := range []bool{false, true} {
		s, err := newSolver(in, nil)
		g.Expect(err).NotTo(HaveOccurred())
		s.prepare()
		s.strategy = strategy{tolerance: 1.1, cumulative: true, colgen: true, dive: dive}
		remaining := []int{10}
		total := 10
		g.Expect(s.columnGeneration(remaining, &total)).To(Succeed())
		cost := 0.0
		for _, n := range s.newNodes {
			cost += n.tmpl.offering.HourlyPrice
		}
		if dive {
			g.Expect(total).To(Equal(0))
			g.Expect(cost).To(BeNumerically("~", 0.19726, 1e-9))
		} else {
			g.Expect(total).To(BeNumerically(">", 0))
		}
		s.sched.Close()
	}
}

// Emptying a new node may displace pending pods from an existing node. old-1 (2 cpu) holds
// two web pods (500m each); new node A (s-4vcpu-8gb, 3.9 cpu) two fill pods (1.5 cpu each),
// 900m spare; new node V (s-2vcpu-2gb) the pod x (1.5 cpu), which fits neither old-1 (1 cpu
// free) nor A. Moving one web pod to A frees 1.5 cpu on old-1 for x, and V goes.
func TestEmptyNodesDisplacesPendingPodsFromExistingNodes(t *testing.T) {
	g := NewWithT(t)
	in := Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Nodes:      []*corev1.Node{testNode("old-1", "2", "4Gi", nil)},
		Pods: append(append(replicas(2, "web", "500m", "512Mi"), replicas(2, "fill", "1500m", "1Gi")...),
			replicas(1, "x", "1500m", "1Gi")...),
	}
	s, err := newSolver(in, nil)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()
	s.prepare()
	class := map[string]int{}
	for ci, c := range s.classes {
		prefix, _, _ := strings.Cut(c.pods[0].Name, "-")
		class[prefix] = ci
	}
	tmpl := func(name string) int {
		for ti, t := range s.templates {
			if t.offering.Name == name {
				return ti
			}
		}
		t.Fatalf("no template %s", name)
		return -1
	}
	g.Expect(s.place(class["web"], "old-1")).To(Succeed())
	g.Expect(s.place(class["web"], "old-1")).To(Succeed())
	remaining := make([]int, len(s.classes))
	remaining[class["fill"]], remaining[class["x"]] = 2, 1
	total := 3
	_, err = s.openNode(tmpl("s-4vcpu-8gb"), []fillItem{{ci: class["fill"], n: 2}}, remaining, &total)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = s.openNode(tmpl("s-2vcpu-2gb"), []fillItem{{ci: class["x"], n: 1}}, remaining, &total)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.newNodes).To(HaveLen(2))
	a := s.newNodes[0].name

	g.Expect(s.emptyNodes()).To(Succeed())
	g.Expect(s.newNodes).To(HaveLen(1))
	g.Expect(s.newNodes[0].name).To(Equal(a))
	g.Expect(s.keys(s.placedOn["old-1"])).To(ConsistOf("default/x-0", HavePrefix("default/web-")))
	g.Expect(s.keys(s.placedOn[a])).To(ConsistOf("default/fill-0", "default/fill-1", HavePrefix("default/web-")))
	// The snapshot agrees with the bookkeeping.
	g.Expect(s.snap.NodeInfo("old-1").GetPods()).To(HaveLen(2))
	g.Expect(s.snap.NodeInfo(a).GetPods()).To(HaveLen(3))
}
