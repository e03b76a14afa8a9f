package simulator

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

// Each case is worked out by hand against the kube-scheduler's documented behaviour; the
// framework plugins decide, these tests pin that we drive them correctly.

func TestCheckPodFitsPerPlugin(t *testing.T) {
	zoneA := map[string]string{corev1.LabelTopologyZone: "a"}
	zoneB := map[string]string{corev1.LabelTopologyZone: "b"}
	dedicated := corev1.Taint{Key: "dedicated", Value: "compute", Effect: corev1.TaintEffectNoSchedule}
	cases := []struct {
		name     string
		nodes    []*corev1.Node
		existing map[string][]*corev1.Pod // node -> bound pods
		pod      *corev1.Pod
		node     string
		plugin   string // "" means the pod fits
	}{
		{
			name:     "resources fit exactly",
			nodes:    []*corev1.Node{testNode("n1", "2", "4Gi", nil)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "1", "2Gi")}},
			pod:      testPod("p", "1", "2Gi"), node: "n1",
		},
		{
			name:     "insufficient cpu",
			nodes:    []*corev1.Node{testNode("n1", "2", "4Gi", nil)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "1500m", "1Gi")}},
			pod:      testPod("p", "600m", "1Gi"), node: "n1", plugin: "NodeResourcesFit",
		},
		{
			name:  "insufficient memory",
			nodes: []*corev1.Node{testNode("n1", "8", "4Gi", nil)},
			pod:   testPod("p", "1", "5Gi"), node: "n1", plugin: "NodeResourcesFit",
		},
		{
			name:  "node selector satisfied",
			nodes: []*corev1.Node{testNode("n1", "2", "4Gi", map[string]string{"workload": "gpu"})},
			pod:   testPod("p", "1", "1Gi", withNodeSelector("workload", "gpu")), node: "n1",
		},
		{
			name:  "node selector not satisfied",
			nodes: []*corev1.Node{testNode("n1", "2", "4Gi", map[string]string{"workload": "web"})},
			pod:   testPod("p", "1", "1Gi", withNodeSelector("workload", "gpu")), node: "n1", plugin: "NodeAffinity",
		},
		{
			name:  "required node affinity NotIn",
			nodes: []*corev1.Node{testNode("n1", "2", "4Gi", zoneA)},
			pod:   testPod("p", "1", "1Gi", withNodeAffinity(corev1.LabelTopologyZone, corev1.NodeSelectorOpNotIn, "a")), node: "n1", plugin: "NodeAffinity",
		},
		{
			name:  "untolerated taint",
			nodes: []*corev1.Node{testNode("n1", "2", "4Gi", nil, dedicated)},
			pod:   testPod("p", "1", "1Gi"), node: "n1", plugin: "TaintToleration",
		},
		{
			name:  "tolerated taint",
			nodes: []*corev1.Node{testNode("n1", "2", "4Gi", nil, dedicated)},
			pod:   testPod("p", "1", "1Gi", withToleration("dedicated", "compute", corev1.TaintEffectNoSchedule)), node: "n1",
		},
		{
			name:     "host port taken",
			nodes:    []*corev1.Node{testNode("n1", "2", "4Gi", nil)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "100m", "1Mi", withHostPort(8080))}},
			pod:      testPod("p", "100m", "1Mi", withHostPort(8080)), node: "n1", plugin: "NodePorts",
		},
		{
			name:     "other host port free",
			nodes:    []*corev1.Node{testNode("n1", "2", "4Gi", nil)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "100m", "1Mi", withHostPort(8080))}},
			pod:      testPod("p", "100m", "1Mi", withHostPort(9090)), node: "n1",
		},
		{
			name:     "hostname anti-affinity against a matching pod",
			nodes:    []*corev1.Node{testNode("n1", "4", "8Gi", nil)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "100m", "1Mi", withLabels("app", "db"))}},
			pod: testPod("p", "100m", "1Mi", withLabels("app", "db"),
				withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "db"})),
			node: "n1", plugin: "InterPodAffinity",
		},
		{
			name:  "existing pod's anti-affinity rejects the new pod",
			nodes: []*corev1.Node{testNode("n1", "4", "8Gi", nil)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "100m", "1Mi",
				withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "web"}))}},
			pod:  testPod("p", "100m", "1Mi", withLabels("app", "web")),
			node: "n1", plugin: "InterPodAffinity",
		},
		{
			name:     "required pod affinity satisfied in the zone",
			nodes:    []*corev1.Node{testNode("n1", "4", "8Gi", zoneA), testNode("n2", "4", "8Gi", zoneA)},
			existing: map[string][]*corev1.Pod{"n2": {testPod("cache", "100m", "1Mi", withLabels("app", "cache"))}},
			pod:      testPod("p", "100m", "1Mi", withPodAffinity(corev1.LabelTopologyZone, map[string]string{"app": "cache"})),
			node:     "n1",
		},
		{
			name:     "required pod affinity not satisfied",
			nodes:    []*corev1.Node{testNode("n1", "4", "8Gi", zoneA), testNode("n2", "4", "8Gi", zoneB)},
			existing: map[string][]*corev1.Pod{"n2": {testPod("cache", "100m", "1Mi", withLabels("app", "cache"))}},
			pod:      testPod("p", "100m", "1Mi", withPodAffinity(corev1.LabelTopologyZone, map[string]string{"app": "cache"})),
			node:     "n1", plugin: "InterPodAffinity",
		},
		{
			name:     "hostname spread: skew would reach 2",
			nodes:    []*corev1.Node{testNode("n1", "4", "8Gi", nil), testNode("n2", "4", "8Gi", nil)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "100m", "1Mi", withLabels("app", "s"))}},
			pod: testPod("p", "100m", "1Mi", withLabels("app", "s"),
				withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": "s"})),
			node: "n1", plugin: "PodTopologySpread",
		},
		{
			name:     "hostname spread: the emptier node is fine",
			nodes:    []*corev1.Node{testNode("n1", "4", "8Gi", nil), testNode("n2", "4", "8Gi", nil)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "100m", "1Mi", withLabels("app", "s"))}},
			pod: testPod("p", "100m", "1Mi", withLabels("app", "s"),
				withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": "s"})),
			node: "n2",
		},
		{
			name:     "zone spread: zone a already ahead",
			nodes:    []*corev1.Node{testNode("n1", "4", "8Gi", zoneA), testNode("n2", "4", "8Gi", zoneB)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "100m", "1Mi", withLabels("app", "z"))}},
			pod: testPod("p", "100m", "1Mi", withLabels("app", "z"),
				withSpread(corev1.LabelTopologyZone, 1, corev1.DoNotSchedule, map[string]string{"app": "z"})),
			node: "n1", plugin: "PodTopologySpread",
		},
		{
			name:     "zone spread ScheduleAnyway never blocks",
			nodes:    []*corev1.Node{testNode("n1", "4", "8Gi", zoneA), testNode("n2", "4", "8Gi", zoneB)},
			existing: map[string][]*corev1.Pod{"n1": {testPod("a", "100m", "1Mi", withLabels("app", "z"))}},
			pod: testPod("p", "100m", "1Mi", withLabels("app", "z"),
				withSpread(corev1.LabelTopologyZone, 1, corev1.ScheduleAnyway, map[string]string{"app": "z"})),
			node: "n1",
		},
		{
			name: "unschedulable node",
			nodes: func() []*corev1.Node {
				n := testNode("n1", "4", "8Gi", nil)
				n.Spec.Unschedulable = true
				return []*corev1.Node{n}
			}(),
			pod: testPod("p", "100m", "1Mi"), node: "n1", plugin: "NodeUnschedulable",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			snap := NewSnapshot()
			for _, n := range tc.nodes {
				g.Expect(snap.AddNode(n)).To(Succeed())
			}
			for node, pods := range tc.existing {
				for _, p := range pods {
					g.Expect(snap.AddPod(p, node)).To(Succeed())
				}
			}
			s := newTestScheduler(t, snap)
			err := s.CheckPodFits(tc.pod, tc.node)
			if tc.plugin == "" {
				g.Expect(err).NotTo(HaveOccurred())
			} else {
				g.Expect(err).To(MatchError(HavePrefix(tc.plugin + ":")))
			}
		})
	}
}

