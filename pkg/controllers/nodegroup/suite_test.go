package nodegroup_test

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
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/fake"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/nodegroup"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

var (
	env        *environment.Environment
	cp         *fake.CloudProvider
	clk        *clocktesting.FakeClock
	recorder   *record.FakeRecorder
	controller *nodegroup.Controller
)

// testFinalizer keeps a VPSieNode terminating, standing in for the termination controller.
const testFinalizer = "test.vpsie.com/hold"

func TestNodeGroup(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "NodeGroup")
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
	controller = nodegroup.NewController(env.Client, cp, clk, recorder, nodegroup.Options{})
})

// createNodeGroup creates the NodeGroup and removes it (and its nodes) after the test.
func createNodeGroup(ctx context.Context, overrides ...v1alpha1.NodeGroup) *v1alpha1.NodeGroup {
	ng := fixtures.NodeGroup(overrides...)
	Expect(env.Client.Create(ctx, ng)).To(Succeed())
	DeferCleanup(func(ctx context.Context) {
		deleteAll(ctx, ng.Name)
		current := &v1alpha1.NodeGroup{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(ng), current); err == nil {
			controllerutil.RemoveFinalizer(current, nodegroup.Finalizer)
			Expect(client.IgnoreNotFound(env.Client.Update(ctx, current))).To(Succeed())
			Expect(client.IgnoreNotFound(env.Client.Delete(ctx, current))).To(Succeed())
		}
	})
	return ng
}

// deleteAll removes every VPSieNode of the group, finalizers included.
func deleteAll(ctx context.Context, group string) {
	list := &v1alpha1.VPSieNodeList{}
	Expect(env.Client.List(ctx, list)).To(Succeed())
	for i := range list.Items {
		vn := &list.Items[i]
		if vn.Spec.NodeGroup != group {
			continue
		}
		vn.Finalizers = nil
		Expect(client.IgnoreNotFound(env.Client.Update(ctx, vn))).To(Succeed())
		Expect(client.IgnoreNotFound(env.Client.Delete(ctx, vn))).To(Succeed())
	}
}

// createVPSieNode creates a VPSieNode of the group with the offering, then writes status.
func createVPSieNode(ctx context.Context, group, offering string, status *v1alpha1.VPSieNodeStatus, finalizers ...string) *v1alpha1.VPSieNode {
	vn := fixtures.VPSieNode(v1alpha1.VPSieNode{Spec: v1alpha1.VPSieNodeSpec{NodeGroup: group, OfferingID: offering}})
	vn.Finalizers = finalizers
	Expect(env.Client.Create(ctx, vn)).To(Succeed())
	DeferCleanup(func(ctx context.Context) { deleteAll(ctx, group) })
	if status != nil {
		vn.Status = *status
		Expect(env.Client.Status().Update(ctx, vn)).To(Succeed())
	}
	return vn
}

func initialized() []metav1.Condition {
	return []metav1.Condition{{Type: v1alpha1.VPSieNodeInitialized, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonInitialized, LastTransitionTime: metav1.Now()}}
}

// reconcile runs the controller on the stored NodeGroup and returns it as stored afterwards.
func reconcile(ctx context.Context, ng *v1alpha1.NodeGroup) *v1alpha1.NodeGroup {
	GinkgoHelper()
	current := get(ctx, ng)
	_, err := controller.Reconcile(ctx, current)
	Expect(err).NotTo(HaveOccurred())
	return get(ctx, ng)
}

func get(ctx context.Context, ng *v1alpha1.NodeGroup) *v1alpha1.NodeGroup {
	GinkgoHelper()
	current := &v1alpha1.NodeGroup{}
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(ng), current)).To(Succeed())
	return current
}

