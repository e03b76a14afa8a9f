package provisioning_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/fake"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/provisioning"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/state"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

var (
	env      *environment.Environment
	cp       *fake.CloudProvider
	clk      *clocktesting.FakeClock
	recorder *record.FakeRecorder
	cluster  *state.Cluster
	prov     *provisioning.Provisioner
)

func TestProvisioning(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Provisioning")
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
	recorder = record.NewFakeRecorder(5000)
	cluster = state.NewCluster(clk)
	prov = newProvisioner(provisioning.Options{})
	DeferCleanup(func(ctx context.Context) {
		vns := &v1alpha1.VPSieNodeList{}
		Expect(env.Client.List(ctx, vns)).To(Succeed())
		for i := range vns.Items {
			vn := &vns.Items[i]
			stored := vn.DeepCopy()
			vn.Finalizers = nil
			Expect(client.IgnoreNotFound(env.Client.Patch(ctx, vn, client.MergeFrom(stored)))).To(Succeed())
			Expect(client.IgnoreNotFound(env.Client.Delete(ctx, vn))).To(Succeed())
		}
	})
})

func newProvisioner(opts provisioning.Options) *provisioning.Provisioner {
	return provisioning.NewProvisioner(env.Client, env.Client, cluster, cp, clk, recorder, opts)
}

// nodeGroup puts a NodeGroup into the model (the provisioner never reads NodeGroups elsewhere).
func nodeGroup(overrides ...v1alpha1.NodeGroup) *v1alpha1.NodeGroup {
	ng := fixtures.NodeGroup(overrides...)
	ng.UID = uuid.NewUUID()
	cluster.Update(ng)
	return ng
}

// pendingPod puts into the model a pod the scheduler marked unschedulable, requesting cpu and
// 256Mi.
func pendingPod(cpu string, overrides ...corev1.Pod) *corev1.Pod {
	p := fixtures.BoundPod("", overrides...)
	p.UID = uuid.NewUUID()
	p.CreationTimestamp = metav1.NewTime(clk.Now())
	p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("256Mi"),
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable}}
	cluster.Update(p)
	return p
}

// vpsieNodes lists the VPSieNodes of the group in the API server.
func vpsieNodes(ctx context.Context, group string) []v1alpha1.VPSieNode {
	GinkgoHelper()
	list := &v1alpha1.VPSieNodeList{}
	Expect(env.Client.List(ctx, list)).To(Succeed())
	var out []v1alpha1.VPSieNode
	for _, vn := range list.Items {
		if vn.Spec.NodeGroup == group {
			out = append(out, vn)
		}
	}
	return out
}

