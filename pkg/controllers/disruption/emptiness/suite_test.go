package emptiness_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/disruption/emptiness"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/state"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

var (
	env        *environment.Environment
	clk        *clocktesting.FakeClock
	recorder   *record.FakeRecorder
	cluster    *state.Cluster
	controller *emptiness.Controller
)

func TestEmptiness(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Disruption: emptiness")
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
	// Whole seconds, as the apiserver keeps condition times, so expected times compare exactly.
	clk = clocktesting.NewFakeClock(time.Now().Truncate(time.Second))
	recorder = record.NewFakeRecorder(1000)
	cluster = state.NewCluster(clk)
	// A direct client for both: every read is live, so a reconcile sees what the last one did.
	controller = emptiness.NewController(env.Client, env.Client, cluster, clk, recorder, emptiness.Options{})
	DeferCleanup(func(ctx context.Context) {
		Expect(env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace("default"), client.GracePeriodSeconds(0))).To(Succeed())
		vns := &v1alpha1.VPSieNodeList{}
		Expect(env.Client.List(ctx, vns)).To(Succeed())
		for i := range vns.Items {
			release(ctx, &vns.Items[i])
		}
		Expect(env.Client.DeleteAllOf(ctx, &corev1.Node{})).To(Succeed())
		Expect(env.Client.DeleteAllOf(ctx, &v1alpha1.NodeGroup{})).To(Succeed())
	})
})

// release drops the finalizers (no termination controller runs here) and deletes the object.
func release(ctx context.Context, o client.Object) {
	GinkgoHelper()
	stored := o.DeepCopyObject().(client.Object)
	o.SetFinalizers(nil)
	Expect(client.IgnoreNotFound(env.Client.Patch(ctx, o, client.MergeFrom(stored)))).To(Succeed())
	Expect(client.IgnoreNotFound(env.Client.Delete(ctx, o))).To(Succeed())
}

// nodeGroup creates a NodeGroup (the fixture's: consolidateAfter 30s, a 10% budget) changed by
// mutate.
func nodeGroup(ctx context.Context, mutate func(*v1alpha1.NodeGroup)) *v1alpha1.NodeGroup {
	GinkgoHelper()
	ng := fixtures.NodeGroup()
	if mutate != nil {
		mutate(ng)
	}
	Expect(env.Client.Create(ctx, ng)).To(Succeed())
	return ng
}

func consolidateAfter(d v1alpha1.NillableDuration) func(*v1alpha1.NodeGroup) {
	return func(ng *v1alpha1.NodeGroup) { ng.Spec.Disruption.ConsolidateAfter = d }
}

// initialized creates a VPSieNode of the group and its registered Node, and marks it
// initialized, as the lifecycle controller would. With hold, the VPSieNode carries the
// termination finalizer, so once deleted it stays (deleting) until released.
func initialized(ctx context.Context, ng *v1alpha1.NodeGroup, hold bool) (*v1alpha1.VPSieNode, *corev1.Node) {
	GinkgoHelper()
	vn := fixtures.VPSieNode(v1alpha1.VPSieNode{Spec: v1alpha1.VPSieNodeSpec{NodeGroup: ng.Name}})
	if hold {
		vn.Finalizers = []string{v1alpha1.TerminationFinalizer}
	}
	Expect(env.Client.Create(ctx, vn)).To(Succeed())
	providerID := "vpsie://" + vn.Name
	node := fixtures.KubeletNode(providerID, corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Labels: map[string]string{v1alpha1.LabelVPSieNode: vn.Name, v1alpha1.LabelRegistered: "true"},
	}})
	Expect(env.Client.Create(ctx, node)).To(Succeed())
	vn.Status = v1alpha1.VPSieNodeStatus{
		Phase: v1alpha1.VPSieNodeReady, InstanceID: vn.Name, ProviderID: providerID, NodeName: node.Name,
		Conditions: []metav1.Condition{{
			Type: v1alpha1.VPSieNodeInitialized, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonInitialized,
			Message: "node " + node.Name + " is Ready", LastTransitionTime: metav1.NewTime(clk.Now()),
		}},
	}
	Expect(env.Client.Status().Update(ctx, vn)).To(Succeed())
	return vn, node
}

