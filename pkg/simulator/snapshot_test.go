package simulator

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/kubernetes/pkg/features"
	"k8s.io/kubernetes/pkg/scheduler/framework"
)

func podNames(s *Snapshot, node string) []string {
	var out []string
	for _, pi := range s.NodeInfo(node).Pods {
		out = append(out, pi.GetPod().Name)
	}
	return out
}

func TestSnapshotForkRevert(t *testing.T) {
	g := NewWithT(t)
	s := NewSnapshot()
	g.Expect(s.AddNode(testNode("n1", "4", "8Gi", nil))).To(Succeed())
	g.Expect(s.AddNode(testNode("n2", "4", "8Gi", nil))).To(Succeed())
	a := testPod("a", "1", "1Gi")
	g.Expect(s.AddPod(a, "n1")).To(Succeed())
	n1, n2 := s.NodeInfo("n1"), s.NodeInfo("n2")

	s.Fork()
	g.Expect(s.AddPod(testPod("b", "1", "1Gi"), "n1")).To(Succeed())
	g.Expect(s.RemovePod(a, "n1")).To(Succeed())
	g.Expect(s.AddNode(testNode("n3", "2", "2Gi", nil))).To(Succeed())
	g.Expect(s.AddPod(testPod("c", "1", "1Gi"), "n3")).To(Succeed())
	g.Expect(podNames(s, "n1")).To(Equal([]string{"b"}))
	g.Expect(s.NodeNames()).To(Equal([]string{"n1", "n2", "n3"}))
	// The untouched node is shared, the touched one was cloned, the original is intact.
	g.Expect(s.NodeInfo("n2")).To(BeIdenticalTo(n2))
	g.Expect(s.NodeInfo("n1")).NotTo(BeIdenticalTo(n1))
	g.Expect(n1.Requested.MilliCPU).To(Equal(int64(1000)))
	list, _ := s.List()
	g.Expect(list[0]).To(BeIdenticalTo(s.NodeInfo("n1")))

	g.Expect(s.Revert()).To(Succeed())
	g.Expect(s.NodeNames()).To(Equal([]string{"n1", "n2"}))
	g.Expect(s.NodeInfo("n1")).To(BeIdenticalTo(n1))
	g.Expect(podNames(s, "n1")).To(Equal([]string{"a"}))
	list, _ = s.List()
	g.Expect(list).To(HaveLen(2))
	g.Expect(list[0]).To(BeIdenticalTo(n1))
	_, err := s.Get("n3")
	g.Expect(err).To(HaveOccurred())

	g.Expect(s.Revert()).To(MatchError(ContainSubstring("without fork")))
	g.Expect(s.Commit()).To(MatchError(ContainSubstring("without fork")))
}

func TestSnapshotNestedCommitThenOuterRevert(t *testing.T) {
	g := NewWithT(t)
	s := NewSnapshot()
	g.Expect(s.AddNode(testNode("n1", "4", "8Gi", nil))).To(Succeed())
	orig := s.NodeInfo("n1")

	s.Fork()
	g.Expect(s.AddPod(testPod("a", "1", "1Gi"), "n1")).To(Succeed())
	s.Fork()
	g.Expect(s.AddPod(testPod("b", "1", "1Gi"), "n1")).To(Succeed())
	g.Expect(s.AddNode(testNode("n2", "4", "8Gi", nil))).To(Succeed())
	g.Expect(s.Commit()).To(Succeed())
	g.Expect(s.Depth()).To(Equal(1))
	g.Expect(podNames(s, "n1")).To(ConsistOf("a", "b"))
	g.Expect(s.NodeNames()).To(Equal([]string{"n1", "n2"}))

	g.Expect(s.Revert()).To(Succeed())
	g.Expect(s.NodeInfo("n1")).To(BeIdenticalTo(orig))
	g.Expect(orig.Pods).To(BeEmpty())
	g.Expect(s.NodeNames()).To(Equal([]string{"n1"}))
}

func TestSnapshotNestedRevertKeepsOuterChanges(t *testing.T) {
	g := NewWithT(t)
	s := NewSnapshot()
	g.Expect(s.AddNode(testNode("n1", "4", "8Gi", nil))).To(Succeed())
	s.Fork()
	g.Expect(s.AddPod(testPod("a", "1", "1Gi"), "n1")).To(Succeed())
	s.Fork()
	g.Expect(s.AddPod(testPod("b", "1", "1Gi"), "n1")).To(Succeed())
	g.Expect(s.RemoveNode("n1")).To(Succeed())
	g.Expect(s.NodeNames()).To(BeEmpty())
	g.Expect(s.Revert()).To(Succeed())
	g.Expect(podNames(s, "n1")).To(Equal([]string{"a"}))
	g.Expect(s.Commit()).To(Succeed())
	g.Expect(podNames(s, "n1")).To(Equal([]string{"a"}))
}

