package garbagecollection_test

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/fake"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/garbagecollection"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

var (
	env        *environment.Environment
	cp         *fake.CloudProvider
	clk        *clocktesting.FakeClock
	recorder   *record.FakeRecorder
	controller *garbagecollection.Controller
)

const grace = 10 * time.Minute

func TestGarbageCollection(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "GarbageCollection")
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
	clk = clocktesting.NewFakeClock(time.Now())
	recorder = record.NewFakeRecorder(1000)
	controller = garbagecollection.NewController(env.Client, cp, clk, recorder, garbagecollection.Options{GracePeriod: grace, Interval: time.Minute})
	DeferCleanup(func(ctx context.Context) {
		Expect(env.Client.DeleteAllOf(ctx, &v1alpha1.VPSieNode{})).To(Succeed())
		Expect(env.Client.DeleteAllOf(ctx, &corev1.Node{})).To(Succeed())
	})
})

// createVPSieNode creates a VPSieNode and writes its status.
func createVPSieNode(ctx context.Context, annotations map[string]string, status v1alpha1.VPSieNodeStatus) *v1alpha1.VPSieNode {
	GinkgoHelper()
	vn := fixtures.VPSieNode(v1alpha1.VPSieNode{ObjectMeta: metav1.ObjectMeta{Annotations: annotations}})
	Expect(env.Client.Create(ctx, vn)).To(Succeed())
	vn.Status = status
	Expect(env.Client.Status().Update(ctx, vn)).To(Succeed())
	return vn
}

func launched(id string) v1alpha1.VPSieNodeStatus {
	return v1alpha1.VPSieNodeStatus{Phase: v1alpha1.VPSieNodeRegistering, InstanceID: id, ProviderID: cloudprovider.ProviderID(id)}
}

func exists(id string) bool {
	_, err := cp.Get(context.Background(), cloudprovider.ProviderID(id))
	return err == nil
}

func collected(reason string) float64 {
	return testutil.ToFloat64(metrics.GarbageCollected.WithLabelValues(reason))
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

var _ = Describe("orphan instances", func() {
	It("deletes an unclaimed instance once it has been seen unclaimed for the grace period", func(ctx context.Context) {
		cp.AddInstance(cloudprovider.Instance{ID: "i-orphan", Group: "g1"})
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: fixtures.RandomName("node")}, Spec: corev1.NodeSpec{ProviderID: cloudprovider.ProviderID("i-orphan")}}
		Expect(env.Client.Create(ctx, node)).To(Succeed())
		before := collected("orphan_instance")

		Expect(controller.Reconcile(ctx)).To(Succeed())
		clk.Step(grace - time.Second)
		Expect(controller.Reconcile(ctx)).To(Succeed())
		Expect(exists("i-orphan")).To(BeTrue(), "within the grace period")
		Expect(cp.CallCount("Delete")).To(BeZero())

		clk.Step(time.Second)
		Expect(controller.Reconcile(ctx)).To(Succeed())
		Expect(exists("i-orphan")).To(BeFalse())
		Expect(cp.Calls["Delete"]).To(Equal([]string{"orphan:i-orphan"}))
		Expect(collected("orphan_instance") - before).To(Equal(1.0))
		Expect(events()).To(ConsistOf(And(ContainSubstring(garbagecollection.EventOrphanInstanceDeleted), ContainSubstring("i-orphan"))))
	})

	It("never deletes a claimed instance, and restarts the grace period when a claim goes away", func(ctx context.Context) {
		cp.AddInstance(cloudprovider.Instance{ID: "i-claimed", Group: "g1"})
		vn := createVPSieNode(ctx, nil, launched("i-claimed"))
		Expect(controller.Reconcile(ctx)).To(Succeed())
		clk.Step(2 * grace)
		Expect(controller.Reconcile(ctx)).To(Succeed())
		Expect(exists("i-claimed")).To(BeTrue())

		Expect(env.Client.Delete(ctx, vn)).To(Succeed())
		Expect(controller.Reconcile(ctx)).To(Succeed())
		clk.Step(grace / 2)
		Expect(controller.Reconcile(ctx)).To(Succeed())
		Expect(exists("i-claimed")).To(BeTrue(), "first seen unclaimed only when the claim went")
		clk.Step(grace / 2)
		Expect(controller.Reconcile(ctx)).To(Succeed())
		Expect(exists("i-claimed")).To(BeFalse())
	})

	It("spares instances of a VPSie group with a pending worker request", func(ctx context.Context) {
		cp.AddInstance(cloudprovider.Instance{ID: "i-pending", Group: "g-pending"})
		cp.AddInstance(cloudprovider.Instance{ID: "i-other", Group: "g-other"})
		createVPSieNode(ctx, map[string]string{
			v1alpha1.AnnotationWorkerRequested: clk.Now().UTC().Format(time.RFC3339),
			v1alpha1.AnnotationWorkerGroup:     "g-pending",
		}, v1alpha1.VPSieNodeStatus{Phase: v1alpha1.VPSieNodeLaunching})

		Expect(controller.Reconcile(ctx)).To(Succeed())
		clk.Step(grace)
		Expect(controller.Reconcile(ctx)).To(Succeed())
		Expect(exists("i-pending")).To(BeTrue(), "it may be the worker asked for")
		Expect(exists("i-other")).To(BeFalse())
	})

	It("skips the pass when the cloud cannot list instances", func(ctx context.Context) {
		cp.AddInstance(cloudprovider.Instance{ID: "i-orphan", Group: "g1"})
		Expect(controller.Reconcile(ctx)).To(Succeed())
		vn := createVPSieNode(ctx, nil, launched("i-vanished"))
		clk.Step(grace)
		cp.AlwaysErrors["List"] = errors.New("vpsie is down")

		Expect(controller.Reconcile(ctx)).To(MatchError(ContainSubstring("vpsie is down")))
		Expect(cp.CallCount("Delete")).To(BeZero())
		Expect(cp.CallCount("Get")).To(BeZero())
		Expect(exists("i-orphan")).To(BeTrue())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
		Expect(vn.DeletionTimestamp.IsZero()).To(BeTrue())
	})

	It("retries a failed delete on the next pass", func(ctx context.Context) {
		cp.AddInstance(cloudprovider.Instance{ID: "i-orphan", Group: "g1"})
		Expect(controller.Reconcile(ctx)).To(Succeed())
		clk.Step(grace)
		cp.InjectError("Delete", errors.New("500"))
		Expect(controller.Reconcile(ctx)).To(MatchError(ContainSubstring("deleting orphan instance i-orphan")))
		Expect(exists("i-orphan")).To(BeTrue())
		Expect(controller.Reconcile(ctx)).To(Succeed())
		Expect(exists("i-orphan")).To(BeFalse())
	})
})

