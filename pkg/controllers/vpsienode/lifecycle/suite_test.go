package lifecycle_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/fake"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/vpsienode/lifecycle"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

var (
	env        *environment.Environment
	cp         *fake.CloudProvider
	clk        *clocktesting.FakeClock
	recorder   *record.FakeRecorder
	controller *lifecycle.Controller
)

const timeout = 15 * time.Minute

func TestLifecycle(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "VPSieNode lifecycle")
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
	// The fake clock starts at the real time because creationTimestamps come from the apiserver.
	clk = clocktesting.NewFakeClock(time.Now())
	recorder = record.NewFakeRecorder(1000)
	controller = lifecycle.NewController(env.Client, cp, clk, recorder, lifecycle.Options{RegistrationTimeout: timeout})
	DeferCleanup(func(ctx context.Context) {
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

// release removes finalizers and deletes the object.
func release(ctx context.Context, o client.Object) {
	GinkgoHelper()
	stored := o.DeepCopyObject().(client.Object)
	o.SetFinalizers(nil)
	Expect(client.IgnoreNotFound(env.Client.Patch(ctx, o, client.MergeFrom(stored)))).To(Succeed())
	Expect(client.IgnoreNotFound(env.Client.Delete(ctx, o))).To(Succeed())
}

// newVPSieNode creates a VPSieNode of fake offering 3 (4 vCPU), as the provisioner would.
func newVPSieNode(ctx context.Context, overrides ...v1alpha1.VPSieNode) *v1alpha1.VPSieNode {
	GinkgoHelper()
	vn := fixtures.VPSieNode(append([]v1alpha1.VPSieNode{{Spec: v1alpha1.VPSieNodeSpec{OfferingID: "3", OfferingName: "s-4vcpu-8gb"}}}, overrides...)...)
	vn.Labels[v1alpha1.LabelOffering] = vn.Spec.OfferingID
	Expect(env.Client.Create(ctx, vn)).To(Succeed())
	return vn
}

// reconcile reads the VPSieNode fresh (as the controller-runtime wrapper does) and reconciles it.
func reconcile(ctx context.Context, vn *v1alpha1.VPSieNode) (time.Duration, error) {
	GinkgoHelper()
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
	res, err := controller.Reconcile(ctx, vn)
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
	return res.RequeueAfter, err
}

func condition(vn *v1alpha1.VPSieNode, typ string) *metav1.Condition {
	return meta.FindStatusCondition(vn.Status.Conditions, typ)
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

func histogramCount(h *prometheus.HistogramVec, label string) uint64 {
	m := &dto.Metric{}
	Expect(h.WithLabelValues(label).(prometheus.Metric).Write(m)).To(Succeed())
	return m.GetHistogram().GetSampleCount()
}

var _ = Describe("launch", func() {
	It("launches the instance, copies its status and adds the finalizer", func(ctx context.Context) {
		vn := newVPSieNode(ctx)
		controllerutil.RemoveFinalizer(vn, v1alpha1.TerminationFinalizer)
		Expect(env.Client.Update(ctx, vn)).To(Succeed())
		before := histogramCount(metrics.LaunchDuration, vn.Spec.NodeGroup)

		after, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(10*time.Second), "polls for the Node")
		Expect(vn.Finalizers).To(ContainElement(v1alpha1.TerminationFinalizer))
		Expect(vn.Status.InstanceID).To(Equal("fake-1"))
		Expect(vn.Status.ProviderID).To(Equal("vpsie://fake-1"))
		Expect(vn.Status.Hostname).To(Equal(vn.Name))
		Expect(vn.Status.IP).NotTo(BeEmpty())
		Expect(vn.Status.HourlyPrice).To(Equal("0.04"))
		Expect(vn.Status.Capacity.Cpu().Value()).To(Equal(int64(4)))
		Expect(vn.Status.Allocatable).NotTo(BeEmpty())
		Expect(vn.Status.LaunchAttempts).To(Equal(int32(1)))
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeRegistering))
		Expect(condition(vn, v1alpha1.VPSieNodeLaunched)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(condition(vn, v1alpha1.VPSieNodeRegistered)).To(And(
			HaveField("Status", metav1.ConditionUnknown), HaveField("Reason", v1alpha1.ReasonAwaitingNode)))
		Expect(events()).To(ConsistOf(HavePrefix("Normal Launched")))
		Expect(histogramCount(metrics.LaunchDuration, vn.Spec.NodeGroup)).To(Equal(before + 1))

		// Launched once: later passes do not create a second VM.
		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(cp.CallCount("Create")).To(Equal(1))
	})

	It("requeues a pending launch after its RetryAfter without a warning", func(ctx context.Context) {
		vn := newVPSieNode(ctx)
		cp.InjectError("Create", cloudprovider.NewLaunchPendingError(30*time.Second, "worker being built"))
		after, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(30 * time.Second))
		Expect(vn.Status.InstanceID).To(BeEmpty())
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeLaunching))
		Expect(vn.Status.LastError).To(BeEmpty())
		Expect(condition(vn, v1alpha1.VPSieNodeLaunched)).To(And(
			HaveField("Status", metav1.ConditionUnknown), HaveField("Reason", v1alpha1.ReasonLaunching)))
		Expect(events()).To(BeEmpty())

		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(vn.Status.InstanceID).NotTo(BeEmpty())
		Expect(vn.Status.LaunchAttempts).To(Equal(int32(2)))
	})

	It("deletes the VPSieNode when the offering has no capacity", func(ctx context.Context) {
		vn := newVPSieNode(ctx, v1alpha1.VPSieNode{Spec: v1alpha1.VPSieNodeSpec{OfferingID: "105"}}) // not in the fake catalogue
		before := testutil.ToFloat64(metrics.NodesTerminated.WithLabelValues(vn.Spec.NodeGroup, lifecycle.TerminationReasonLaunchFailed))
		_, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(vn.DeletionTimestamp).NotTo(BeNil(), "deleted; the finalizer holds it for termination")
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeFailed))
		Expect(vn.Status.LastError).To(ContainSubstring("insufficient capacity"))
		Expect(condition(vn, v1alpha1.VPSieNodeLaunched)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonOfferingUnavailable)))
		Expect(events()).To(ConsistOf(HavePrefix("Warning OfferingUnavailable")))
		Expect(testutil.ToFloat64(metrics.NodesTerminated.WithLabelValues(vn.Spec.NodeGroup, lifecycle.TerminationReasonLaunchFailed))).To(Equal(before + 1))

		// Deleted objects are termination's: nothing more happens here.
		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(cp.CallCount("Create")).To(Equal(1))
	})

	It("reports other errors and backs off", func(ctx context.Context) {
		vn := newVPSieNode(ctx)
		cp.InjectError("Create", errors.New("vpsie answered 500"))
		cp.InjectError("Create", errors.New("vpsie answered 500 again"))
		after, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(5 * time.Second))
		Expect(vn.Status.LastError).To(Equal("vpsie answered 500"))
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeLaunching))
		Expect(condition(vn, v1alpha1.VPSieNodeLaunched)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonLaunchFailed)))
		Expect(events()).To(ConsistOf(HavePrefix("Warning LaunchFailed")))

		after, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(10 * time.Second))
		Expect(vn.DeletionTimestamp).To(BeNil())

		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(vn.Status.InstanceID).NotTo(BeEmpty())
		Expect(vn.Status.LastError).To(BeEmpty())
		Expect(vn.Status.LaunchAttempts).To(Equal(int32(3)))
	})
})