func TestSnapshotAffinityLists(t *testing.T) {
	g := NewWithT(t)
	s := NewSnapshot()
	g.Expect(s.AddNode(testNode("n1", "4", "8Gi", nil))).To(Succeed())
	g.Expect(s.AddNode(testNode("n2", "4", "8Gi", nil))).To(Succeed())
	g.Expect(s.AddNode(testNode("n3", "4", "8Gi", nil))).To(Succeed())
	g.Expect(s.AddPod(testPod("plain", "1", "1Gi"), "n1")).To(Succeed())
	g.Expect(s.AddPod(testPod("host", "1", "1Gi", withAntiAffinity(corev1.LabelHostname, map[string]string{"a": "b"})), "n2")).To(Succeed())
	g.Expect(s.AddPod(testPod("zone", "1", "1Gi", withAntiAffinity(corev1.LabelTopologyZone, map[string]string{"a": "b"})), "n3")).To(Succeed())

	names := func(list []fwkNodeInfo, err error) []string {
		g.Expect(err).NotTo(HaveOccurred())
		var out []string
		for _, ni := range list {
			out = append(out, ni.Node().Name)
		}
		return out
	}
	g.Expect(names(s.HavePodsWithAffinityList())).To(Equal([]string{"n2", "n3"}))
	g.Expect(names(s.HavePodsWithRequiredAntiAffinityList())).To(Equal([]string{"n2", "n3"}))
	// The non-host-scoped list is an optimisation behind an alpha gate (off by default); the
	// NodeInfo only tracks those pods when it is on.
	if utilfeature.DefaultFeatureGate.Enabled(features.InterPodAffinityHostnameFastPath) {
		g.Expect(names(s.HavePodsWithRequiredNonHostScopedAntiAffinityList())).To(Equal([]string{"n3"}))
	} else {
		g.Expect(names(s.HavePodsWithRequiredNonHostScopedAntiAffinityList())).To(BeEmpty())
	}

	// After a copy-on-write clone the lists must hold the clone, not the stale original.
	s.Fork()
	g.Expect(s.AddPod(testPod("more", "1", "1Gi"), "n2")).To(Succeed())
	list, _ := s.HavePodsWithAffinityList()
	g.Expect(list[0]).To(BeIdenticalTo(s.NodeInfo("n2")))
	g.Expect(s.Revert()).To(Succeed())
	list, _ = s.HavePodsWithAffinityList()
	g.Expect(list[0]).To(BeIdenticalTo(s.NodeInfo("n2")))
}

func TestSnapshotErrors(t *testing.T) {
	g := NewWithT(t)
	s := NewSnapshot()
	g.Expect(s.AddNode(testNode("n1", "4", "8Gi", nil))).To(Succeed())
	g.Expect(s.AddNode(testNode("n1", "4", "8Gi", nil))).To(MatchError(ContainSubstring("already")))
	g.Expect(s.AddNode(&corev1.Node{})).To(MatchError(ContainSubstring("no name")))
	g.Expect(s.AddPod(testPod("a", "1", "1Gi"), "nope")).To(MatchError(ContainSubstring("not in the snapshot")))
	g.Expect(s.RemovePod(testPod("a", "1", "1Gi"), "n1")).To(HaveOccurred())
	g.Expect(s.RemoveNode("nope")).To(HaveOccurred())
}

// Alike pods share one PodInfo's parsed parts and sums; each PodInfo still holds its own pod,
// and every sum is what the framework computes for that pod alone.
func TestNewPodInfosShareOnlyWhatIsAlike(t *testing.T) {
	g := NewWithT(t)
	sidecar := corev1.ContainerRestartPolicyAlways
	withSidecar := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: &sidecar, Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")}}}}
	}
	resized := func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", AllocatedResources: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}
	}
	pods := []*corev1.Pod{
		testPod("a", "1", "1Gi"), testPod("b", "1", "1Gi"), testPod("c", "2", "1Gi"),
		testPod("d", "1", "1Gi", withSidecar), testPod("e", "1", "1Gi", withSidecar),
		testPod("f", "1", "1Gi", withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "f"})),
		testPod("g", "1", "1Gi", withAntiAffinity(corev1.LabelHostname, map[string]string{"app": "g"})),
		testPod("h", "1", "1Gi", resized),
	}
	infos, err := NewPodInfos(pods)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(infos).To(HaveLen(len(pods)))
	for i, pi := range infos {
		g.Expect(pi.GetPod()).To(BeIdenticalTo(pods[i]))
		alone, err := framework.NewPodInfo(pods[i])
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(pi.CalculateResource()).To(Equal(alone.CalculateResource()), "pod %s", pods[i].Name)
		g.Expect(pi.GetRequiredAntiAffinityTerms()).To(Equal(alone.GetRequiredAntiAffinityTerms()), "pod %s", pods[i].Name)
	}
	g.Expect(infos[1].CalculateResource().Resource.GetMilliCPU()).To(Equal(int64(1000)))
	g.Expect(infos[3].CalculateResource().Resource.GetMilliCPU()).To(Equal(int64(1250)), "a sidecar's requests count")
	// The anti-affinity pods keep their own terms: g's selector is not f's.
	g.Expect(infos[6].GetRequiredAntiAffinityTerms()[0].Selector.String()).To(ContainSubstring("app=g"))
}
