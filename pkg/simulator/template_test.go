package simulator

import (
	"fmt"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
)

func TestTemplateNodeShape(t *testing.T) {
	g := NewWithT(t)
	ng := testNodeGroup("general", ngLabels("team", "web"), ngTaint("dedicated", "web"))
	ng.Spec.Template.StartupTaints = []v1alpha1.Taint{{Key: "node.cilium.io/agent-not-ready", Effect: corev1.TaintEffectNoSchedule}}
	parsed, err := parseNodeGroup(ng)
	g.Expect(err).NotTo(HaveOccurred())
	o := standardOfferings()[4] // s-4vcpu-8gb
	node := buildTemplateNode(parsed, o, scheduling.DefaultReservation(), "n1")

	g.Expect(node.Labels).To(Equal(map[string]string{
		v1alpha1.LabelNodeGroup:    "general",
		v1alpha1.LabelOffering:     "105",
		v1alpha1.LabelCategory:     "standard",
		v1alpha1.LabelCPU:          "4",
		v1alpha1.LabelMemoryMiB:    "8192",
		v1alpha1.LabelDatacenter:   "dc-test",
		v1alpha1.LabelZone:         "dc-test",
		v1alpha1.LabelInstanceType: "s-4vcpu-8gb",
		v1alpha1.LabelArch:         "amd64",
		v1alpha1.LabelOS:           "linux",
		v1alpha1.LabelHostname:     "n1",
		"team":                     "web",
	}))
	// Startup taints are not there: they go away once the node is initialised.
	g.Expect(node.Spec.Taints).To(Equal([]corev1.Taint{{Key: "dedicated", Value: "web", Effect: corev1.TaintEffectNoSchedule}}))
	cpu := node.Status.Allocatable[corev1.ResourceCPU]
	mem := node.Status.Allocatable[corev1.ResourceMemory]
	pods := node.Status.Allocatable[corev1.ResourcePods]
	g.Expect(cpu.MilliValue()).To(Equal(int64(3900)))
	g.Expect(mem.Value()).To(Equal(int64(7426) << 20))
	g.Expect(pods.Value()).To(Equal(int64(110)))

	// Instances get their own name and hostname; the template is not touched.
	tmpl := &template{node: node}
	ni := tmpl.instantiate("n2")
	g.Expect(ni.Node().Name).To(Equal("n2"))
	g.Expect(ni.Node().Labels[v1alpha1.LabelHostname]).To(Equal("n2"))
	g.Expect(node.Labels[v1alpha1.LabelHostname]).To(Equal("n1"))
}

func TestEquivalenceClasses(t *testing.T) {
	g := NewWithT(t)
	pods := replicas(1000, "web", "250m", "256Mi", withLabels("app", "web"), withOwner("ReplicaSet", "web-1"))
	pods = append(pods, replicas(3, "web2", "250m", "256Mi", withLabels("app", "web"), withOwner("ReplicaSet", "web-2"))...)
	pods = append(pods, replicas(2, "api", "250m", "256Mi", withLabels("app", "api"))...)
	pods = append(pods, replicas(2, "big", "2", "4Gi", withLabels("app", "web"))...)
	pods = append(pods, replicas(2, "sel", "250m", "256Mi", withLabels("app", "web"), withNodeSelector("disk", "ssd"))...)
	classes, err := buildClasses(pods, nil, nil)
	g.Expect(err).NotTo(HaveOccurred())
	// Same labels and spec share a class whoever owns them; labels, requests or selectors
	// differing make a new one. Largest first.
	g.Expect(classes).To(HaveLen(4))
	g.Expect(classes[0].pods[0].Name).To(Equal("big-0"))
	sizes := map[string]int{}
	for _, c := range classes {
		sizes[c.pods[0].Name] = len(c.pods)
	}
	g.Expect(sizes).To(Equal(map[string]int{"big-0": 2, "web-0": 1003, "api-0": 2, "sel-0": 2}))
	g.Expect(classes[0].req).To(Equal([numDims]int64{2000, 4 << 30, 1}))
}

func TestEquivalenceClassesIgnoreUnselectedLabels(t *testing.T) {
	g := NewWithT(t)
	// Karpenter's diverse mix: every pod its own app label, one shared label a spread reads.
	var pods []*corev1.Pod
	for i := range 6 {
		tier := "a"
		if i%2 == 1 {
			tier = "b"
		}
		pods = append(pods, replicas(1, fmt.Sprintf("p%d", i), "250m", "256Mi",
			withLabels("app", fmt.Sprintf("app-%d", i), "tier", tier),
			withSpread(v1alpha1.LabelHostname, 1, corev1.DoNotSchedule, map[string]string{"tier": tier}))...)
	}
	keys := selectedLabelKeys(pods, nil)
	g.Expect(keys).To(Equal(labelKeys{"tier": true}))
	classes, err := buildClasses(pods, nil, keys)
	g.Expect(err).NotTo(HaveOccurred())
	// The app label is read by no selector, so it does not split classes; the tier label is
	// (the spread counts it) and does.
	g.Expect(classes).To(HaveLen(2))
	for _, c := range classes {
		g.Expect(c.pods).To(HaveLen(3))
		tier := c.pods[0].Labels["tier"]
		for _, p := range c.pods {
			g.Expect(p.Labels["tier"]).To(Equal(tier))
		}
	}

	// A bound pod's anti-affinity reads labels of incoming pods, so its keys count as well.
	bound := replicas(1, "guard", "100m", "64Mi", withAntiAffinity(v1alpha1.LabelHostname, map[string]string{"app": "app-0"}))
	g.Expect(selectedLabelKeys(append(pods, bound...), nil)).To(HaveKey("app"))
	classes, err = buildClasses(pods, nil, selectedLabelKeys(append(pods, bound...), nil))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(classes).To(HaveLen(6))
}