// launching creates a VPSieNode of the group that is not initialized yet.
func launching(ctx context.Context, ng *v1alpha1.NodeGroup) *v1alpha1.VPSieNode {
	GinkgoHelper()
	vn := fixtures.VPSieNode(v1alpha1.VPSieNode{Spec: v1alpha1.VPSieNodeSpec{NodeGroup: ng.Name}})
	Expect(env.Client.Create(ctx, vn)).To(Succeed())
	return vn
}

// reconcileOnce reconciles the VPSieNode and returns when it asked to be looked at again.
func reconcileOnce(ctx context.Context, vn *v1alpha1.VPSieNode) time.Duration {
	GinkgoHelper()
	res, err := controller.Reconcile(ctx, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(vn)})
	Expect(err).NotTo(HaveOccurred())
	return res.RequeueAfter
}

// removed says whether the VPSieNode is gone or being deleted.
func removed(ctx context.Context, vn *v1alpha1.VPSieNode) bool {
	GinkgoHelper()
	got := &v1alpha1.VPSieNode{}
	err := env.Client.Get(ctx, client.ObjectKeyFromObject(vn), got)
	if apierrors.IsNotFound(err) {
		return true
	}
	Expect(err).NotTo(HaveOccurred())
	return !got.DeletionTimestamp.IsZero()
}

func countRemoved(ctx context.Context, vns []*v1alpha1.VPSieNode) int {
	GinkgoHelper()
	n := 0
	for _, vn := range vns {
		if removed(ctx, vn) {
			n++
		}
	}
	return n
}

// consolidatable returns the VPSieNode's Consolidatable condition (the zero condition when none).
func consolidatable(ctx context.Context, vn *v1alpha1.VPSieNode) metav1.Condition {
	GinkgoHelper()
	got := &v1alpha1.VPSieNode{}
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), got)).To(Succeed())
	if c := meta.FindStatusCondition(got.Status.Conditions, v1alpha1.VPSieNodeConsolidatable); c != nil {
		return *c
	}
	return metav1.Condition{}
}

func createPod(ctx context.Context, pod *corev1.Pod) *corev1.Pod {
	GinkgoHelper()
	Expect(env.Client.Create(ctx, pod)).To(Succeed())
	return pod
}

func ownedBy(kind string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "apps/v1", Kind: kind, Name: "owner", UID: uuid.NewUUID(), Controller: ptr.To(true),
	}}}}
}