var _ = Describe("vanished instances", func() {
	It("deletes a launched VPSieNode whose instance is gone", func(ctx context.Context) {
		cp.AddInstance(cloudprovider.Instance{ID: "i-alive", Group: "g1"})
		alive := createVPSieNode(ctx, nil, launched("i-alive"))
		gone := createVPSieNode(ctx, nil, launched("i-gone"))
		notLaunched := createVPSieNode(ctx, nil, v1alpha1.VPSieNodeStatus{Phase: v1alpha1.VPSieNodePending})
		before := collected("instance_gone")

		Expect(controller.Reconcile(ctx)).To(Succeed())
		Expect(cp.Calls["Get"]).To(Equal([]string{"vpsie://i-gone"}), "confirmed one by one")
		Expect(apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(gone), gone))).To(BeTrue())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(alive), alive)).To(Succeed())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(notLaunched), notLaunched)).To(Succeed())
		Expect(collected("instance_gone") - before).To(Equal(1.0))
		Expect(events()).To(ConsistOf(And(ContainSubstring(garbagecollection.EventInstanceGone), ContainSubstring("i-gone"))))
	})

	It("keeps the VPSieNode unless Get says NotFound", func(ctx context.Context) {
		vn := createVPSieNode(ctx, nil, launched("i-unsure"))
		cp.InjectError("Get", errors.New("timeout"))
		Expect(controller.Reconcile(ctx)).To(MatchError(ContainSubstring("timeout")))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
		Expect(vn.DeletionTimestamp.IsZero()).To(BeTrue())
	})
})

var _ = Describe("Start", func() {
	It("runs a pass every interval on the injected clock until stopped", func(ctx context.Context) {
		Expect(controller.NeedLeaderElection()).To(BeTrue())
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- controller.Start(runCtx) }()

		Eventually(func() int { return cp.CallCount("List") }).WithTimeout(10 * time.Second).Should(Equal(1))
		Eventually(clk.HasWaiters).WithTimeout(10 * time.Second).Should(BeTrue())
		clk.Step(time.Minute)
		Eventually(func() int { return cp.CallCount("List") }).WithTimeout(10 * time.Second).Should(Equal(2))
		cancel()
		Eventually(done).Should(Receive(BeNil()))
	})
})
