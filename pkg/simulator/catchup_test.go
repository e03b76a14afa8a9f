package simulator

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

// A PreFilter state computed before pods were added must answer Filter as a new PreFilter
// would, whether it caught up through the AddPod extensions or ran PreFilter again.
func TestStalePreFilterStateCatchesUpWithAddedPods(t *testing.T) {
	g := NewWithT(t)
	zone := map[string]string{corev1.LabelTopologyZone: "a"}
	snap := NewSnapshot()
	for _, n := range []string{"n1", "n2", "n3"} {
		g.Expect(snap.AddNode(testNode(n, "8", "16Gi", zone))).To(Succeed())
	}
	s := newTestScheduler(t, snap)
	// Keeps away from db pods on the same host; wants a cache pod in its zone.
	web := testPod("web", "100m", "128Mi", withLabels("app", "web"),
		withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "db"}),
		withPodAffinity(corev1.LabelTopologyZone, map[string]string{"app": "cache"}))
	// A db pod that keeps web pods away from its host (existing anti-affinity).
	db := testPod("db", "100m", "128Mi", withLabels("app", "db"),
		withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "web"}))
	p := s.Prepare(web)
	g.Expect(s.Filter(p, snap.NodeInfo("n1")).IsSuccess()).To(BeFalse(), "no cache pod in the zone yet")

	g.Expect(snap.AddPod(withUID(testPod("cache", "100m", "128Mi", withLabels("app", "cache"))), "n3")).To(Succeed())
	g.Expect(snap.AddPod(withUID(db), "n1")).To(Succeed())
	g.Expect(snap.AddNode(testNode("n4", "8", "16Gi", zone))).To(Succeed())
	added, ok := snap.addedSince(p.version)
	g.Expect(ok).To(BeTrue())
	g.Expect(added).To(HaveLen(3))

	fresh := s.Prepare(web)
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		want := s.Filter(fresh, snap.NodeInfo(n)).IsSuccess()
		g.Expect(s.Filter(p, snap.NodeInfo(n)).IsSuccess()).To(Equal(want), "node %s", n)
	}
	g.Expect(s.Filter(p, snap.NodeInfo("n1")).IsSuccess()).To(BeFalse(), "a db pod is there")
	g.Expect(s.Filter(p, snap.NodeInfo("n2")).IsSuccess()).To(BeTrue(), "the cache pod is in the zone")
	g.Expect(p.version).To(Equal(snap.Version()), "caught up without a new PreFilter")
}

func TestPreFilterCatchUpStopsAtOtherChanges(t *testing.T) {
	g := NewWithT(t)
	snap := NewSnapshot()
	g.Expect(snap.AddNode(testNode("n1", "8", "16Gi", nil))).To(Succeed())
	v := snap.Version()
	cache := withUID(testPod("cache", "100m", "128Mi", withLabels("app", "cache")))
	g.Expect(snap.AddPod(cache, "n1")).To(Succeed())
	_, ok := snap.addedSince(v)
	g.Expect(ok).To(BeTrue())

	g.Expect(snap.RemovePod(cache, "n1")).To(Succeed())
	_, ok = snap.addedSince(v)
	g.Expect(ok).To(BeFalse(), "a removal is no addition")

	snap.Fork()
	v = snap.Version()
	g.Expect(snap.AddPod(cache, "n1")).To(Succeed())
	g.Expect(snap.Revert()).To(Succeed())
	_, ok = snap.addedSince(v)
	g.Expect(ok).To(BeFalse(), "a revert is no addition")
}