var _ = Describe("registration and initialization", func() {
	dedicated := v1alpha1.Taint{Key: "example.com/dedicated", Value: "batch", Effect: corev1.TaintEffectNoSchedule}
	startup := v1alpha1.Taint{Key: "example.com/agent-not-ready", Effect: corev1.TaintEffectNoExecute}

	It("applies labels, taints, owner and finalizer in one patch, then initializes", func(ctx context.Context) {
		vn := newVPSieNode(ctx, v1alpha1.VPSieNode{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "data"}},
			Spec:       v1alpha1.VPSieNodeSpec{Taints: []v1alpha1.Taint{dedicated}, StartupTaints: []v1alpha1.Taint{startup}},
		})
		_, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		node := createNode(ctx, fixtures.KubeletNode(vn.Status.ProviderID))

		patches := 0
		counting := countingClient{Client: env.Client, patches: &patches}
		controller = lifecycle.NewController(counting, cp, clk, recorder, lifecycle.Options{RegistrationTimeout: timeout})
		before := histogramCount(metrics.RegistrationDuration, vn.Spec.NodeGroup)
		after, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(10 * time.Second))
		Expect(patches).To(Equal(2), "one patch on the Node, one on the VPSieNode status")

		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
		Expect(node.Labels).To(HaveKeyWithValue("team", "data"))
		Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelNodeGroup, vn.Spec.NodeGroup))
		Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelOffering, "3"))
		Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelVPSieNode, vn.Name))
		Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelRegistered, "true"))
		Expect(node.Labels).NotTo(HaveKey(v1alpha1.LabelInitialized))
		Expect(node.Spec.Taints).To(ConsistOf(dedicated.ToCore(), startup.ToCore()))
		Expect(node.Finalizers).To(ConsistOf(v1alpha1.TerminationFinalizer))
		Expect(node.OwnerReferences).To(ConsistOf(And(
			HaveField("Kind", "VPSieNode"), HaveField("Name", vn.Name), HaveField("UID", vn.UID),
			HaveField("APIVersion", v1alpha1.GroupVersion.String()))))

		Expect(vn.Status.NodeName).To(Equal(node.Name))
		Expect(vn.Status.Allocatable.Cpu().MilliValue()).To(Equal(int64(3900)), "allocatable from the Node")
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeRegistering))
		Expect(condition(vn, v1alpha1.VPSieNodeRegistered)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(condition(vn, v1alpha1.VPSieNodeInitialized)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonStartupTaintsPresent)))
		Expect(histogramCount(metrics.RegistrationDuration, vn.Spec.NodeGroup)).To(Equal(before + 1))

		// The node's agent removes the startup taint.
		stored := node.DeepCopy()
		node.Spec.Taints = []corev1.Taint{dedicated.ToCore()}
		Expect(env.Client.Patch(ctx, node, client.MergeFrom(stored))).To(Succeed())
		before = histogramCount(metrics.InitializationDuration, vn.Spec.NodeGroup)
		after, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(BeZero())
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
		Expect(condition(vn, v1alpha1.VPSieNodeInitialized)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
		Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelInitialized, "true"))
		Expect(node.Spec.Taints).To(ConsistOf(dedicated.ToCore()), "startup taints are not put back")
		Expect(histogramCount(metrics.InitializationDuration, vn.Spec.NodeGroup)).To(Equal(before + 1))
		Expect(events()).To(ConsistOf(HavePrefix("Normal Launched"), HavePrefix("Normal Registered"), HavePrefix("Normal Initialized")))

		// Steady state: no further writes.
		patches = 0
		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(patches).To(BeZero())
	})

	It("waits for a Node that is not Ready", func(ctx context.Context) {
		vn := newVPSieNode(ctx)
		_, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		node := fixtures.KubeletNode(vn.Status.ProviderID)
		node.Status.Conditions[0].Status = corev1.ConditionFalse
		createNode(ctx, node)
		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(condition(vn, v1alpha1.VPSieNodeInitialized)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonNodeNotReady)))
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeRegistering))
	})

	It("registers an emulated worker while the cloud provider's uninitialized taint is still on", func(ctx context.Context) {
		srv, err := emulator.New(emulator.Config{
			Offerings: []emulator.Offering{{ID: 3, Name: "s-4vcpu-8gb", Category: "standard", CPU: 4, RAM: 8192, Disk: 100, Price: 29.2}},
			Tokens:    []string{"lifecycle-token"}, KubeClient: env.KubeClient, Clock: clk, HostnamePrefix: "lifecycle-w",
			Switches: emulator.Switches{RegisterUninitialized: true, UninitializedDelay: emulator.Duration(30 * time.Second)},
		})
		Expect(err).NotTo(HaveOccurred())
		ts := httptest.NewServer(srv.Handler())
		DeferCleanup(ts.Close)
		identifier := addEmulatedWorker(ts.URL, "lifecycle-token")

		// The VM was launched (the provider's Create is tested with the emulator elsewhere).
		vn := newVPSieNode(ctx, v1alpha1.VPSieNode{Spec: v1alpha1.VPSieNodeSpec{Taints: []v1alpha1.Taint{dedicated}}})
		vn.Status.InstanceID = identifier
		vn.Status.ProviderID = cloudprovider.ProviderID(identifier)
		Expect(env.Client.Status().Update(ctx, vn)).To(Succeed())

		Expect(srv.Reconcile(ctx)).To(Succeed())
		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		node := &corev1.Node{}
		Expect(env.Client.Get(ctx, client.ObjectKey{Name: vn.Status.NodeName}, node)).To(Succeed())
		uninitialized := emulator.UninitializedTaint()
		Expect(node.Spec.Taints).To(ContainElements(uninitialized, dedicated.ToCore()), "our taint is on before the node can take a pod")
		Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelRegistered, "true"))
		Expect(condition(vn, v1alpha1.VPSieNodeInitialized)).To(HaveField("Reason", v1alpha1.ReasonNodeNotReady))

		// The node lifecycle controller sees it Ready, the cloud controller manager initialises
		// it; our taint survives.
		removeTaint(ctx, node, corev1.TaintNodeNotReady)
		clk.Step(30 * time.Second)
		Expect(srv.Reconcile(ctx)).To(Succeed())
		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
		Expect(node.Spec.Taints).To(ConsistOf(dedicated.ToCore()))
		Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelInitialized, "true"))
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
	})
})