func nodesOf(ctx context.Context, group string) []v1alpha1.VPSieNode {
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

func condition(ng *v1alpha1.NodeGroup, t string) metav1.Condition {
	GinkgoHelper()
	c := meta.FindStatusCondition(ng.Status.Conditions, t)
	Expect(c).NotTo(BeNil(), t)
	return *c
}

// events drains the recorder.
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

var _ = Describe("status", func() {
	It("counts the group's nodes that are not being deleted and sums their capacity", func(ctx context.Context) {
		ng := createNodeGroup(ctx)
		// Observed capacity wins, then the offering's (fake offering 2: 2 cpu, 4Gi), then spec.resources.
		createVPSieNode(ctx, ng.Name, "2", &v1alpha1.VPSieNodeStatus{
			Phase:      v1alpha1.VPSieNodeReady,
			Capacity:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4000Mi")},
			Conditions: initialized(),
		})
		createVPSieNode(ctx, ng.Name, "2", &v1alpha1.VPSieNodeStatus{Phase: v1alpha1.VPSieNodeLaunching})
		createVPSieNode(ctx, ng.Name, "105", nil) // not in the catalogue: spec.resources 3900m / 7000Mi
		deleting := createVPSieNode(ctx, ng.Name, "4", &v1alpha1.VPSieNodeStatus{Phase: v1alpha1.VPSieNodeReady, Conditions: initialized()}, testFinalizer)
		Expect(env.Client.Delete(ctx, deleting)).To(Succeed())
		createVPSieNode(ctx, fixtures.RandomName("other"), "2", nil)

		ng = reconcile(ctx, ng)
		Expect(ng.Finalizers).To(ContainElement(nodegroup.Finalizer))
		Expect(ng.Status.Nodes).To(BeEquivalentTo(3))
		Expect(ng.Status.ReadyNodes).To(BeEquivalentTo(1))
		Expect(ng.Status.ObservedGeneration).To(Equal(ng.Generation))
		cpu, memory := ng.Status.Resources[corev1.ResourceCPU], ng.Status.Resources[corev1.ResourceMemory]
		Expect(cpu.String()).To(Equal("7900m"))
		Expect(memory.Cmp(resource.MustParse("15096Mi"))).To(BeZero(), memory.String())

		Expect(testutil.ToFloat64(metrics.NodeGroupUsage.WithLabelValues(ng.Name, "cpu"))).To(Equal(7.9))
		Expect(testutil.ToFloat64(metrics.NodeGroupUsage.WithLabelValues(ng.Name, "nodes"))).To(Equal(3.0))
		Expect(testutil.ToFloat64(metrics.NodeGroupLimit.WithLabelValues(ng.Name, "nodes"))).To(Equal(10.0))
		Expect(testutil.ToFloat64(metrics.VPSieNodes.WithLabelValues(ng.Name, "Ready"))).To(Equal(1.0))
		Expect(testutil.ToFloat64(metrics.VPSieNodes.WithLabelValues(ng.Name, "Launching"))).To(Equal(1.0))
		Expect(testutil.ToFloat64(metrics.VPSieNodes.WithLabelValues(ng.Name, "Pending"))).To(Equal(1.0))
		Expect(testutil.ToFloat64(metrics.VPSieNodes.WithLabelValues(ng.Name, "Terminating"))).To(Equal(1.0))
	})

	It("is Ready with offerings resolved and within limits", func(ctx context.Context) {
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("16"), corev1.ResourceMemory: resource.MustParse("64Gi")},
		}})
		ng = reconcile(ctx, ng)
		resolved := condition(ng, v1alpha1.NodeGroupOfferingsResolved)
		Expect(resolved.Status).To(Equal(metav1.ConditionTrue))
		Expect(resolved.Reason).To(Equal(v1alpha1.ReasonOfferingsResolved))
		Expect(resolved.Message).To(ContainSubstring("4 of 4 offerings allowed, cheapest s-1vcpu-2gb (1)"))
		limits := condition(ng, v1alpha1.NodeGroupLimitsExceeded)
		Expect(limits.Status).To(Equal(metav1.ConditionFalse))
		Expect(limits.Reason).To(Equal(v1alpha1.ReasonWithinLimits))
		ready := condition(ng, v1alpha1.NodeGroupReady)
		Expect(ready.Status).To(Equal(metav1.ConditionTrue))
		Expect(ready.ObservedGeneration).To(Equal(ng.Generation))
		Expect(testutil.ToFloat64(metrics.NodeGroupLimit.WithLabelValues(ng.Name, "cpu"))).To(Equal(16.0))
		Expect(testutil.ToFloat64(metrics.NodeGroupLimit.WithLabelValues(ng.Name, "memory"))).To(Equal(float64(64 << 30)))
	})

	It("says why no offering matches", func(ctx context.Context) {
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{OfferingIDs: []string{"99"}}})
		ng = reconcile(ctx, ng)
		resolved := condition(ng, v1alpha1.NodeGroupOfferingsResolved)
		Expect(resolved.Status).To(Equal(metav1.ConditionFalse))
		Expect(resolved.Reason).To(Equal(v1alpha1.ReasonNoMatchingOfferings))
		Expect(resolved.Message).To(ContainSubstring("none of the 4 offerings of datacenter dc-test is allowed"))
		Expect(resolved.Message).To(ContainSubstring("s-1vcpu-2gb not in offeringIDs"))
		ready := condition(ng, v1alpha1.NodeGroupReady)
		Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		Expect(ready.Reason).To(Equal(v1alpha1.ReasonNoMatchingOfferings))
		Expect(events()).To(ConsistOf(ContainSubstring(v1alpha1.ReasonNoMatchingOfferings)))

		reconcile(ctx, ng)
		Expect(events()).To(BeEmpty(), "announced once, not every resync")
	})

	It("summarises a long list of exclusions", func(ctx context.Context) {
		catalogue := fake.DefaultCatalogue()
		for i := range catalogue {
			catalogue[i].Category = "cpu-optimized"
		}
		cp.Catalogue = append(catalogue, fake.DefaultCatalogue()[:3]...)
		for i := 4; i < 7; i++ {
			cp.Catalogue[i].ID, cp.Catalogue[i].Name = cp.Catalogue[i].ID+"0", cp.Catalogue[i].Name+"-b"
			cp.Catalogue[i].Available = false
		}
		ng := reconcile(ctx, createNodeGroup(ctx))
		resolved := condition(ng, v1alpha1.NodeGroupOfferingsResolved)
		Expect(resolved.Reason).To(Equal(v1alpha1.ReasonNoMatchingOfferings))
		Expect(resolved.Message).To(HaveSuffix("; and 2 more"))
	})

	It("reports the catalogue unavailable", func(ctx context.Context) {
		cp.AlwaysErrors["Offerings"] = errors.New("vpsie is down")
		ng := reconcile(ctx, createNodeGroup(ctx))
		resolved := condition(ng, v1alpha1.NodeGroupOfferingsResolved)
		Expect(resolved.Status).To(Equal(metav1.ConditionFalse))
		Expect(resolved.Reason).To(Equal(v1alpha1.ReasonCatalogUnavailable))
		Expect(resolved.Message).To(ContainSubstring("vpsie is down"))
		ready := condition(ng, v1alpha1.NodeGroupReady)
		Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		Expect(ready.Reason).To(Equal(v1alpha1.ReasonCatalogUnavailable))
		Expect(events()).To(ConsistOf(ContainSubstring(v1alpha1.ReasonCatalogUnavailable)))

		delete(cp.AlwaysErrors, "Offerings")
		ng = reconcile(ctx, ng)
		Expect(condition(ng, v1alpha1.NodeGroupReady).Status).To(Equal(metav1.ConditionTrue))
	})

	It("reports maxNodes reached", func(ctx context.Context) {
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MaxNodes: 1}})
		createVPSieNode(ctx, ng.Name, "1", nil)
		ng = reconcile(ctx, ng)
		limits := condition(ng, v1alpha1.NodeGroupLimitsExceeded)
		Expect(limits.Status).To(Equal(metav1.ConditionTrue))
		Expect(limits.Reason).To(Equal(v1alpha1.ReasonMaxNodesReached))
		Expect(limits.Message).To(Equal("1 nodes, maxNodes is 1"))
		Expect(condition(ng, v1alpha1.NodeGroupReady).Status).To(Equal(metav1.ConditionTrue), "a full group is still healthy")
	})

	It("reports a resource limit reached", func(ctx context.Context) {
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		}})
		createVPSieNode(ctx, ng.Name, "2", nil)
		ng = reconcile(ctx, ng)
		limits := condition(ng, v1alpha1.NodeGroupLimitsExceeded)
		Expect(limits.Status).To(Equal(metav1.ConditionTrue))
		Expect(limits.Reason).To(Equal(v1alpha1.ReasonResourceLimitReached))
		Expect(limits.Message).To(ContainSubstring("cpu in use 2 reaches limit 2"))
	})

	It("rejects a budget schedule cron cannot parse, once", func(ctx context.Context) {
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{Disruption: v1alpha1.Disruption{
			Budgets: []v1alpha1.Budget{
				{Nodes: "1", Schedule: ptr.To("@daily"), Duration: &metav1.Duration{Duration: time.Hour}},
				{Nodes: "0", Schedule: ptr.To("61 * * * *"), Duration: &metav1.Duration{Duration: time.Hour}},
			},
		}}})
		ng = reconcile(ctx, ng)
		ready := condition(ng, v1alpha1.NodeGroupReady)
		Expect(ready.Status).To(Equal(metav1.ConditionFalse))
		Expect(ready.Reason).To(Equal(v1alpha1.ReasonInvalidBudgetSchedule))
		Expect(ready.Message).To(ContainSubstring(`budget 1 schedule "61 * * * *"`))
		Expect(ready.Message).NotTo(ContainSubstring("budget 0"))
		Expect(events()).To(ConsistOf(ContainSubstring(nodegroup.EventInvalidBudgetSchedule)))

		ng = reconcile(ctx, ng)
		Expect(events()).To(BeEmpty())

		ng.Spec.Disruption.Budgets[1].Schedule = ptr.To("0 9 * * 1-5")
		Expect(env.Client.Update(ctx, ng)).To(Succeed())
		ng = reconcile(ctx, ng)
		Expect(condition(ng, v1alpha1.NodeGroupReady).Status).To(Equal(metav1.ConditionTrue))
		Expect(ng.Status.ObservedGeneration).To(Equal(ng.Generation))
	})
})

