package termination_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/fake"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/vpsienode/termination"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

var (
	env        *environment.Environment
	cp         *fake.CloudProvider
	clk        *clocktesting.FakeClock
	recorder   *record.FakeRecorder
	controller *termination.Controller
)

const grace = time.Hour

func TestTermination(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "VPSieNode termination")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = environment.Start()
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	Expect(env.Stop()).To(Succeed())
})

var _ = BeforeEach(func() {
	cp = fake.New()
	// deletionTimestamps come from the apiserver, so the fake clock starts at the real time.
	clk = clocktesting.NewFakeClock(time.Now())
	recorder = record.NewFakeRecorder(1000)
	controller = termination.NewController(env.Client, cp, clk, recorder, termination.Options{TerminationGracePeriod: grace})
	DeferCleanup(func(ctx context.Context) {
		for _, ns := range []string{"default", "kube-system"} {
			Expect(env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.GracePeriodSeconds(0))).To(Succeed())
			Expect(env.Client.DeleteAllOf(ctx, &policyv1.PodDisruptionBudget{}, client.InNamespace(ns))).To(Succeed())
		}
		vns := &v1alpha1.VPSieNodeList{}
		Expect(env.Client.List(ctx, vns)).To(Succeed())
		for i := range vns.Items {
			release(ctx, &vns.Items[i])
		}
		nodes := &corev1.NodeList{}
		Expect(env.Client.List(ctx, nodes)).To(Succeed())
		for i := range nodes.Items {
			release(ctx, &nodes.Items[i])
		}
	})
})

func release(ctx context.Context, o client.Object) {
	GinkgoHelper()
	stored := o.DeepCopyObject().(client.Object)
	o.SetFinalizers(nil)
	Expect(client.IgnoreNotFound(env.Client.Patch(ctx, o, client.MergeFrom(stored)))).To(Succeed())
	Expect(client.IgnoreNotFound(env.Client.Delete(ctx, o))).To(Succeed())
}

// registered creates a launched VPSieNode (a fake instance) and the Node registration made ours.
func registered(ctx context.Context) (*v1alpha1.VPSieNode, *corev1.Node) {
	GinkgoHelper()
	vn := fixtures.VPSieNode(v1alpha1.VPSieNode{
		ObjectMeta: metav1.ObjectMeta{Finalizers: []string{v1alpha1.TerminationFinalizer}},
		Spec:       v1alpha1.VPSieNodeSpec{OfferingID: "2"},
	})
	Expect(env.Client.Create(ctx, vn)).To(Succeed())
	launched, err := cp.Create(ctx, vn)
	Expect(err).NotTo(HaveOccurred())
	node := fixtures.KubeletNode(launched.Status.ProviderID, corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Labels:     map[string]string{v1alpha1.LabelVPSieNode: vn.Name, v1alpha1.LabelRegistered: "true"},
		Finalizers: []string{v1alpha1.TerminationFinalizer},
	}})
	Expect(env.Client.Create(ctx, node)).To(Succeed())
	vn.Status = launched.Status
	vn.Status.NodeName = node.Name
	vn.Status.Phase = v1alpha1.VPSieNodeReady
	Expect(env.Client.Status().Update(ctx, vn)).To(Succeed())
	return vn, node
}

func deleteVPSieNode(ctx context.Context, vn *v1alpha1.VPSieNode) {
	GinkgoHelper()
	Expect(env.Client.Delete(ctx, vn)).To(Succeed())
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
}

// reconcile reads the VPSieNode fresh and reconciles it; gone reports it no longer exists after.
func reconcile(ctx context.Context, vn *v1alpha1.VPSieNode) (after time.Duration, gone bool) {
	GinkgoHelper()
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
	res, err := controller.Reconcile(ctx, vn)
	Expect(err).NotTo(HaveOccurred())
	err = env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)
	if apierrors.IsNotFound(err) {
		return res.RequeueAfter, true
	}
	Expect(err).NotTo(HaveOccurred())
	return res.RequeueAfter, false
}

func createPod(ctx context.Context, pod *corev1.Pod) *corev1.Pod {
	GinkgoHelper()
	Expect(env.Client.Create(ctx, pod)).To(Succeed())
	return pod
}

func exists(ctx context.Context, o client.Object) bool {
	GinkgoHelper()
	err := env.Client.Get(ctx, client.ObjectKeyFromObject(o), o)
	if apierrors.IsNotFound(err) {
		return false
	}
	Expect(err).NotTo(HaveOccurred())
	return true
}