var _ = Describe("liveness", func() {
	It("deletes a VPSieNode whose Node does not register in time", func(ctx context.Context) {
		vn := newVPSieNode(ctx)
		after, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(10 * time.Second))
		before := testutil.ToFloat64(metrics.NodesTerminated.WithLabelValues(vn.Spec.NodeGroup, lifecycle.TerminationReasonRegistrationTimeout))

		clk.SetTime(vn.CreationTimestamp.Add(timeout - 5*time.Second))
		after, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(after).To(Equal(5*time.Second), "wakes up at the timeout")
		Expect(vn.DeletionTimestamp).To(BeNil())

		clk.Step(5 * time.Second)
		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(vn.DeletionTimestamp).NotTo(BeNil())
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeFailed))
		Expect(condition(vn, v1alpha1.VPSieNodeRegistered)).To(And(
			HaveField("Status", metav1.ConditionFalse), HaveField("Reason", v1alpha1.ReasonRegistrationTimeout)))
		Expect(events()).To(ContainElement(HavePrefix("Warning RegistrationTimeout")))
		Expect(testutil.ToFloat64(metrics.NodesTerminated.WithLabelValues(vn.Spec.NodeGroup, lifecycle.TerminationReasonRegistrationTimeout))).To(Equal(before + 1))
	})

	It("also times out a launch that stays pending", func(ctx context.Context) {
		vn := newVPSieNode(ctx)
		cp.AlwaysErrors["Create"] = cloudprovider.NewLaunchPendingError(time.Minute, "worker being built")
		clk.SetTime(vn.CreationTimestamp.Add(timeout))
		_, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(vn.DeletionTimestamp).NotTo(BeNil())
	})

	It("keeps a registered VPSieNode past the timeout", func(ctx context.Context) {
		vn := newVPSieNode(ctx)
		_, err := reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		createNode(ctx, fixtures.KubeletNode(vn.Status.ProviderID))
		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		clk.SetTime(vn.CreationTimestamp.Add(2 * timeout))
		_, err = reconcile(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(vn.DeletionTimestamp).To(BeNil())
		Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady))
	})
})

