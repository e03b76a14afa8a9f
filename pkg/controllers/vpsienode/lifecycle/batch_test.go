package lifecycle_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/vpsienode/lifecycle"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/state"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

const window = 30 * time.Second

func batchTaint(batch string) corev1.Taint {
	return corev1.Taint{Key: v1alpha1.TaintKeyBatchPending, Value: batch, Effect: corev1.TaintEffectNoSchedule}
}

// newBatch creates n VPSieNodes of one batch, as one provisioning pass would, and launches
// each (reconcile with the current controller).
func newBatch(ctx context.Context, n int) (string, []*v1alpha1.VPSieNode) {
	GinkgoHelper()
	batch := fixtures.RandomName("batch")
	var vns []*v1alpha1.VPSieNode
	for range n {
		vn := newVPSieNode(ctx, v1alpha1.VPSieNode{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{v1alpha1.LabelBatch: batch}}})
		_, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(vn.Status.ProviderID).NotTo(BeEmpty())
		vns = append(vns, vn)
	}
	return batch, vns
}

// nodeFor registers the kubelet Node of vn's VM, Ready or (with the apiserver's not-ready
// taint kept on, as the node lifecycle controller would) not.
func nodeFor(ctx context.Context, vn *v1alpha1.VPSieNode, ready bool) *corev1.Node {
	GinkgoHelper()
	node := fixtures.KubeletNode(vn.Status.ProviderID)
	if ready {
		return createNode(ctx, node)
	}
	node.Status.Conditions[0].Status = corev1.ConditionFalse
	Expect(env.Client.Create(ctx, node)).To(Succeed())
	return node
}

// becomeReady turns the Node Ready as kubelet and the node lifecycle controller would.
func becomeReady(ctx context.Context, node *corev1.Node) {
	GinkgoHelper()
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return err
		}
		node.Status.Conditions[0].Status = corev1.ConditionTrue
		return env.Client.Status().Update(ctx, node)
	})).To(Succeed())
	removeTaint(ctx, node, corev1.TaintNodeNotReady)
}

func taintsOf(ctx context.Context, node *corev1.Node) []corev1.Taint {
	GinkgoHelper()
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
	return node.Spec.Taints
}

func reconcileAll(ctx context.Context, vns ...*v1alpha1.VPSieNode) {
	GinkgoHelper()
	for _, vn := range vns {
		_, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
	}
}

func heldByBatch(vn *v1alpha1.VPSieNode) {
	GinkgoHelper()
	Expect(condition(vn, v1alpha1.VPSieNodeInitialized)).To(And(
		HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonBatchHeld)), vn.Name)
	Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeRegistering))
}