var _ = Describe("minNodes", func() {
	It("creates the missing nodes on the cheapest allowed offering, once", func(ctx context.Context) {
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MinNodes: 3, OfferingIDs: []string{"2", "3"}}})
		createVPSieNode(ctx, ng.Name, "3", nil)
		before := testutil.ToFloat64(metrics.NodesCreated.WithLabelValues(ng.Name, "min_nodes"))

		ng = reconcile(ctx, ng)
		nodes := nodesOf(ctx, ng.Name)
		Expect(nodes).To(HaveLen(3))
		offerings := map[string]int{}
		for _, vn := range nodes {
			offerings[vn.Spec.OfferingID]++
		}
		Expect(offerings).To(Equal(map[string]int{"2": 2, "3": 1}))
		Expect(ng.Status.Nodes).To(BeEquivalentTo(3))
		Expect(testutil.ToFloat64(metrics.NodesCreated.WithLabelValues(ng.Name, "min_nodes")) - before).To(Equal(2.0))
		Expect(events()).To(HaveEach(ContainSubstring(nodegroup.EventMinNodesCreated)))

		reconcile(ctx, ng)
		Expect(nodesOf(ctx, ng.Name)).To(HaveLen(3))
	})

	It("does not count nodes being deleted towards minNodes", func(ctx context.Context) {
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MinNodes: 1}})
		vn := createVPSieNode(ctx, ng.Name, "1", nil, testFinalizer)
		Expect(env.Client.Delete(ctx, vn)).To(Succeed())
		ng = reconcile(ctx, ng)
		Expect(nodesOf(ctx, ng.Name)).To(HaveLen(2))
		Expect(ng.Status.Nodes).To(BeEquivalentTo(1))
	})

	It("stops at the group's limits", func(ctx context.Context) {
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{
			MinNodes: 3,
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		}})
		ng = reconcile(ctx, ng)
		Expect(nodesOf(ctx, ng.Name)).To(HaveLen(2), "offering 1 has 1 cpu: two fit the limit of 2")
		Expect(events()).To(ContainElement(And(ContainSubstring(nodegroup.EventMinNodesBlocked), ContainSubstring("cpu would be 3, over limit 2"))))
		Expect(condition(ng, v1alpha1.NodeGroupLimitsExceeded).Reason).To(Equal(v1alpha1.ReasonResourceLimitReached))
	})

	It("creates nothing without an allowed offering", func(ctx context.Context) {
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MinNodes: 1, MaxHourlyPrice: "0.001"}})
		reconcile(ctx, ng)
		Expect(nodesOf(ctx, ng.Name)).To(BeEmpty())
		Expect(events()).To(ContainElement(ContainSubstring("no offering is allowed")))
	})

	It("only reports in dry run", func(ctx context.Context) {
		controller = nodegroup.NewController(env.Client, cp, clk, recorder, nodegroup.Options{DryRun: true})
		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MinNodes: 2}})
		reconcile(ctx, ng)
		Expect(nodesOf(ctx, ng.Name)).To(BeEmpty())
		Expect(events()).To(ConsistOf(And(ContainSubstring(nodegroup.EventMinNodesDryRun), ContainSubstring("would create 2 VPSieNode(s) of offering s-1vcpu-2gb"))))
	})
})