// countingClient counts patches (of objects and of their status).
type countingClient struct {
	client.Client
	patches *int
}

func (c countingClient) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	*c.patches++
	return c.Client.Patch(ctx, obj, patch, opts...)
}

func (c countingClient) Status() client.SubResourceWriter {
	return countingStatus{SubResourceWriter: c.Client.Status(), patches: c.patches}
}

type countingStatus struct {
	client.SubResourceWriter
	patches *int
}

func (c countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	*c.patches++
	return c.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

// addEmulatedWorker creates a node group of size 3 and adds a worker to it over the emulator's
// HTTP API; it returns the worker's identifier.
func addEmulatedWorker(url, token string) string {
	GinkgoHelper()
	call := func(method, path string, body any, out any) {
		b, err := json.Marshal(body)
		Expect(err).NotTo(HaveOccurred())
		req, err := http.NewRequest(method, url+path, bytes.NewReader(b))
		Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Vpsie-Auth", token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		var envl struct {
			Message string          `json:"message"`
			Data    json.RawMessage `json:"data"`
		}
		Expect(json.NewDecoder(resp.Body).Decode(&envl)).To(Succeed())
		Expect(resp.StatusCode).To(Equal(http.StatusOK), "%s %s: %s", method, path, envl.Message)
		if out != nil {
			Expect(json.Unmarshal(envl.Data, out)).To(Succeed())
		}
	}
	cluster := emulator.DefaultClusterID
	call("POST", "/apps/v2/k8s/cluster/add/group", map[string]any{"clusterIdentifier": cluster, "groupName": "lifecycle", "KubeSizeID": 3}, nil)
	var groups []struct {
		ID   int    `json:"id"`
		Name string `json:"group_name"`
	}
	call("GET", "/apps/v2/k8s/node/groups/byClusterId/"+cluster, nil, &groups)
	Expect(groups).NotTo(BeEmpty())
	var w struct {
		Identifier string `json:"identifier"`
	}
	call("POST", fmt.Sprintf("/apps/v2/k8s/cluster/byId/%s/add/slave/group/%d", cluster, groups[0].ID), nil, &w)
	Expect(strings.TrimSpace(w.Identifier)).NotTo(BeEmpty())
	return w.Identifier
}

