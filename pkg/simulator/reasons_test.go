package simulator

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

func TestNodeSelectionRendersSelectorAndAffinity(t *testing.T) {
	g := NewWithT(t)
	p := testPod("p", "1", "1Gi", withNodeSelector("workload", "gpu"),
		withNodeAffinity(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "a", "b"))
	g.Expect(nodeSelection(p)).To(Equal("nodeSelector workload=gpu; node affinity topology.kubernetes.io/zone In [a b]"))
	g.Expect(nodeSelection(testPod("q", "1", "1Gi"))).To(BeEmpty())
	g.Expect(requirementString(corev1.NodeSelectorRequirement{Key: "k", Operator: corev1.NodeSelectorOpExists})).To(Equal("k Exists"))
}

func TestUnschedulableReasonsNameSelectorAndTaint(t *testing.T) {
	g := NewWithT(t)
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{
			testNodeGroup("general", ngCategory("standard")),
			testNodeGroup("compute", ngCategory("standard"), ngLabels("workload", "compute"), ngTaint("dedicated", "compute")),
		},
		Offerings: standardOfferings(),
		Pods:      []*corev1.Pod{testPod("gpu", "500m", "512Mi", withNodeSelector("workload", "gpu"))},
	})
	g.Expect(plan.Unschedulable).To(HaveLen(1))
	g.Expect(plan.Unschedulable[0].Reasons).To(ConsistOf(
		And(HavePrefix("compute: TaintToleration:"), ContainSubstring("the group's nodes are tainted dedicated=compute:NoSchedule")),
		And(HavePrefix("general: NodeAffinity:"), ContainSubstring("pod requires nodeSelector workload=gpu")),
	))
}