var _ = Describe("deletion", func() {
	It("deletes the group's nodes and lets the NodeGroup go once they are gone", func(ctx context.Context) {
		ng := reconcile(ctx, createNodeGroup(ctx))
		plain := createVPSieNode(ctx, ng.Name, "1", nil)
		held := createVPSieNode(ctx, ng.Name, "1", nil, testFinalizer)
		other := createVPSieNode(ctx, fixtures.RandomName("other"), "1", nil)
		ng = reconcile(ctx, ng)
		Expect(testutil.ToFloat64(metrics.NodeGroupUsage.WithLabelValues(ng.Name, "nodes"))).To(Equal(2.0))

		Expect(env.Client.Delete(ctx, ng)).To(Succeed())
		ng = reconcile(ctx, ng)
		Expect(ng.Finalizers).To(ContainElement(nodegroup.Finalizer), "held until its nodes terminate")
		Expect(apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(plain), plain))).To(BeTrue())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(held), held)).To(Succeed())
		Expect(held.DeletionTimestamp.IsZero()).To(BeFalse())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(other), other)).To(Succeed())
		Expect(other.DeletionTimestamp.IsZero()).To(BeTrue(), "another group's node is left alone")

		held.Finalizers = nil
		Expect(env.Client.Update(ctx, held)).To(Succeed())
		current := get(ctx, ng)
		_, err := controller.Reconcile(ctx, current)
		Expect(err).NotTo(HaveOccurred())
		Expect(apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(ng), current))).To(BeTrue())
		Expect(metrics.NodeGroupUsage.DeleteLabelValues(ng.Name, "nodes")).To(BeFalse(), "series removed with the group")
		Expect(metrics.VPSieNodes.DeleteLabelValues(ng.Name, "Pending")).To(BeFalse())
	})

	It("deletes the nodes of a NodeGroup that is gone, once they are not brand new", func(ctx context.Context) {
		group := fixtures.RandomName("gone")
		vn := createVPSieNode(ctx, group, "1", nil)
		metrics.NodeGroupUsage.WithLabelValues(group, "nodes").Set(1)

		// Informers of two kinds are not ordered: a new node may be seen before its new group.
		result, err := controller.ReconcileRequest(ctx, group)
		Expect(err).NotTo(HaveOccurred())
		Expect(result.RequeueAfter).To(BeNumerically(">", 0), "comes back for the young node")
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
		Expect(vn.DeletionTimestamp.IsZero()).To(BeTrue())
		Expect(metrics.NodeGroupUsage.DeleteLabelValues(group, "nodes")).To(BeFalse(), "series of a gone group removed")

		clk.Step(2 * time.Minute)
		result, err = controller.ReconcileRequest(ctx, group)
		Expect(err).NotTo(HaveOccurred())
		Expect(result.RequeueAfter).To(BeZero())
		Expect(apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn))).To(BeTrue())
		Expect(events()).To(ContainElement(ContainSubstring(nodegroup.EventDeletingVPSieNode)))
	})
})