// feed delivers every VPSieNode of the API server to the model, as its informer would.
func feed(ctx context.Context) {
	GinkgoHelper()
	list := &v1alpha1.VPSieNodeList{}
	Expect(env.Client.List(ctx, list)).To(Succeed())
	for i := range list.Items {
		cluster.Update(&list.Items[i])
	}
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

func withReason(evs []string, eventType, reason string) []string {
	var out []string
	for _, e := range evs {
		if strings.HasPrefix(e, eventType+" "+reason+" ") {
			out = append(out, e)
		}
	}
	return out
}

func reconcile(ctx context.Context) bool {
	GinkgoHelper()
	again, err := prov.Reconcile(ctx)
	Expect(err).NotTo(HaveOccurred())
	return again
}

var _ = Describe("provisioning", func() {
	It("launches the cheapest fitting offering from the NodeGroup that can host the pods, and nominates them", func(ctx context.Context) {
		teamA := nodeGroup(v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{Template: v1alpha1.NodeTemplate{Labels: map[string]string{"team": "a"}}}})
		other := nodeGroup()
		var pods []*corev1.Pod
		for range 3 {
			pods = append(pods, pendingPod("1200m", corev1.Pod{Spec: corev1.PodSpec{NodeSelector: map[string]string{"team": "a"}}}))
		}
		created := testutil.ToFloat64(metrics.NodesCreated.WithLabelValues(teamA.Name, "provisioning"))

		Expect(reconcile(ctx)).To(BeFalse())

		Expect(vpsieNodes(ctx, other.Name)).To(BeEmpty())
		vns := vpsieNodes(ctx, teamA.Name)
		// 3 x 1200m: one 4 vCPU node (0.04/h) beats three 2 vCPU ones (0.06/h).
		Expect(vns).To(HaveLen(1))
		vn := vns[0]
		Expect(vn.Name).To(HavePrefix(teamA.Name + "-"))
		Expect(vn.Spec.OfferingID).To(Equal("3"))
		Expect(vn.Spec.OfferingName).To(Equal("s-4vcpu-8gb"))
		Expect(vn.Spec.DatacenterID).To(Equal(fixtures.DatacenterID))
		Expect(vn.Labels).To(HaveKeyWithValue("team", "a"))
		Expect(vn.Labels).To(HaveKeyWithValue(v1alpha1.LabelNodeGroup, teamA.Name))
		Expect(vn.Labels).To(HaveKeyWithValue(v1alpha1.LabelOffering, "3"))
		Expect(vn.Labels).To(HaveKeyWithValue(v1alpha1.LabelInstanceType, "s-4vcpu-8gb"))
		Expect(vn.Labels).To(HaveKeyWithValue(v1alpha1.LabelZone, fixtures.DatacenterID))
		Expect(vn.Finalizers).To(ContainElement(v1alpha1.TerminationFinalizer))
		Expect(vn.Spec.Resources.Cpu().MilliValue()).To(Equal(int64(3900)))
		Expect(testutil.ToFloat64(metrics.NodesCreated.WithLabelValues(teamA.Name, "provisioning"))).To(Equal(created + 1))
		Expect(testutil.ToFloat64(metrics.PendingPods)).To(Equal(3.0))

		nominated := withReason(events(), corev1.EventTypeNormal, provisioning.EventNominated)
		Expect(nominated).To(HaveLen(len(pods)))
		for _, e := range nominated {
			Expect(e).To(ContainSubstring(vn.Name))
		}
		// The provisioner never talks to the cloud itself: the lifecycle controller launches.
		Expect(cp.CallCount("Create")).To(BeZero())
	})

	It("does not launch twice for pods whose VPSieNode is in flight", func(ctx context.Context) {
		ng := nodeGroup()
		for range 3 {
			pendingPod("1200m")
		}
		Expect(reconcile(ctx)).To(BeFalse())
		Expect(vpsieNodes(ctx, ng.Name)).To(HaveLen(1))
		first := events()

		// The model has not seen the new VPSieNode yet: wait rather than plan from a picture
		// that misses it.
		Expect(reconcile(ctx)).To(BeTrue())
		Expect(vpsieNodes(ctx, ng.Name)).To(HaveLen(1))

		feed(ctx)
		Expect(reconcile(ctx)).To(BeFalse())
		Expect(vpsieNodes(ctx, ng.Name)).To(HaveLen(1))
		// The pods were told about that VPSieNode already.
		Expect(withReason(first, corev1.EventTypeNormal, provisioning.EventNominated)).To(HaveLen(3))
		Expect(events()).To(BeEmpty())

		// One more pod that fits on the in-flight node: still nothing new, and it hears about it.
		pendingPod("200m")
		Expect(reconcile(ctx)).To(BeFalse())
		Expect(vpsieNodes(ctx, ng.Name)).To(HaveLen(1))
		evs := events()
		Expect(evs).To(HaveLen(1))
		Expect(evs[0]).To(And(HavePrefix("Normal "+provisioning.EventNominated), ContainSubstring(vpsieNodes(ctx, ng.Name)[0].Name)))
	})

	It("warns once about pods no NodeGroup can host, with the simulator's reason", func(ctx context.Context) {
		ng := nodeGroup()
		huge := pendingPod("100")

		Expect(reconcile(ctx)).To(BeFalse())
		Expect(vpsieNodes(ctx, ng.Name)).To(BeEmpty())
		evs := events()
		Expect(evs).To(HaveLen(1))
		snap := cluster.Snapshot()
		plan, err := simulator.Solve(simulator.Input{NodeGroups: snap.NodeGroups, Offerings: cp.Catalogue, Nodes: snap.Nodes, Pods: snap.Pods})
		Expect(err).NotTo(HaveOccurred())
		Expect(plan.Unschedulable).To(HaveLen(1))
		Expect(plan.Unschedulable[0].Reasons).NotTo(BeEmpty())
		Expect(evs[0]).To(Equal("Warning " + provisioning.EventFailedProvisioning + " No NodeGroup can host this pod: " +
			strings.Join(plan.Unschedulable[0].Reasons, "; ")))
		Expect(evs[0]).To(ContainSubstring(ng.Name))
		Expect(testutil.ToFloat64(metrics.UnschedulablePods)).To(Equal(1.0))

		Expect(reconcile(ctx)).To(BeFalse())
		Expect(events()).To(BeEmpty())

		// Once the pod is gone and comes back (same UID, pending again) it hears it again.
		cluster.Delete(huge)
		Expect(reconcile(ctx)).To(BeFalse())
		cluster.Update(huge)
		Expect(reconcile(ctx)).To(BeFalse())
		Expect(withReason(events(), corev1.EventTypeWarning, provisioning.EventFailedProvisioning)).To(HaveLen(1))
	})

	It("re-checks maxNodes against the VPSieNodes in the API server the model does not know", func(ctx context.Context) {
		ng := nodeGroup(v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MaxNodes: 2}})
		live := fixtures.VPSieNode(v1alpha1.VPSieNode{Spec: v1alpha1.VPSieNodeSpec{NodeGroup: ng.Name}})
		Expect(env.Client.Create(ctx, live)).To(Succeed())
		// Three pods that each need an 8 vCPU node: the model (no nodes) lets the plan have two.
		for range 3 {
			pendingPod("7")
		}

		Expect(reconcile(ctx)).To(BeFalse())

		vns := vpsieNodes(ctx, ng.Name)
		Expect(vns).To(HaveLen(2), "one live plus one new: never beyond maxNodes")
		evs := events()
		limit := withReason(evs, corev1.EventTypeWarning, provisioning.EventLimitReached)
		// One on the NodeGroup, one on the pod of the node not launched.
		Expect(limit).To(HaveLen(2))
		for _, e := range limit {
			Expect(e).To(ContainSubstring("maxNodes 2 reached"))
		}
		Expect(withReason(evs, corev1.EventTypeNormal, provisioning.EventNominated)).To(HaveLen(1))
		Expect(withReason(evs, corev1.EventTypeWarning, provisioning.EventFailedProvisioning)).To(HaveLen(1))
	})

	It("re-checks the cpu limit against the live VPSieNodes", func(ctx context.Context) {
		ng := nodeGroup(v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("6")}}})
		live := fixtures.VPSieNode(v1alpha1.VPSieNode{Spec: v1alpha1.VPSieNodeSpec{NodeGroup: ng.Name}})
		Expect(env.Client.Create(ctx, live)).To(Succeed())
		pendingPod("3")

		Expect(reconcile(ctx)).To(BeFalse())
		Expect(vpsieNodes(ctx, ng.Name)).To(HaveLen(1))
		limit := withReason(events(), corev1.EventTypeWarning, provisioning.EventLimitReached)
		Expect(limit).To(HaveLen(2))
		for _, e := range limit {
			Expect(e).To(ContainSubstring("cpu limit 6 reached"))
		}
	})

	It("creates nothing in dry-run mode and says what it would launch", func(ctx context.Context) {
		prov = newProvisioner(provisioning.Options{DryRun: true})
		ng := nodeGroup()
		pendingPod("1500m")
		created := testutil.ToFloat64(metrics.NodesCreated.WithLabelValues(ng.Name, "provisioning"))

		Expect(reconcile(ctx)).To(BeFalse())

		Expect(vpsieNodes(ctx, ng.Name)).To(BeEmpty())
		Expect(cluster.Synced()).To(BeTrue())
		dry := withReason(events(), corev1.EventTypeNormal, provisioning.EventDryRun)
		Expect(dry).To(ConsistOf(ContainSubstring("s-2vcpu-4gb")))
		Expect(testutil.ToFloat64(metrics.NodesCreated.WithLabelValues(ng.Name, "provisioning"))).To(Equal(created))
	})

	It("waits while the model misses a VPSieNode it launched", func(ctx context.Context) {
		ng := nodeGroup()
		pendingPod("1500m")
		cluster.MarkLaunched("launched-elsewhere")

		Expect(reconcile(ctx)).To(BeTrue())
		Expect(vpsieNodes(ctx, ng.Name)).To(BeEmpty())
		Expect(cp.CallCount("Offerings")).To(BeZero())
		Expect(events()).To(BeEmpty())

		// The launch never shows up: after a while the model stops waiting.
		clk.Step(2 * time.Minute)
		Expect(reconcile(ctx)).To(BeFalse())
		Expect(vpsieNodes(ctx, ng.Name)).To(HaveLen(1))
	})

	It("ignores pods the scheduler nominated a node for and gated pods", func(ctx context.Context) {
		ng := nodeGroup()
		nominated := pendingPod("1500m")
		nominated.Status.NominatedNodeName = "victim-node"
		cluster.Update(nominated)
		pendingPod("1500m", corev1.Pod{Spec: corev1.PodSpec{SchedulingGates: []corev1.PodSchedulingGate{{Name: "example.com/wait"}}}})

		Expect(reconcile(ctx)).To(BeFalse())
		Expect(vpsieNodes(ctx, ng.Name)).To(BeEmpty())
		Expect(events()).To(BeEmpty())
		Expect(testutil.ToFloat64(metrics.PendingPods)).To(BeZero())
	})

	It("defers the pods when the solve deadline passes, and plans them on the next pass", func(ctx context.Context) {
		ng := nodeGroup(v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MaxNodes: 1000}})
		anti := &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey:   corev1.LabelHostname,
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "anti"}},
			}},
		}}
		const n = 300
		for i := range n {
			pendingPod("100m", corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("anti-%03d", i), Labels: map[string]string{"app": "anti"}},
				Spec:       corev1.PodSpec{Affinity: anti},
			})
		}
		exceeded := testutil.ToFloat64(metrics.SolveDeadlineExceeded)

		prov = newProvisioner(provisioning.Options{SolveDeadline: time.Nanosecond})
		start := time.Now()
		Expect(reconcile(ctx)).To(BeTrue(), "deferred pods need another pass")
		Expect(time.Since(start)).To(BeNumerically("<", 30*time.Second))
		Expect(testutil.ToFloat64(metrics.SolveDeadlineExceeded)).To(Equal(exceeded + 1))
		// With no time at all the pass still launches a few nodes: every pass progresses.
		first := len(vpsieNodes(ctx, ng.Name))
		Expect(first).To(BeNumerically(">=", 1))
		Expect(first).To(BeNumerically("<=", 8))
		evs := events()
		Expect(withReason(evs, corev1.EventTypeWarning, provisioning.EventFailedProvisioning)).To(BeEmpty(), "deferred is not unschedulable")
		deferred := withReason(evs, corev1.EventTypeWarning, provisioning.EventSolveDeadline)
		Expect(deferred).NotTo(BeEmpty())
		Expect(len(deferred)).To(BeNumerically("<=", n))
		// Cut short again: the deferred pods were told already; the first nodes hold theirs.
		feed(ctx)
		Expect(reconcile(ctx)).To(BeTrue())
		Expect(testutil.ToFloat64(metrics.SolveDeadlineExceeded)).To(Equal(exceeded + 2))
		Expect(withReason(events(), corev1.EventTypeWarning, provisioning.EventSolveDeadline)).To(BeEmpty())
		Expect(len(vpsieNodes(ctx, ng.Name))).To(BeNumerically(">", first))

		feed(ctx)
		prov = newProvisioner(provisioning.Options{SolveDeadline: 10 * time.Minute})
		Expect(reconcile(ctx)).To(BeFalse())
		Expect(testutil.ToFloat64(metrics.SolveDeadlineExceeded)).To(Equal(exceeded + 2))
		Expect(vpsieNodes(ctx, ng.Name)).To(HaveLen(n), "one node per pod: required hostname anti-affinity")
	})

	It("returns the error when no catalogue can be listed", func(ctx context.Context) {
		ng := nodeGroup()
		pendingPod("1500m")
		cp.AlwaysErrors["Offerings"] = fmt.Errorf("vpsie is down")

		_, err := prov.Reconcile(ctx)
		Expect(err).To(MatchError(ContainSubstring("vpsie is down")))
		Expect(vpsieNodes(ctx, ng.Name)).To(BeEmpty())

		delete(cp.AlwaysErrors, "Offerings")
		Expect(reconcile(ctx)).To(BeFalse())
		Expect(vpsieNodes(ctx, ng.Name)).To(HaveLen(1))
	})

	It("runs batches from Start until the context ends", func(ctx context.Context) {
		ng := nodeGroup()
		pendingPod("1500m")
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- prov.Start(runCtx) }()

		// Start triggers a pass for what is already pending; the batch ends after the idle window.
		Eventually(func() int {
			clk.Step(100 * time.Millisecond)
			return len(vpsieNodes(ctx, ng.Name))
		}).Should(Equal(1))
		cancel()
		Eventually(done).Should(Receive(BeNil()))
	})
})