var _ = Describe("batch release", func() {
	BeforeEach(func() {
		controller = lifecycle.NewController(env.Client, cp, clk, recorder, lifecycle.Options{RegistrationTimeout: timeout, BatchReleaseWindow: window})
	})

	It("holds a batch of three while one is not Ready and releases all of it when that one is", func(ctx context.Context) {
		batch, vns := newBatch(ctx, 3)
		a, b, c := vns[0], vns[1], vns[2]
		na, nb, nc := nodeFor(ctx, a, true), nodeFor(ctx, b, true), nodeFor(ctx, c, false)
		reconcileAll(ctx, a, b, c)
		for _, n := range []*corev1.Node{na, nb, nc} {
			Expect(taintsOf(ctx, n)).To(ContainElement(batchTaint(batch)), "on at registration, in the same patch")
			Expect(n.Labels).To(HaveKeyWithValue(v1alpha1.LabelBatch, batch))
		}
		heldByBatch(a)
		heldByBatch(b)
		Expect(condition(c, v1alpha1.VPSieNodeInitialized)).To(HaveField("Reason", v1alpha1.ReasonNodeNotReady))
		Expect(a.Annotations).To(HaveKey(v1alpha1.AnnotationBatchHeldSince))
		Expect(c.Annotations).NotTo(HaveKey(v1alpha1.AnnotationBatchHeldSince), "not held: not Ready")
		events()

		// Within the window the Ready ones wait, and wake up when it ends.
		clk.Step(window - 5*time.Second)
		after, err := reconcile(ctx, a)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(5 * time.Second))
		heldByBatch(a)
		Expect(taintsOf(ctx, na)).To(ContainElement(batchTaint(batch)))
		Expect(events()).To(BeEmpty())

		// The last one becomes Ready: its reconcile releases the whole batch at once.
		becomeReady(ctx, nc)
		after, err = reconcile(ctx, c)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(BeZero())
		for _, n := range []*corev1.Node{na, nb, nc} {
			Expect(taintsOf(ctx, n)).NotTo(ContainElement(HaveField("Key", v1alpha1.TaintKeyBatchPending)), n.Name)
		}
		Expect(c.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
		Expect(events()).To(ConsistOf(
			"Normal "+lifecycle.EventBatchReleased+" Released 3 nodes of batch "+batch+": the whole batch is Ready",
			HavePrefix("Normal Initialized")))

		reconcileAll(ctx, a, b)
		Expect(a.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
		Expect(b.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
		Expect(events()).NotTo(ContainElement(HavePrefix("Normal " + lifecycle.EventBatchReleased)))
	})

	It("releases the Ready nodes when the window passes though one never becomes Ready", func(ctx context.Context) {
		batch, vns := newBatch(ctx, 3)
		a, b, c := vns[0], vns[1], vns[2]
		na, nb := nodeFor(ctx, a, true), nodeFor(ctx, b, true)
		reconcileAll(ctx, a)
		clk.Step(10 * time.Second)
		// The window runs from the first hold of the batch, not from each node's.
		after, err := reconcile(ctx, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(10*time.Second), "the poll interval, before the 20s left")
		heldByBatch(a)
		heldByBatch(b)
		events()

		clk.Step(window - 10*time.Second)
		after, err = reconcile(ctx, b)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(BeZero())
		Expect(b.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
		for _, n := range []*corev1.Node{na, nb} {
			Expect(taintsOf(ctx, n)).NotTo(ContainElement(HaveField("Key", v1alpha1.TaintKeyBatchPending)), n.Name)
		}
		Expect(events()).To(ConsistOf(
			"Normal "+lifecycle.EventBatchReleased+" Released 2 nodes of batch "+batch+": the release window 30s expired with 1 VPSieNodes of the batch not Ready",
			HavePrefix("Normal Initialized")))
		reconcileAll(ctx, a)
		Expect(a.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))

		// The straggler's Node comes late: its batch is over, so it does not wait.
		nc := nodeFor(ctx, c, true)
		reconcileAll(ctx, c)
		Expect(c.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
		Expect(taintsOf(ctx, nc)).NotTo(ContainElement(HaveField("Key", v1alpha1.TaintKeyBatchPending)))
	})

	It("does not wait for siblings that are deleted or failed", func(ctx context.Context) {
		batch, vns := newBatch(ctx, 3)
		a, b, c := vns[0], vns[1], vns[2]
		na := nodeFor(ctx, a, true)
		reconcileAll(ctx, a)
		heldByBatch(a)

		Expect(env.Client.Delete(ctx, b)).To(Succeed()) // the finalizer keeps it, deleting
		c.Status.Phase = v1alpha1.VPSieNodeFailed
		Expect(env.Client.Status().Update(ctx, c)).To(Succeed())
		events()
		reconcileAll(ctx, a)
		Expect(a.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
		Expect(taintsOf(ctx, na)).NotTo(ContainElement(HaveField("Key", v1alpha1.TaintKeyBatchPending)))
		Expect(events()).To(ContainElement("Normal " + lifecycle.EventBatchReleased + " Released 1 nodes of batch " + batch + ": the whole batch is Ready"))
	})

	It("with a window of 0 puts no taint on, and lets a node held from before go once it is Ready", func(ctx context.Context) {
		controller = lifecycle.NewController(env.Client, cp, clk, recorder, lifecycle.Options{RegistrationTimeout: timeout})
		batch, vns := newBatch(ctx, 2)
		a, b := vns[0], vns[1]
		na := nodeFor(ctx, a, true)
		reconcileAll(ctx, a)
		Expect(a.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady), "b is not waited for")
		Expect(taintsOf(ctx, na)).NotTo(ContainElement(HaveField("Key", v1alpha1.TaintKeyBatchPending)))
		Expect(a.Annotations).NotTo(HaveKey(v1alpha1.AnnotationBatchHeldSince))

		// Tainted while the window was on (an earlier run of the controller).
		nb := fixtures.KubeletNode(b.Status.ProviderID)
		nb.Spec.Taints = []corev1.Taint{batchTaint(batch)}
		createNode(ctx, nb)
		events()
		reconcileAll(ctx, b)
		Expect(b.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
		Expect(taintsOf(ctx, nb)).To(BeEmpty())
		Expect(events()).To(ContainElement(HavePrefix("Normal " + lifecycle.EventBatchReleased + " Released 1 nodes of batch " + batch + ": batch holding is off")))
	})
})

var _ = Describe("batch release under a manager", func() {
	// startManager runs the lifecycle controller (window 30s) and a cluster model on the
	// manager's informers until the test ends.
	startManager := func(ctx context.Context) *state.Cluster {
		GinkgoHelper()
		mgr, err := manager.New(env.Config, manager.Options{
			Scheme:                 environment.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		c := lifecycle.NewController(mgr.GetClient(), cp, clk, recorder, lifecycle.Options{RegistrationTimeout: timeout, BatchReleaseWindow: window})
		Expect(c.Register(ctx, mgr)).To(Succeed())
		cluster := state.NewCluster(clk)
		Expect(cluster.Register(ctx, mgr)).To(Succeed())
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- mgr.Start(runCtx) }()
		DeferCleanup(func() {
			cancel()
			Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
		})
		return cluster
	}
	// launchedBatch creates a batch of n VPSieNodes and waits until the controller launched them.
	launchedBatch := func(ctx context.Context, n int) (string, []*v1alpha1.VPSieNode) {
		GinkgoHelper()
		batch := fixtures.RandomName("batch")
		var vns []*v1alpha1.VPSieNode
		for range n {
			vns = append(vns, newVPSieNode(ctx, v1alpha1.VPSieNode{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{v1alpha1.LabelBatch: batch}}}))
		}
		Eventually(func(g Gomega) {
			for _, vn := range vns {
				g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
				g.Expect(vn.Status.ProviderID).NotTo(BeEmpty())
			}
		}).WithTimeout(30 * time.Second).Should(Succeed())
		return batch, vns
	}
	eventuallyPhase := func(ctx context.Context, phase v1alpha1.VPSieNodePhase, reason string, vns ...*v1alpha1.VPSieNode) {
		GinkgoHelper()
		// Well within the 10s poll: the watches, not the poll, must wake the controller.
		Eventually(func(g Gomega) {
			for _, vn := range vns {
				g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
				g.Expect(vn.Status.Phase).To(Equal(phase), vn.Name)
				if reason != "" {
					g.Expect(condition(vn, v1alpha1.VPSieNodeInitialized)).To(HaveField("Reason", reason), vn.Name)
				}
			}
		}).WithTimeout(5 * time.Second).Should(Succeed())
	}

	It("releases the batch on the last Node's Ready, and the plan never sees the taint meanwhile", func(ctx context.Context) {
		cluster := startManager(ctx)
		batch, vns := launchedBatch(ctx, 3)
		na, nb, nc := nodeFor(ctx, vns[0], true), nodeFor(ctx, vns[1], true), nodeFor(ctx, vns[2], false)
		eventuallyPhase(ctx, v1alpha1.VPSieNodeRegistering, v1alpha1.ReasonBatchHeld, vns[0], vns[1])
		for _, n := range []*corev1.Node{na, nb} {
			Expect(taintsOf(ctx, n)).To(ContainElement(batchTaint(batch)))
		}

		// The model's informers have the tainted Nodes; the snapshot shows them as the in-flight
		// nodes they are, untainted.
		Eventually(func(g Gomega) {
			s := cluster.Snapshot()
			g.Expect(s.InFlight).To(HaveKey(na.Name))
			g.Expect(s.InFlight).To(HaveKey(nb.Name))
			for _, n := range s.Nodes {
				g.Expect(n.Spec.Taints).NotTo(ContainElement(HaveField("Key", v1alpha1.TaintKeyBatchPending)), n.Name)
			}
		}).WithTimeout(5 * time.Second).Should(Succeed())

		becomeReady(ctx, nc)
		eventuallyPhase(ctx, v1alpha1.VPSieNodeReady, "", vns...)
		for _, n := range []*corev1.Node{na, nb, nc} {
			Expect(taintsOf(ctx, n)).NotTo(ContainElement(HaveField("Key", v1alpha1.TaintKeyBatchPending)), n.Name)
		}
	})

	It("releases the held siblings when the last one waited for is deleted", func(ctx context.Context) {
		startManager(ctx)
		_, vns := launchedBatch(ctx, 3)
		nodeFor(ctx, vns[0], true)
		nodeFor(ctx, vns[1], true)
		eventuallyPhase(ctx, v1alpha1.VPSieNodeRegistering, v1alpha1.ReasonBatchHeld, vns[0], vns[1])

		Expect(env.Client.Delete(ctx, vns[2])).To(Succeed())
		eventuallyPhase(ctx, v1alpha1.VPSieNodeReady, "", vns[0], vns[1])
	})
})
