package simulator

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// randomInput builds a small cluster: one or two NodeGroups (the second tainted and labelled),
// a few existing nodes with bound pods, maybe a daemonset, and pending classes mixing plain
// pods with selectors, tolerations, host ports, hostname anti-affinity and hostname spread.
func randomInput(rng *rand.Rand) Input {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	offerings := standardOfferings()
	offerings = append(offerings,
		cloudprovider.Offering{ID: "301", Name: "m-2vcpu-16gb", Category: "memory-optimized", CPU: 2, MemoryMiB: 16384, HourlyPrice: 0.09589, Available: true},
		cloudprovider.Offering{ID: "302", Name: "m-4vcpu-32gb", Category: "memory-optimized", CPU: 4, MemoryMiB: 32768, HourlyPrice: 0.18904, Available: true},
	)
	groups := []*v1alpha1.NodeGroup{testNodeGroup("general", ngCategory(pick("standard", "memory-optimized", "standard")), ngMaxNodes(int32(3+rng.IntN(20))))}
	if rng.IntN(2) == 0 {
		groups[0].Spec.Limits = corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(8+rng.IntN(64)), resource.DecimalSI)}
	}
	special := rng.IntN(2) == 0
	if special {
		groups = append(groups, testNodeGroup("special", ngLabels("workload", "special"), ngTaint("dedicated", "special"),
			ngWeight(int32(rng.IntN(2)*10)), ngMaxNodes(int32(2+rng.IntN(10)))))
	}
	in := Input{NodeGroups: groups, Offerings: offerings}

	for i := 0; i < rng.IntN(4); i++ {
		name := fmt.Sprintf("old-%d", i)
		n := testNode(name, pick("2", "4", "8"), pick("4Gi", "8Gi", "16Gi"), map[string]string{
			v1alpha1.LabelNodeGroup: "general", corev1.LabelTopologyZone: "dc-test",
		})
		in.Nodes = append(in.Nodes, n)
		for j := 0; j < rng.IntN(3); j++ {
			p := testPod(fmt.Sprintf("bound-%d-%d", i, j), pick("250m", "500m", "1"), pick("256Mi", "1Gi"), withLabels("app", pick("a", "b")))
			p.Spec.NodeName = name
			in.Pods = append(in.Pods, p)
		}
	}
	if rng.IntN(2) == 0 {
		in.DaemonSets = append(in.DaemonSets, &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "kube-system"},
			Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				}}}},
			}},
		})
	}
	for c := 0; c < 1+rng.IntN(5); c++ {
		app := fmt.Sprintf("app%d", c)
		opts := []podOpt{withLabels("app", app), withOwner("ReplicaSet", app)}
		switch rng.IntN(7) {
		case 0:
			if special {
				opts = append(opts, withNodeSelector("workload", "special"), withToleration("dedicated", "special", corev1.TaintEffectNoSchedule))
			}
		case 1:
			opts = append(opts, withAntiAffinity(corev1.LabelHostname, map[string]string{"app": app}))
		case 2:
			opts = append(opts, withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": app}))
		case 3:
			opts = append(opts, withHostPort(int32(8000+c)))
		case 4:
			opts = append(opts, withToleration("dedicated", "special", corev1.TaintEffectNoSchedule))
		}
		in.Pods = append(in.Pods, replicas(1+rng.IntN(8), app, pick("100m", "250m", "500m", "1", "2", "3"), pick("128Mi", "512Mi", "1Gi", "2Gi", "6Gi"), opts...)...)
	}
	return in
}

func TestPropertyRandomInstances(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	for i := 0; i < 300; i++ {
		in := randomInput(rng)
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkRandomInstance(t, in) })
	}
}

// TestPropertyPreferredSpread is the same check on random instances where some pending
// classes also carry a ScheduleAnyway spread (hostname or zone) over their own pods.
func TestPropertyPreferredSpread(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	for i := 0; i < 150; i++ {
		in := randomInput(rng)
		for _, p := range in.Pods {
			app := p.Labels["app"]
			if p.Spec.NodeName != "" || app == "" || len(app) < 4 {
				continue
			}
			// One decision per class (its name and the instance pick it), so classes stay whole.
			h := int(app[3]) + i
			if h%3 != 0 {
				continue
			}
			key := corev1.LabelHostname
			if (h/3)%2 == 0 {
				key = corev1.LabelTopologyZone
			}
			withSpread(key, int32(1+(h/6)%2), corev1.ScheduleAnyway, map[string]string{"app": app})(p)
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkRandomInstance(t, in) })
	}
}