// finished creates a pod on the node and moves it to phase.
func finished(ctx context.Context, nodeName string, phase corev1.PodPhase) {
	GinkgoHelper()
	pod := createPod(ctx, fixtures.BoundPod(nodeName, ownedBy("Job")))
	pod.Status.Phase = phase
	Expect(env.Client.Status().Update(ctx, pod)).To(Succeed())
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

func disrupted(group string) float64 {
	return testutil.ToFloat64(metrics.NodesDisrupted.WithLabelValues(group, emptiness.MetricReason))
}

var _ = Describe("emptiness", func() {
	It("marks an empty node Empty and removes it once it has been empty for consolidateAfter, not before", func(ctx context.Context) {
		ng := nodeGroup(ctx, consolidateAfter("45s"))
		vn, node := initialized(ctx, ng, false)
		before := disrupted(ng.Name)
		t0 := clk.Now()

		Expect(reconcileOnce(ctx, vn)).To(Equal(45 * time.Second))
		cond := consolidatable(ctx, vn)
		Expect(cond.Status).To(Equal(metav1.ConditionTrue))
		Expect(cond.Reason).To(Equal(v1alpha1.ReasonEmpty))
		Expect(cond.LastTransitionTime.Time).To(BeTemporally("==", t0))

		clk.Step(44 * time.Second)
		Expect(reconcileOnce(ctx, vn)).To(Equal(time.Second))
		Expect(removed(ctx, vn)).To(BeFalse())
		Expect(consolidatable(ctx, vn).LastTransitionTime.Time).To(BeTemporally("==", t0), "still empty since t0")

		clk.Step(time.Second)
		Expect(reconcileOnce(ctx, vn)).To(BeZero())
		Expect(removed(ctx, vn)).To(BeTrue())
		Expect(events()).To(ConsistOf(
			"Normal RemovingEmptyNode removing empty node "+node.Name+", empty for 45s",
			"Normal RemovingEmptyNode removing empty node "+node.Name+" (VPSieNode "+vn.Name+"), empty for 45s",
		))
		Expect(disrupted(ng.Name)).To(Equal(before + 1))
	})

	It("keeps a node that runs a ReplicaSet pod", func(ctx context.Context) {
		ng := nodeGroup(ctx, consolidateAfter("0s"))
		vn, node := initialized(ctx, ng, false)
		pod := createPod(ctx, fixtures.BoundPod(node.Name, ownedBy("ReplicaSet")))

		Expect(reconcileOnce(ctx, vn)).To(BeZero(), "the pod's leaving is an event")
		cond := consolidatable(ctx, vn)
		Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		Expect(cond.Reason).To(Equal(v1alpha1.ReasonNotConsolidatable))
		Expect(cond.Message).To(Equal("pod default/" + pod.Name + " runs on it"))

		clk.Step(time.Hour)
		reconcileOnce(ctx, vn)
		Expect(removed(ctx, vn)).To(BeFalse())
		Expect(events()).To(BeEmpty())
	})

	It("names a few of many pods", func(ctx context.Context) {
		ng := nodeGroup(ctx, consolidateAfter("0s"))
		vn, node := initialized(ctx, ng, false)
		for range 5 {
			createPod(ctx, fixtures.BoundPod(node.Name))
		}
		reconcileOnce(ctx, vn)
		Expect(consolidatable(ctx, vn).Message).To(MatchRegexp(`^pods default/\S+, default/\S+, default/\S+ and 2 more run on it$`))
	})

	It("does not count daemonset, mirror and finished pods", func(ctx context.Context) {
		ng := nodeGroup(ctx, consolidateAfter("30s"))
		vn, node := initialized(ctx, ng, false)
		createPod(ctx, fixtures.BoundPod(node.Name, ownedBy("DaemonSet")))
		createPod(ctx, fixtures.BoundPod(node.Name, corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Annotations: map[string]string{corev1.MirrorPodAnnotationKey: "mirror"},
		}}))
		finished(ctx, node.Name, corev1.PodSucceeded)
		finished(ctx, node.Name, corev1.PodFailed)
		// A finished pod's do-not-disrupt asks nothing of a node it no longer runs on.
		pod := createPod(ctx, fixtures.BoundPod(node.Name, corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Annotations: map[string]string{v1alpha1.AnnotationDoNotDisrupt: "true"},
		}}))
		pod.Status.Phase = corev1.PodSucceeded
		Expect(env.Client.Status().Update(ctx, pod)).To(Succeed())

		Expect(reconcileOnce(ctx, vn)).To(Equal(30 * time.Second))
		Expect(consolidatable(ctx, vn).Reason).To(Equal(v1alpha1.ReasonEmpty))
		clk.Step(30 * time.Second)
		reconcileOnce(ctx, vn)
		Expect(removed(ctx, vn)).To(BeTrue())
	})

	It("removes empty nodes under either consolidation policy", func(ctx context.Context) {
		for _, policy := range []v1alpha1.ConsolidationPolicy{v1alpha1.ConsolidationPolicyWhenEmpty, v1alpha1.ConsolidationPolicyWhenEmptyOrUnderutilized} {
			ng := nodeGroup(ctx, func(ng *v1alpha1.NodeGroup) {
				ng.Spec.Disruption.ConsolidationPolicy = policy
				ng.Spec.Disruption.ConsolidateAfter = "0s"
			})
			vn, _ := initialized(ctx, ng, false)
			reconcileOnce(ctx, vn)
			Expect(removed(ctx, vn)).To(BeTrue(), string(policy))
		}
	})

	DescribeTable("keeps an empty node while something asks to",
		func(ctx context.Context, arrange func(context.Context, *v1alpha1.NodeGroup, *v1alpha1.VPSieNode, *corev1.Node), message string) {
			ng := nodeGroup(ctx, consolidateAfter("0s"))
			vn, node := initialized(ctx, ng, false)
			arrange(ctx, ng, vn, node)

			reconcileOnce(ctx, vn)
			clk.Step(time.Hour)
			reconcileOnce(ctx, vn)
			Expect(removed(ctx, vn)).To(BeFalse())
			cond := consolidatable(ctx, vn)
			Expect(cond.Status).To(Equal(metav1.ConditionFalse))
			Expect(cond.Reason).To(Equal(v1alpha1.ReasonNotConsolidatable))
			Expect(cond.Message).To(ContainSubstring(message))
		},
		Entry("do-not-disrupt on the VPSieNode", func(ctx context.Context, _ *v1alpha1.NodeGroup, vn *v1alpha1.VPSieNode, _ *corev1.Node) {
			annotate(ctx, vn)
		}, "the VPSieNode has "+v1alpha1.AnnotationDoNotDisrupt),
		Entry("do-not-disrupt on its Node", func(ctx context.Context, _ *v1alpha1.NodeGroup, _ *v1alpha1.VPSieNode, node *corev1.Node) {
			annotate(ctx, node)
		}, "has "+v1alpha1.AnnotationDoNotDisrupt),
		Entry("a daemonset pod with do-not-disrupt", func(ctx context.Context, _ *v1alpha1.NodeGroup, _ *v1alpha1.VPSieNode, node *corev1.Node) {
			pod := fixtures.BoundPod(node.Name, ownedBy("DaemonSet"))
			pod.Annotations = map[string]string{v1alpha1.AnnotationDoNotDisrupt: "true"}
			createPod(ctx, pod)
		}, "has "+v1alpha1.AnnotationDoNotDisrupt),
		Entry("consolidateAfter Never", func(ctx context.Context, ng *v1alpha1.NodeGroup, _ *v1alpha1.VPSieNode, _ *corev1.Node) {
			stored := ng.DeepCopy()
			ng.Spec.Disruption.ConsolidateAfter = v1alpha1.Never
			Expect(env.Client.Patch(ctx, ng, client.MergeFrom(stored))).To(Succeed())
		}, "consolidateAfter Never"),
		Entry("a pending pod nominated to it", func(_ context.Context, _ *v1alpha1.NodeGroup, vn *v1alpha1.VPSieNode, _ *corev1.Node) {
			pending := fixtures.BoundPod("")
			pending.UID = uuid.NewUUID()
			pending.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
			cluster.Update(pending)
			cluster.Nominate([]types.UID{pending.UID}, vn.Name)
		}, "1 pending pod is nominated to it"),
	)

	It("looks again at a node held by nominations, which end without an event on it", func(ctx context.Context) {
		ng := nodeGroup(ctx, consolidateAfter("0s"))
		vn, _ := initialized(ctx, ng, false)
		pending := fixtures.BoundPod("")
		pending.UID = uuid.NewUUID()
		pending.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
		cluster.Update(pending)
		cluster.Nominate([]types.UID{pending.UID}, vn.Name)
		Expect(reconcileOnce(ctx, vn)).To(BeNumerically(">", 0))
		Expect(removed(ctx, vn)).To(BeFalse())

		cluster.Delete(pending)
		reconcileOnce(ctx, vn)
		Expect(removed(ctx, vn)).To(BeTrue())
	})

	It("toggles the condition as a pod comes and goes, and counts from when the node last became empty", func(ctx context.Context) {
		ng := nodeGroup(ctx, consolidateAfter("1m"))
		vn, node := initialized(ctx, ng, false)
		reconcileOnce(ctx, vn)
		Expect(consolidatable(ctx, vn).Status).To(Equal(metav1.ConditionTrue))

		clk.Step(30 * time.Second)
		pod := createPod(ctx, fixtures.BoundPod(node.Name, ownedBy("ReplicaSet")))
		reconcileOnce(ctx, vn)
		cond := consolidatable(ctx, vn)
		Expect(cond.Status).To(Equal(metav1.ConditionFalse))
		Expect(cond.LastTransitionTime.Time).To(BeTemporally("==", clk.Now()))

		// A minute after the node first became empty: it would be due, had it stayed empty.
		clk.Step(30 * time.Second)
		Expect(env.Client.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
		Expect(reconcileOnce(ctx, vn)).To(Equal(time.Minute))
		cond = consolidatable(ctx, vn)
		Expect(cond.Status).To(Equal(metav1.ConditionTrue))
		Expect(cond.Reason).To(Equal(v1alpha1.ReasonEmpty))
		Expect(cond.LastTransitionTime.Time).To(BeTemporally("==", clk.Now()))
		Expect(removed(ctx, vn)).To(BeFalse())
	})

	It("leaves nodes that are not initialized or are being deleted alone", func(ctx context.Context) {
		ng := nodeGroup(ctx, consolidateAfter("0s"))
		young := launching(ctx, ng)
		reconcileOnce(ctx, young)
		Expect(removed(ctx, young)).To(BeFalse())
		Expect(consolidatable(ctx, young).Type).To(BeEmpty(), "no condition written")

		going, _ := initialized(ctx, ng, true)
		Expect(env.Client.Delete(ctx, going)).To(Succeed())
		reconcileOnce(ctx, going)
		Expect(consolidatable(ctx, going).Type).To(BeEmpty())
		Expect(events()).To(BeEmpty())
	})

	It("within a budget of 1, removes one of three empty nodes at a time", func(ctx context.Context) {
		ng := nodeGroup(ctx, func(ng *v1alpha1.NodeGroup) {
			ng.Spec.Disruption.ConsolidateAfter = "0s"
			ng.Spec.Disruption.Budgets = []v1alpha1.Budget{{Nodes: "1"}}
		})
		var vns []*v1alpha1.VPSieNode
		for range 3 {
			vn, _ := initialized(ctx, ng, true)
			vns = append(vns, vn)
		}
		for _, vn := range vns {
			reconcileOnce(ctx, vn)
		}
		Expect(countRemoved(ctx, vns)).To(Equal(1))
		var first *v1alpha1.VPSieNode
		for _, vn := range vns {
			if removed(ctx, vn) {
				first = vn
				continue
			}
			// Waiting: looked at again, and the condition says why.
			Expect(reconcileOnce(ctx, vn)).To(BeNumerically(">", 0))
			cond := consolidatable(ctx, vn)
			Expect(cond.Status).To(Equal(metav1.ConditionTrue))
			Expect(cond.Message).To(ContainSubstring("removal waits for the disruption budget of NodeGroup %s: 1 of 3 nodes may be disrupted, 1 are", ng.Name))
		}
		Expect(countRemoved(ctx, vns)).To(Equal(1), "the first still terminating uses the budget up")

		release(ctx, first)
		for _, vn := range vns {
			if vn != first {
				reconcileOnce(ctx, vn)
			}
		}
		Expect(countRemoved(ctx, vns)).To(Equal(2))
	})

	It("takes percentages of the initialized nodes only", func(ctx context.Context) {
		ng := nodeGroup(ctx, func(ng *v1alpha1.NodeGroup) {
			ng.Spec.Disruption.ConsolidateAfter = "0s"
			ng.Spec.Disruption.Budgets = []v1alpha1.Budget{{Nodes: "50%"}}
		})
		var vns []*v1alpha1.VPSieNode
		for range 4 {
			vn, _ := initialized(ctx, ng, true)
			vns = append(vns, vn)
		}
		// 50% of six would be three; of the four that run, two.
		launching(ctx, ng)
		launching(ctx, ng)
		for _, vn := range vns {
			reconcileOnce(ctx, vn)
		}
		Expect(countRemoved(ctx, vns)).To(Equal(2))
	})

	It("never goes below minNodes", func(ctx context.Context) {
		ng := nodeGroup(ctx, func(ng *v1alpha1.NodeGroup) {
			ng.Spec.MinNodes = 2
			ng.Spec.Disruption.ConsolidateAfter = "0s"
			ng.Spec.Disruption.Budgets = []v1alpha1.Budget{{Nodes: "100%"}}
		})
		var vns []*v1alpha1.VPSieNode
		for range 3 {
			vn, _ := initialized(ctx, ng, false)
			vns = append(vns, vn)
		}
		for range 2 {
			for _, vn := range vns {
				reconcileOnce(ctx, vn)
			}
		}
		Expect(countRemoved(ctx, vns)).To(Equal(1))
		for _, vn := range vns {
			if !removed(ctx, vn) {
				Expect(consolidatable(ctx, vn).Message).To(ContainSubstring("NodeGroup %s has 2 nodes, minNodes 2", ng.Name))
			}
		}
	})

	It("in a dry run, announces the removal once and deletes nothing", func(ctx context.Context) {
		controller = emptiness.NewController(env.Client, env.Client, cluster, clk, recorder, emptiness.Options{DryRun: true})
		ng := nodeGroup(ctx, consolidateAfter("30s"))
		vn, node := initialized(ctx, ng, false)
		before := disrupted(ng.Name)
		reconcileOnce(ctx, vn)
		clk.Step(time.Minute)
		reconcileOnce(ctx, vn)
		reconcileOnce(ctx, vn)
		Expect(removed(ctx, vn)).To(BeFalse())
		Expect(events()).To(ConsistOf(
			"Normal RemovingEmptyNodeDryRun dry run: would remove empty node "+node.Name+", empty for 1m0s",
			"Normal RemovingEmptyNodeDryRun dry run: would remove empty node "+node.Name+" (VPSieNode "+vn.Name+"), empty for 1m0s",
		))
		Expect(disrupted(ng.Name)).To(Equal(before))
	})

	It("applies a budget only within its schedule window and only to its reasons", func(ctx context.Context) {
		ng := nodeGroup(ctx, func(ng *v1alpha1.NodeGroup) {
			ng.Spec.Disruption.ConsolidateAfter = "0s"
			ng.Spec.Disruption.Budgets = []v1alpha1.Budget{
				{Nodes: "0", Schedule: ptr.To("0 9 * * 1-5"), Duration: &metav1.Duration{Duration: 8 * time.Hour}},
				{Nodes: "0", Reasons: []v1alpha1.DisruptionReason{v1alpha1.DisruptionReasonUnderutilized}},
			}
		})
		// A Monday, 12:00 UTC: within office hours, nothing goes.
		clk.SetTime(time.Date(2026, time.January, 5, 12, 0, 0, 0, time.UTC))
		vn, _ := initialized(ctx, ng, false)
		reconcileOnce(ctx, vn)
		Expect(removed(ctx, vn)).To(BeFalse())
		Expect(consolidatable(ctx, vn).Message).To(ContainSubstring("0 of 1 nodes may be disrupted"))

		// 17:00 is the end of the window; the Underutilized-only budget never applied.
		clk.SetTime(time.Date(2026, time.January, 5, 17, 0, 0, 0, time.UTC))
		reconcileOnce(ctx, vn)
		Expect(removed(ctx, vn)).To(BeTrue())
		Expect(events()).To(ContainElement(HaveSuffix(", empty for 5h0m0s")))
	})
})