func TestPlaceKeepsPreparedStateCurrent(t *testing.T) {
	g := NewWithT(t)
	snap := NewSnapshot()
	for _, n := range []string{"n1", "n2", "n3"} {
		g.Expect(snap.AddNode(testNode(n, "4", "8Gi", nil))).To(Succeed())
	}
	s := newTestScheduler(t, snap)
	pods := replicas(4, "db", "100m", "1Mi", withLabels("app", "db"),
		withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "db"}))
	p := s.Prepare(pods[0])
	var placed []string
	for _, pod := range pods {
		node, reasons := s.FindNodeFor(p, snap.NodeNames())
		if node == "" {
			g.Expect(reasons).To(HaveLen(3))
			for _, r := range reasons {
				g.Expect(r).To(HavePrefix("InterPodAffinity:"))
			}
			break
		}
		g.Expect(s.Place(p, pod, node)).To(Succeed())
		// Place followed the change through the PreFilter extensions: no re-run needed.
		g.Expect(p.version).To(Equal(snap.Version()))
		placed = append(placed, node)
	}
	g.Expect(placed).To(Equal([]string{"n1", "n2", "n3"}))
}

func TestFilterOnNodeOutsideSnapshot(t *testing.T) {
	g := NewWithT(t)
	snap := NewSnapshot()
	g.Expect(snap.AddNode(testNode("n1", "4", "8Gi", nil))).To(Succeed())
	g.Expect(snap.AddPod(testPod("a", "100m", "1Mi", withLabels("app", "s")), "n1")).To(Succeed())
	s := newTestScheduler(t, snap)
	pod := testPod("p", "100m", "1Mi", withLabels("app", "s"),
		withSpread(corev1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"app": "s"}),
		withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "s"}))
	p := s.Prepare(pod)
	g.Expect(s.Filter(p, snap.NodeInfo("n1")).IsSuccess()).To(BeFalse())
	// A template node we might buy: empty, so both spread and anti-affinity allow it.
	tmpl := newNodeInfo(testNode("template", "2", "4Gi", nil))
	g.Expect(StatusError(s.Filter(p, tmpl))).NotTo(HaveOccurred())
	small := newNodeInfo(testNode("small", "50m", "4Gi", nil))
	g.Expect(StatusError(s.Filter(p, small))).To(MatchError(HavePrefix("NodeResourcesFit:")))
}