// createNode creates a kubelet-registered Node and, as kube-controller-manager's node lifecycle
// controller would for a Ready node, drops the not-ready taint the apiserver's NodeTaint
// admission adds on create (envtest runs no controller manager).
func createNode(ctx context.Context, node *corev1.Node) *corev1.Node {
	GinkgoHelper()
	Expect(env.Client.Create(ctx, node)).To(Succeed())
	removeTaint(ctx, node, corev1.TaintNodeNotReady)
	return node
}

func removeTaint(ctx context.Context, node *corev1.Node, key string) {
	GinkgoHelper()
	// A running controller may patch the Node meanwhile.
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return err
		}
		var kept []corev1.Taint
		for _, t := range node.Spec.Taints {
			if t.Key != key {
				kept = append(kept, t)
			}
		}
		node.Spec.Taints = kept
		return env.Client.Update(ctx, node)
	})).To(Succeed())
}

var _ = Describe("Register", func() {
	It("launches and registers under a manager, mapping Node events by providerID", func(ctx context.Context) {
		mgr, err := manager.New(env.Config, manager.Options{
			Scheme:                 environment.Scheme,
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		})
		Expect(err).NotTo(HaveOccurred())
		c := lifecycle.NewController(mgr.GetClient(), cp, clk, recorder, lifecycle.Options{RegistrationTimeout: timeout})
		Expect(c.Register(ctx, mgr)).To(Succeed())
		Expect(lifecycle.IndexNodeProviderID(ctx, mgr)).To(Succeed(), "a second registration of the index is tolerated")
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() { done <- mgr.Start(runCtx) }()
		DeferCleanup(func() {
			cancel()
			Eventually(done).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
		})

		vn := newVPSieNode(ctx)
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
			g.Expect(vn.Status.ProviderID).NotTo(BeEmpty())
		}).WithTimeout(30 * time.Second).Should(Succeed())
		node := createNode(ctx, fixtures.KubeletNode(vn.Status.ProviderID))
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), vn)).To(Succeed())
			g.Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			g.Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady), "%v %v", vn.Status.Conditions, node.Spec.Taints)
			g.Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelVPSieNode, vn.Name))
		}).WithTimeout(5*time.Second).Should(Succeed(), "the Node event, not the 10s poll, triggers registration")
	})
})
