package provisioning_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/provisioning"
)

var _ = Describe("batches", func() {
	// spreadPods puts n pending pods into the model that need a node each (required hostname
	// anti-affinity), so one pass launches n nodes.
	spreadPods := func(prefix string, n int) {
		anti := &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey:   corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
			}},
		}}
		for i := range n {
			pendingPod("100m", corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i), Labels: map[string]string{"app": "spread"}},
				Spec:       corev1.PodSpec{Affinity: anti},
			})
		}
	}
	batches := func(vns []v1alpha1.VPSieNode) map[string]int {
		out := map[string]int{}
		for _, vn := range vns {
			out[vn.Labels[v1alpha1.LabelBatch]]++
		}
		return out
	}

	It("labels the VPSieNodes one pass creates with one batch of their own", func(ctx context.Context) {
		prov = newProvisioner(provisioning.Options{BatchReleaseWindow: 30 * time.Second})
		ng := nodeGroup(v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MaxNodes: 100}})
		spreadPods("first", 3)
		Expect(reconcile(ctx)).To(BeFalse())
		vns := vpsieNodes(ctx, ng.Name)
		Expect(vns).To(HaveLen(3))
		first := batches(vns)
		Expect(first).To(HaveLen(1))
		var batch string
		for b := range first {
			batch = b
		}
		Expect(batch).NotTo(BeEmpty())
		Expect(validation.IsValidLabelValue(batch)).To(BeEmpty(), "also a taint value")

		// The next pass is a batch of its own: the nodes of the first wait for each other only.
		feed(ctx)
		spreadPods("second", 2)
		Expect(reconcile(ctx)).To(BeFalse())
		vns = vpsieNodes(ctx, ng.Name)
		Expect(vns).To(HaveLen(5))
		both := batches(vns)
		Expect(both).To(HaveLen(2))
		Expect(both).To(HaveKeyWithValue(batch, 3))
		Expect(both).NotTo(HaveKey(""))
	})

	It("labels no batch when the window is off or a pass creates a single node", func(ctx context.Context) {
		ng := nodeGroup(v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MaxNodes: 100}})
		spreadPods("off", 3)
		Expect(reconcile(ctx)).To(BeFalse())
		vns := vpsieNodes(ctx, ng.Name)
		Expect(vns).To(HaveLen(3))
		Expect(batches(vns)).To(Equal(map[string]int{"": 3}))

		// A node alone has nobody to wait for.
		prov = newProvisioner(provisioning.Options{BatchReleaseWindow: 30 * time.Second})
		feed(ctx)
		spreadPods("alone", 1)
		Expect(reconcile(ctx)).To(BeFalse())
		vns = vpsieNodes(ctx, ng.Name)
		Expect(vns).To(HaveLen(4))
		Expect(batches(vns)).To(Equal(map[string]int{"": 4}))
	})
})