func events() []string {
	var out []string
	for {
		select {
		case e := <-recorder.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func terminated(ng string) float64 {
	return testutil.ToFloat64(metrics.NodesTerminated.WithLabelValues(ng, termination.TerminationReasonDeleted))
}

var _ = Describe("termination", func() {
	It("releases a VPSieNode that never launched right away", func(ctx context.Context) {
		vn := fixtures.VPSieNode(v1alpha1.VPSieNode{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{v1alpha1.TerminationFinalizer}}})
		Expect(env.Client.Create(ctx, vn)).To(Succeed())
		before := terminated(vn.Spec.NodeGroup)
		deleteVPSieNode(ctx, vn)
		_, gone := reconcile(ctx, vn)
		Expect(gone).To(BeTrue())
		Expect(cp.CallCount("Delete")).To(BeZero())
		Expect(terminated(vn.Spec.NodeGroup)).To(Equal(before + 1))
	})

	It("waits for a requested but unattributed worker to be deleted", func(ctx context.Context) {
		vn := fixtures.VPSieNode(v1alpha1.VPSieNode{ObjectMeta: metav1.ObjectMeta{
			Finalizers:  []string{v1alpha1.TerminationFinalizer},
			Annotations: map[string]string{v1alpha1.AnnotationWorkerRequested: time.Now().UTC().Format(time.RFC3339)},
		}})
		Expect(env.Client.Create(ctx, vn)).To(Succeed())
		deleteVPSieNode(ctx, vn)
		_, gone := reconcile(ctx, vn)
		Expect(gone).To(BeTrue(), "the provider says NotFound for a worker it cannot name")
		Expect(cp.CallCount("Delete")).To(Equal(1))
	})

	It("taints, drains in order, deletes the instance until NotFound, then the Node, then releases", func(ctx context.Context) {
		vn, node := registered(ctx)
		normal := createPod(ctx, fixtures.BoundPod(node.Name))
		criticalPod := createPod(ctx, fixtures.BoundPod(node.Name, corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system"},
			Spec:       corev1.PodSpec{PriorityClassName: "system-cluster-critical"},
		}))
		ds := createPod(ctx, fixtures.BoundPod(node.Name, corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "0b3c6a3e-0000-4000-8000-000000000001", Controller: ptr.To(true),
		}}}}))
		mirror := createPod(ctx, fixtures.BoundPod(node.Name, corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "mirror"},
		}}))
		done := createPod(ctx, fixtures.BoundPod(node.Name))
		done.Status.Phase = corev1.PodSucceeded
		Expect(env.Client.Status().Update(ctx, done)).To(Succeed())
		before := terminated(vn.Spec.NodeGroup)

		deleteVPSieNode(ctx, vn)
		after, gone := reconcile(ctx, vn)
		Expect(gone).To(BeFalse())
		Expect(after).To(Equal(5 * time.Second))
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeTerminating))
		Expect(exists(ctx, node)).To(BeTrue())
		Expect(node.Spec.Taints).To(ContainElement(corev1.Taint{Key: v1alpha1.TaintKeyDisrupted, Effect: corev1.TaintEffectNoSchedule}))
		// An eviction of a bound pod with terminationGracePeriodSeconds 0 deletes it at once.
		Expect(exists(ctx, normal)).To(BeFalse(), "non-critical pods first")
		Expect(exists(ctx, criticalPod)).To(BeTrue(), "critical pods after the others are gone")
		Expect(cp.CallCount("Delete")).To(BeZero())

		_, _ = reconcile(ctx, vn)
		Expect(exists(ctx, criticalPod)).To(BeFalse())
		Expect(cp.CallCount("Delete")).To(BeZero(), "the instance is deleted on the pass after the drain")

		after, gone = reconcile(ctx, vn)
		Expect(gone).To(BeFalse())
		Expect(after).To(Equal(5*time.Second), "deleted; ask again until NotFound")
		Expect(cp.CallCount("Delete")).To(Equal(1))
		Expect(cp.InstanceCount()).To(BeZero())
		Expect(exists(ctx, node)).To(BeTrue())

		_, gone = reconcile(ctx, vn)
		Expect(gone).To(BeTrue())
		Expect(cp.CallCount("Delete")).To(Equal(2))
		Expect(exists(ctx, node)).To(BeFalse(), "Node deleted and its finalizer released")
		Expect(exists(ctx, ds)).To(BeTrue(), "daemonset pods are not evicted")
		Expect(exists(ctx, mirror)).To(BeTrue(), "mirror pods are not evicted")
		Expect(exists(ctx, done)).To(BeTrue(), "terminal pods are not evicted")
		Expect(terminated(vn.Spec.NodeGroup)).To(Equal(before + 1))
		Expect(events()).To(ContainElements(HavePrefix("Normal Draining"), HavePrefix("Normal InstanceDeleted")))
	})

	It("retries evictions a PodDisruptionBudget refuses, with one event", func(ctx context.Context) {
		vn, node := registered(ctx)
		pod := createPod(ctx, fixtures.BoundPod(node.Name, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "guarded"}}}))
		// The apiserver evicts Pending pods whatever their budget says: make it Running.
		pod.Status.Phase = corev1.PodRunning
		pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		Expect(env.Client.Status().Update(ctx, pod)).To(Succeed())
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: "default"},
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: ptr.To(intstr.FromInt32(1)),
				Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}},
			},
		}
		Expect(env.Client.Create(ctx, pdb)).To(Succeed())

		deleteVPSieNode(ctx, vn)
		// Before the disruption controller processed the budget the apiserver answers 429 with
		// Retry-After (client-go retries it); the eviction is cut short and retried later.
		start := time.Now()
		after, _ := reconcile(ctx, vn)
		Expect(after).To(Equal(5 * time.Second))
		Expect(time.Since(start)).To(BeNumerically("<", 10*time.Second))
		Expect(exists(ctx, pod)).To(BeTrue())

		// As the disruption controller (not in envtest) would: the budget allows no disruption.
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(pdb), pdb)).To(Succeed())
		pdb.Status = policyv1.PodDisruptionBudgetStatus{ObservedGeneration: pdb.Generation, DisruptionsAllowed: 0,
			CurrentHealthy: 1, DesiredHealthy: 1, ExpectedPods: 1}
		Expect(env.Client.Status().Update(ctx, pdb)).To(Succeed())
		for range 3 {
			after, gone := reconcile(ctx, vn)
			Expect(gone).To(BeFalse())
			Expect(after).To(Equal(5 * time.Second))
			Expect(exists(ctx, pod)).To(BeTrue())
		}
		Expect(cp.CallCount("Delete")).To(BeZero())
		blocked := 0
		for _, e := range events() {
			if strings.HasPrefix(e, "Warning EvictionBlocked") {
				blocked++
			}
		}
		Expect(blocked).To(Equal(1))

		Expect(env.Client.Delete(ctx, pdb)).To(Succeed())
		_, _ = reconcile(ctx, vn)
		Expect(exists(ctx, pod)).To(BeFalse())
	})

	It("keeps do-not-disrupt pods until the grace period passed", func(ctx context.Context) {
		vn, node := registered(ctx)
		pod := createPod(ctx, fixtures.BoundPod(node.Name, corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Annotations: map[string]string{v1alpha1.AnnotationDoNotDisrupt: "true"},
		}}))
		deleteVPSieNode(ctx, vn)
		deadline := vn.DeletionTimestamp.Add(grace)

		clk.SetTime(deadline.Add(-2 * time.Second))
		after, _ := reconcile(ctx, vn)
		Expect(after).To(Equal(2*time.Second), "wakes up when the grace period ends")
		Expect(exists(ctx, pod)).To(BeTrue())
		_, _ = reconcile(ctx, vn)
		Expect(events()).To(ConsistOf(HavePrefix("Normal Draining"), HavePrefix("Warning DoNotDisruptBlocked")))

		clk.SetTime(deadline)
		_, _ = reconcile(ctx, vn)
		Expect(exists(ctx, pod)).To(BeFalse(), "evicted anyway")
	})

	It("waits for evicted pods that take their grace period, until the termination grace period", func(ctx context.Context) {
		vn, node := registered(ctx)
		pod := createPod(ctx, fixtures.BoundPod(node.Name, corev1.Pod{Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](30)}}))
		deleteVPSieNode(ctx, vn)
		_, _ = reconcile(ctx, vn)
		// Without a kubelet the evicted pod stays Terminating.
		Expect(exists(ctx, pod)).To(BeTrue())
		Expect(pod.DeletionTimestamp).NotTo(BeNil())
		_, _ = reconcile(ctx, vn)
		Expect(cp.CallCount("Delete")).To(BeZero())

		clk.SetTime(vn.DeletionTimestamp.Add(grace))
		_, _ = reconcile(ctx, vn)
		Expect(cp.CallCount("Delete")).To(Equal(1))
	})

	It("retries cp.Delete errors", func(ctx context.Context) {
		vn, _ := registered(ctx)
		cp.InjectError("Delete", errors.New("vpsie answered 500"))
		deleteVPSieNode(ctx, vn)
		after, gone := reconcile(ctx, vn)
		Expect(gone).To(BeFalse())
		Expect(after).To(Equal(10 * time.Second))
		Expect(vn.Status.LastError).To(Equal("vpsie answered 500"))
		Expect(events()).To(ContainElement(HavePrefix("Warning InstanceDeleteFailed")))
		Expect(cp.InstanceCount()).To(Equal(1))

		_, gone = reconcile(ctx, vn)
		Expect(gone).To(BeFalse())
		_, gone = reconcile(ctx, vn)
		Expect(gone).To(BeTrue())
		Expect(cp.CallCount("Delete")).To(Equal(3))
	})

	It("deletes the VPSieNode of a deleted Node and holds the Node until termination is done", func(ctx context.Context) {
		vn, node := registered(ctx)
		Expect(env.Client.Delete(ctx, node)).To(Succeed())
		_, gone := reconcile(ctx, vn)
		Expect(gone).To(BeFalse())
		Expect(vn.DeletionTimestamp).NotTo(BeNil())
		Expect(events()).To(ContainElement(HavePrefix("Normal NodeDeleted")))
		Expect(exists(ctx, node)).To(BeTrue())
		Expect(node.Finalizers).To(ContainElement(v1alpha1.TerminationFinalizer))

		_, _ = reconcile(ctx, vn) // drained (empty), instance deleted
		Expect(exists(ctx, node)).To(BeTrue())
		_, gone = reconcile(ctx, vn)
		Expect(gone).To(BeTrue())
		Expect(exists(ctx, node)).To(BeFalse())
	})

	It("releases the Node of a VPSieNode that is gone", func(ctx context.Context) {
		vn, node := registered(ctx)
		release(ctx, vn)
		Expect(env.Client.Delete(ctx, node)).To(Succeed())
		Expect(controller.ReleaseNodes(ctx, vn.Name)).To(Succeed())
		Expect(exists(ctx, node)).To(BeFalse())
	})

	It("does not count again what the lifecycle controller counted", func(ctx context.Context) {
		vn := fixtures.VPSieNode(v1alpha1.VPSieNode{ObjectMeta: metav1.ObjectMeta{Finalizers: []string{v1alpha1.TerminationFinalizer}}})
		Expect(env.Client.Create(ctx, vn)).To(Succeed())
		meta.SetStatusCondition(&vn.Status.Conditions, metav1.Condition{Type: v1alpha1.VPSieNodeLaunched, Status: metav1.ConditionFalse,
			Reason: v1alpha1.ReasonOfferingUnavailable, Message: "no capacity"})
		vn.Status.Phase = v1alpha1.VPSieNodeFailed
		Expect(env.Client.Status().Update(ctx, vn)).To(Succeed())
		before := terminated(vn.Spec.NodeGroup)
		deleteVPSieNode(ctx, vn)
		_, gone := reconcile(ctx, vn)
		Expect(gone).To(BeTrue())
		Expect(terminated(vn.Spec.NodeGroup)).To(Equal(before))
	})
})

var _ = Describe("Register", func() {
	It("terminates the VPSieNode of a deleted Node under a manager", func(ctx context.Context) {
		mgr, err := manager.New(env.Config, manager.Options{
			Scheme:                 environment.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		c := termination.NewController(mgr.GetClient(), cp, clk, recorder, termination.Options{TerminationGracePeriod: grace})
		Expect(c.Register(ctx, mgr)).To(Succeed())
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- mgr.Start(runCtx) }()
		DeferCleanup(func() {
			cancel()
			Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
		})

		vn, node := registered(ctx)
		pod := createPod(ctx, fixtures.BoundPod(node.Name))
		Expect(env.Client.Delete(ctx, node)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(exists(ctx, pod)).To(BeFalse())
			g.Expect(exists(ctx, vn)).To(BeFalse())
			g.Expect(exists(ctx, node)).To(BeFalse())
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Expect(cp.InstanceCount()).To(BeZero())
	})
})