func checkRandomInstance(t *testing.T, in Input) {
	g := NewWithT(t)
	plan, s, err := solveKeep(in)
	g.Expect(err).NotTo(HaveOccurred())
	defer s.sched.Close()

	// Every pending pod is accounted for exactly once.
	seen := map[string]int{}
	for _, e := range plan.Existing {
		for _, p := range e.Pods {
			seen[p]++
		}
	}
	for _, n := range plan.NewNodes {
		g.Expect(n.Pods).NotTo(BeEmpty(), "new node %s has no pods", n.Name)
		for _, p := range n.Pods {
			seen[p]++
		}
	}
	for _, u := range plan.Unschedulable {
		g.Expect(u.Reasons).NotTo(BeEmpty(), "pod %s has no reason", u.Pod)
		seen[u.Pod]++
	}
	g.Expect(seen).To(HaveLen(plan.Pending))
	for p, n := range seen {
		g.Expect(n).To(Equal(1), "pod %s appears %d times", p, n)
	}

	// Cost never beats the lower bound.
	g.Expect(plan.HourlyCost).To(BeNumerically(">=", plan.LowerBound-1e-9))

	// NodeGroup limits hold, counting existing nodes.
	for _, ng := range in.NodeGroups {
		nodes, cpu := 0, int64(0)
		for _, n := range in.Nodes {
			if n.Labels[v1alpha1.LabelNodeGroup] == ng.Name {
				nodes++
				q := n.Status.Capacity[corev1.ResourceCPU]
				cpu += q.MilliValue()
			}
		}
		for _, n := range plan.NewNodes {
			if n.NodeGroup == ng.Name {
				nodes++
				cpu += n.Offering.CPU * 1000
			}
		}
		if ng.Spec.MaxNodes > 0 {
			g.Expect(nodes).To(BeNumerically("<=", ng.Spec.MaxNodes), "nodegroup %s", ng.Name)
		}
		if q, ok := ng.Spec.Limits[corev1.ResourceCPU]; ok && nodes > 0 {
			// Existing nodes may already exceed a limit; new nodes must not add to that.
			newCPU := int64(0)
			for _, n := range plan.NewNodes {
				if n.NodeGroup == ng.Name {
					newCPU += n.Offering.CPU * 1000
				}
			}
			if newCPU > 0 {
				g.Expect(cpu).To(BeNumerically("<=", q.MilliValue()), "nodegroup %s cpu", ng.Name)
			}
		}
	}

	expectPlacementsValid(g, in, plan, s)

	// Every new node is bought for a pod whose highest-weight NodeGroup is the
	// node's; other pods only ride on it.
	for _, n := range s.newNodes {
		bought := false
		for _, r := range s.placedOn[n.name] {
			for ti, t := range s.templates {
				bought = bought || (t.group == n.tmpl.group && s.allowedAtStart[r.ci][ti])
			}
		}
		g.Expect(bought).To(BeTrue(), "node %s carries riders only", n.name)
	}

	// Same input, same plan; and the same again once replayed.
	packedIn := in
	packedIn.SkipReplay = true
	again, err := Solve(packedIn)
	g.Expect(err).NotTo(HaveOccurred())
	again.SolveTime = plan.SolveTime
	g.Expect(again).To(Equal(plan))
	replayed, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	expectReplayValid(g, in, replayed)
	twice, err := Solve(in)
	g.Expect(err).NotTo(HaveOccurred())
	replayed.SolveTime, replayed.ReplayTime, twice.SolveTime, twice.ReplayTime = 0, 0, 0, 0
	g.Expect(twice).To(Equal(replayed))
}

// expectPlacementsValid re-checks every placement of the plan with the framework's Filter.
// Pods for new nodes are checked in the final cluster (they schedule once the new nodes
// exist); pods for existing nodes in the cluster without the new nodes (they schedule now).
func expectPlacementsValid(g Gomega, in Input, plan *Plan, s *solver) {
	expectPlacementsValidExcept(g, in, plan, s, func(*corev1.Pod) bool { return false })
}

// expectPlacementsValidExcept is expectPlacementsValid for the pods skip leaves.
func expectPlacementsValidExcept(g Gomega, in Input, plan *Plan, s *solver, skip func(*corev1.Pod) bool) {
	pods := map[string]*corev1.Pod{}
	for _, p := range in.Pods {
		pods[podKey(p)] = p
	}
	recheck := func(node string, key string) {
		if skip(pods[key]) {
			return
		}
		pod := withUID(pods[key])
		g.Expect(s.snap.RemovePod(pod, node)).To(Succeed())
		g.Expect(s.sched.CheckPodFits(pod, node)).To(Succeed(), "pod %s on %s", key, node)
		g.Expect(s.snap.AddPod(pod, node)).To(Succeed())
	}
	for _, n := range plan.NewNodes {
		for _, p := range n.Pods {
			recheck(n.Name, p)
		}
	}
	s.snap.Fork()
	for _, n := range plan.NewNodes {
		g.Expect(s.snap.RemoveNode(n.Name)).To(Succeed())
	}
	for _, e := range plan.Existing {
		for _, p := range e.Pods {
			recheck(e.Node, p)
		}
	}
	g.Expect(s.snap.Revert()).To(Succeed())
}

// spreadOrderDependent says whether a pod has a DoNotSchedule spread whose selector also
// matches pods without that constraint. Such a pod's placement is valid or not depending on
// when the others arrive (kube-scheduler checks the skew when it places the constrained pod,
// and never again), so the final cluster cannot confirm it; the scheduler replay measures
// those pods instead.
func spreadOrderDependent(all []*corev1.Pod) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool {
		for _, c := range p.Spec.TopologySpreadConstraints {
			if c.WhenUnsatisfiable != corev1.DoNotSchedule {
				continue
			}
			sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
			if err != nil {
				return true
			}
			for _, o := range all {
				if o.Namespace != p.Namespace || !sel.Matches(labels.Set(o.Labels)) {
					continue
				}
				if !slices.ContainsFunc(o.Spec.TopologySpreadConstraints, func(oc corev1.TopologySpreadConstraint) bool {
					return equality.Semantic.DeepEqual(oc, c)
				}) {
					return true
				}
			}
		}
		return false
	}
}