var _ = Describe("Register", func() {
	It("reconciles NodeGroups and the VPSieNodes of them under a manager", func(ctx context.Context) {
		mgr, err := manager.New(env.Config, manager.Options{
			Scheme:                 environment.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		c := nodegroup.NewController(mgr.GetClient(), cp, clk, recorder, nodegroup.Options{})
		Expect(c.Register(ctx, mgr)).To(Succeed())
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- mgr.Start(runCtx) }()
		DeferCleanup(func() {
			cancel()
			Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
		})

		ng := createNodeGroup(ctx, v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{MinNodes: 2}})
		Eventually(func(g Gomega) {
			g.Expect(nodesOf(ctx, ng.Name)).To(HaveLen(2))
			g.Expect(get(ctx, ng).Status.Nodes).To(BeEquivalentTo(2))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Consistently(func() []v1alpha1.VPSieNode { return nodesOf(ctx, ng.Name) }).WithTimeout(2*time.Second).Should(HaveLen(2), "the informer lag does not double minNodes")

		// A node becoming initialized is a VPSieNode event, mapped to its group.
		vn := nodesOf(ctx, ng.Name)[0]
		vn.Status.Phase = v1alpha1.VPSieNodeReady
		vn.Status.Conditions = initialized()
		Expect(env.Client.Status().Update(ctx, &vn)).To(Succeed())
		Eventually(func() int32 { return get(ctx, ng).Status.ReadyNodes }).WithTimeout(30 * time.Second).Should(BeEquivalentTo(1))
	})
})
