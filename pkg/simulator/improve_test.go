package simulator

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// newTestSolver prepares a solver the way solve does, without packing anything.
func newTestSolver(t *testing.T, in Input) *solver {
	t.Helper()
	s, err := newSolver(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.sched.Close)
	s.next = make([]int, len(s.classes))
	s.allowed = make([][]bool, len(s.classes))
	s.fits = make([][]bool, len(s.classes))
	s.boundFits = make([][]bool, len(s.classes))
	s.reasons = make([][]string, len(s.classes))
	for ci, c := range s.classes {
		c.prep = s.sched.Prepare(c.pods[0])
		s.classifyTemplates(ci)
	}
	return s
}

func templateNamed(s *solver, name string) int {
	for ti, t := range s.templates {
		if t.offering.Name == name {
			return ti
		}
	}
	return -1
}

func TestDownsizeMovesPodsToTheCheapestOfferingThatHoldsThem(t *testing.T) {
	g := NewWithT(t)
	s := newTestSolver(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods:       replicas(2, "web", "250m", "256Mi"),
	})
	remaining, total := []int{2}, 2
	big := templateNamed(s, "s-16vcpu-64gb")
	placed, err := s.openNode(big, []fillItem{{ci: 0, n: 2}}, remaining, &total)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(placed).To(Equal(2))

	g.Expect(s.downsize()).To(Succeed())
	g.Expect(s.newNodes).To(HaveLen(1))
	// 2 x 250m/256Mi: s-1vcpu-1gb has 900m and 617Mi allocatable, the cheapest that holds both.
	g.Expect(s.newNodes[0].tmpl.offering.Name).To(Equal("s-1vcpu-1gb"))
	g.Expect(s.snap.NodeInfo(s.newNodes[0].name).Pods).To(HaveLen(2))
	g.Expect(s.snap.NodeNames()).To(HaveLen(1))
	g.Expect(s.groups[0].nodes).To(Equal(1))
	g.Expect(s.groups[0].cpu).To(Equal(int64(1000)))
}

func TestEmptyNodesMovesPodsIntoSpareRoom(t *testing.T) {
	g := NewWithT(t)
	s := newTestSolver(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods:       replicas(4, "web", "1", "1Gi"),
	})
	remaining, total := []int{4}, 4
	// Two half-empty s-4vcpu-8gb nodes (3 pods fit on one) with 2 pods each.
	tmpl := templateNamed(s, "s-4vcpu-8gb")
	for i := 0; i < 2; i++ {
		_, err := s.openNode(tmpl, []fillItem{{ci: 0, n: 2}}, remaining, &total)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(s.emptyNodes()).To(Succeed())
	// The first candidate cannot be emptied into the second (it has room for one pod only);
	// nothing is half-done: both nodes keep their pods.
	g.Expect(s.newNodes).To(HaveLen(2))
	for _, n := range s.newNodes {
		g.Expect(s.placedOn[n.name]).To(HaveLen(2))
	}

	// Now a third node with one pod: its pod fits in the spare room of another node.
	remaining, total = []int{1}, 1
	extra := testPod("extra", "1", "1Gi")
	pi, err := framework.NewPodInfo(extra)
	g.Expect(err).NotTo(HaveOccurred())
	s.classes[0].pods = append(s.classes[0].pods, extra)
	s.classes[0].infos = append(s.classes[0].infos, pi)
	s.next[0] = 4
	_, err = s.openNode(tmpl, []fillItem{{ci: 0, n: 1}}, remaining, &total)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(s.newNodes).To(HaveLen(3))
	g.Expect(s.emptyNodes()).To(Succeed())
	g.Expect(s.newNodes).To(HaveLen(2))
	moved := 0
	for _, n := range s.newNodes {
		moved += len(s.placedOn[n.name])
	}
	g.Expect(moved).To(Equal(5))
	g.Expect(s.groups[0].nodes).To(Equal(2))
}
