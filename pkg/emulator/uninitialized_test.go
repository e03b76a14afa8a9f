package emulator

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestRegisterUninitializedTaintsNodeUntilDelay(t *testing.T) {
	kube := fake.NewClientset()
	h := newBootHarness(t, kube, func(c *Config) {
		c.Switches.BootDelay = 0
		c.Switches.RegisterUninitialized = true
		c.Switches.UninitializedDelay = Duration(20 * time.Second)
	})
	g := NewWithT(t)
	gid := h.createGroup(testCluster, "g", 104)
	w := h.addWorker(testCluster, gid)

	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	node, err := getNode(t, kube, w.Hostname)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(node.Spec.Taints).To(ConsistOf(UninitializedTaint()))

	// Someone else (the autoscaler) adds a taint meanwhile; it must survive initialisation.
	ours := corev1.Taint{Key: "example.com/dedicated", Value: "x", Effect: corev1.TaintEffectNoSchedule}
	node.Spec.Taints = append(node.Spec.Taints, ours)
	_, err = kube.CoreV1().Nodes().Update(t.Context(), node, metav1.UpdateOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	h.clock.Step(19 * time.Second)
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	node, _ = getNode(t, kube, w.Hostname)
	g.Expect(node.Spec.Taints).To(ContainElement(UninitializedTaint()), "taint kept before the delay")

	h.clock.Step(time.Second)
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	node, _ = getNode(t, kube, w.Hostname)
	g.Expect(node.Spec.Taints).To(ConsistOf(ours), "uninitialized taint removed, others kept")

	// Turning the switch off makes new Nodes register initialised.
	h.mustOK(h.putConfig(`{"registerUninitialized":false}`))
	w2 := h.addWorker(testCluster, gid)
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	node, _ = getNode(t, kube, w2.Hostname)
	g.Expect(node.Spec.Taints).To(BeEmpty())
}

func TestUninitializedDelayValidated(t *testing.T) {
	g := NewWithT(t)
	sw := Switches{AddWorkerMode: AddWorkerSync, RateLimitWindow: Duration(time.Minute), TokenTTL: Duration(time.Hour),
		UninitializedDelay: Duration(-time.Second)}
	g.Expect(sw.Validate()).To(MatchError(ContainSubstring("uninitializedDelay")))
	h := newHarness(t)
	resp := h.putConfig(`{"registerUninitialized":true,"uninitializedDelay":"5s"}`)
	h.mustOK(resp)
	g.Expect(h.srv.Switches().RegisterUninitialized).To(BeTrue())
	g.Expect(h.srv.Switches().UninitializedDelay).To(Equal(Duration(5 * time.Second)))
}