func annotate(ctx context.Context, o client.Object) {
	GinkgoHelper()
	stored := o.DeepCopyObject().(client.Object)
	o.SetAnnotations(map[string]string{v1alpha1.AnnotationDoNotDisrupt: "true"})
	Expect(env.Client.Patch(ctx, o, client.MergeFrom(stored))).To(Succeed())
}

var _ = Describe("Register", func() {
	// start runs the controller under a manager (cached client, watches) until the spec ends.
	start := func(ctx context.Context) {
		GinkgoHelper()
		mgr, err := manager.New(env.Config, manager.Options{
			Scheme:                 environment.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		c := emptiness.NewController(mgr.GetClient(), mgr.GetAPIReader(), cluster, clk, recorder, emptiness.Options{})
		Expect(c.Register(ctx, mgr)).To(Succeed())
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- mgr.Start(runCtx) }()
		DeferCleanup(func() {
			cancel()
			Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
		})
	}
	status := func(ctx context.Context, vn *v1alpha1.VPSieNode) func() metav1.ConditionStatus {
		return func() metav1.ConditionStatus { return consolidatable(ctx, vn).Status }
	}

	It("follows pods onto and off the node, and removes it when its group's consolidateAfter drops", func(ctx context.Context) {
		start(ctx)
		ng := nodeGroup(ctx, consolidateAfter("1h"))
		vn, node := initialized(ctx, ng, false)
		Eventually(status(ctx, vn)).WithTimeout(30 * time.Second).Should(Equal(metav1.ConditionTrue))

		pod := createPod(ctx, fixtures.BoundPod(node.Name, ownedBy("ReplicaSet")))
		Eventually(status(ctx, vn)).WithTimeout(30 * time.Second).Should(Equal(metav1.ConditionFalse))
		Expect(env.Client.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
		Eventually(status(ctx, vn)).WithTimeout(30 * time.Second).Should(Equal(metav1.ConditionTrue))

		stored := ng.DeepCopy()
		ng.Spec.Disruption.ConsolidateAfter = "0s"
		Expect(env.Client.Patch(ctx, ng, client.MergeFrom(stored))).To(Succeed())
		Eventually(func() bool { return removed(ctx, vn) }).WithTimeout(30 * time.Second).Should(BeTrue())
	})

	It("removes the next empty node of a budget of 1 as soon as the last one is gone", func(ctx context.Context) {
		start(ctx)
		ng := nodeGroup(ctx, func(ng *v1alpha1.NodeGroup) {
			ng.Spec.Disruption.ConsolidateAfter = "0s"
			ng.Spec.Disruption.Budgets = []v1alpha1.Budget{{Nodes: "1"}}
		})
		a, _ := initialized(ctx, ng, true)
		b, _ := initialized(ctx, ng, true)
		vns := []*v1alpha1.VPSieNode{a, b}
		Eventually(func() int { return countRemoved(ctx, vns) }).WithTimeout(30 * time.Second).Should(Equal(1))
		first, second := a, b
		if !removed(ctx, a) {
			first, second = b, a
		}
		Eventually(func() string { return consolidatable(ctx, second).Message }).WithTimeout(30 * time.Second).
			Should(ContainSubstring("removal waits for the disruption budget"))
		release(ctx, first)
		// Well within blockedRecheck: the VPSieNode's going is what wakes the other.
		Eventually(func() int { return countRemoved(ctx, vns) }).WithTimeout(15 * time.Second).Should(Equal(2))
	})
})
