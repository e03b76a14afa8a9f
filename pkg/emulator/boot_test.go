package emulator

import (
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestNodeResourcesFromSize(t *testing.T) {
	g := NewWithT(t)
	// s-2vcpu-4gb: 2 cpu, 4096 MiB, 80 GB.
	size := testOfferings[1]
	capacity := NodeCapacity(size)
	g.Expect(capacity.Cpu().MilliValue()).To(Equal(int64(2000)))
	g.Expect(capacity.Memory().Value()).To(Equal(int64(4294967296)))
	g.Expect(capacity.Pods().Value()).To(Equal(int64(110)))
	g.Expect(capacity.StorageEphemeral().Value()).To(Equal(int64(80 * 1073741824)))

	alloc := NodeAllocatable(size)
	g.Expect(alloc.Cpu().MilliValue()).To(Equal(int64(1900)))
	// 4294967296 - 256Mi (268435456) - 5% (214748364) - 100Mi (104857600)
	g.Expect(alloc.Memory().Value()).To(Equal(int64(3706925876)))
	g.Expect(alloc.Pods().Value()).To(Equal(int64(110)))
	g.Expect(alloc.StorageEphemeral().Value()).To(Equal(int64(80 * 1073741824)))

	// Sizes smaller than the reservation never go negative.
	tiny := NodeAllocatable(Offering{ID: 1, Name: "t", CPU: 1, RAM: 256, Disk: 1})
	g.Expect(tiny.Memory().Value()).To(Equal(int64(0)))
}

func newBootHarness(t *testing.T, kube *fake.Clientset, mutate ...func(*Config)) *harness {
	return newHarness(t, append([]func(*Config){func(c *Config) {
		c.KubeClient = kube
		c.Switches.BootDelay = Duration(30 * time.Second)
	}}, mutate...)...)
}

func getNode(t *testing.T, kube *fake.Clientset, name string) (*corev1.Node, error) {
	return kube.CoreV1().Nodes().Get(t.Context(), name, metav1.GetOptions{})
}

func TestWorkerBootCreatesNodeAfterDelay(t *testing.T) {
	kube := fake.NewClientset()
	h := newBootHarness(t, kube)
	g := NewWithT(t)
	w := h.addWorker(testCluster, h.createGroup(testCluster, "g", 104))

	h.clock.Step(29 * time.Second)
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	g.Expect(h.slaves(testCluster)[0].Status).To(Equal(StatusProvisioning))
	_, err := getNode(t, kube, w.Hostname)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no Node before the boot delay")

	h.clock.Step(time.Second)
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	g.Expect(h.slaves(testCluster)[0].Status).To(Equal(StatusRunning))
	node, err := getNode(t, kube, w.Hostname)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(node.Spec.ProviderID).To(Equal("vpsie://" + w.Identifier))
	g.Expect(node.Annotations).To(HaveKeyWithValue("kwok.x-k8s.io/node", "fake"))
	g.Expect(node.Labels).To(Equal(map[string]string{
		"kubernetes.io/hostname":           w.Hostname,
		"kubernetes.io/arch":               "amd64",
		"kubernetes.io/os":                 "linux",
		"node.kubernetes.io/instance-type": "s-2vcpu-4gb",
	}))
	g.Expect(node.Status.Allocatable.Memory().Value()).To(Equal(int64(3706925876)))
	g.Expect(node.Status.Conditions).To(ContainElement(And(
		HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))))
	g.Expect(h.srv.Workers()[0].NodeCreated).To(BeTrue())

	// Reconciling again changes nothing.
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	nodes, _ := kube.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	g.Expect(nodes.Items).To(HaveLen(1))

	h.mustOK(h.api("DELETE", deleteWorkerPath(testCluster), map[string]string{"identifier": w.Identifier}))
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	_, err = getNode(t, kube, w.Hostname)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "deleting the worker deletes its Node")
}

func TestBootDelayChangeAppliesToProvisioningWorkers(t *testing.T) {
	kube := fake.NewClientset()
	h := newBootHarness(t, kube)
	g := NewWithT(t)
	h.addWorker(testCluster, h.createGroup(testCluster, "g", 104))
	h.mustOK(h.putConfig(`{"bootDelay":"0s"}`))
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	g.Expect(h.srv.Workers()[0].Status).To(Equal(StatusRunning))
}

func TestNodeCreateFailureIsRetried(t *testing.T) {
	kube := fake.NewClientset()
	failures := 2
	kube.PrependReactor("create", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failures > 0 {
			failures--
			return true, nil, errors.New("apiserver unavailable")
		}
		return false, nil, nil
	})
	h := newBootHarness(t, kube, func(c *Config) { c.Switches.BootDelay = 0 })
	g := NewWithT(t)
	w := h.addWorker(testCluster, h.createGroup(testCluster, "g", 104))

	g.Expect(h.srv.Reconcile(t.Context())).To(MatchError(ContainSubstring("apiserver unavailable")))
	g.Expect(h.srv.Workers()[0].NodeCreated).To(BeFalse())
	g.Expect(h.srv.Reconcile(t.Context())).NotTo(Succeed())
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	g.Expect(h.srv.Workers()[0].NodeCreated).To(BeTrue())
	_, err := getNode(t, kube, w.Hostname)
	g.Expect(err).NotTo(HaveOccurred())
}

func TestNodeDeleteFailureIsRetriedAndNotFoundIgnored(t *testing.T) {
	kube := fake.NewClientset()
	failDeletes := true
	kube.PrependReactor("delete", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		if failDeletes {
			return true, nil, errors.New("delete refused")
		}
		return false, nil, nil
	})
	h := newBootHarness(t, kube, func(c *Config) { c.Switches.BootDelay = 0 })
	g := NewWithT(t)
	gid := h.createGroup(testCluster, "g", 104)
	w1, w2 := h.addWorker(testCluster, gid), h.addWorker(testCluster, gid)
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())

	// w2's Node vanishes behind the emulator's back; deleting w2 must not fail on that.
	failDeletes = false
	g.Expect(kube.CoreV1().Nodes().Delete(t.Context(), w2.Hostname, metav1.DeleteOptions{})).To(Succeed())
	failDeletes = true

	for _, w := range []addWorkerAnswer{w1, w2} {
		h.mustOK(h.api("DELETE", deleteWorkerPath(testCluster), map[string]string{"identifier": w.Identifier}))
	}
	g.Expect(h.srv.Reconcile(t.Context())).To(MatchError(ContainSubstring("delete refused")))
	_, err := getNode(t, kube, w1.Hostname)
	g.Expect(err).NotTo(HaveOccurred(), "still there after the failed delete")

	failDeletes = false
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	_, err = getNode(t, kube, w1.Hostname)
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
}

func TestNodeOfAnotherMachineIsNeitherKeptNorDeleted(t *testing.T) {
	kube := fake.NewClientset(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "vpsie-w-00001"},
		Spec:       corev1.NodeSpec{ProviderID: "vpsie://stale"},
	})
	h := newBootHarness(t, kube, func(c *Config) { c.Switches.BootDelay = 0 })
	g := NewWithT(t)
	w := h.addWorker(testCluster, h.createGroup(testCluster, "g", 104))
	g.Expect(w.Hostname).To(Equal("vpsie-w-00001"))
	// The stale Node is replaced: first pass deletes it, the next creates ours.
	g.Expect(h.srv.Reconcile(t.Context())).To(MatchError(ContainSubstring("vpsie://stale")))
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	node, err := getNode(t, kube, w.Hostname)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(node.Spec.ProviderID).To(Equal("vpsie://" + w.Identifier))

	// A Node that someone else recreated under that name is left alone on delete.
	g.Expect(kube.CoreV1().Nodes().Delete(t.Context(), w.Hostname, metav1.DeleteOptions{})).To(Succeed())
	_, err = kube.CoreV1().Nodes().Create(t.Context(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: w.Hostname}, Spec: corev1.NodeSpec{ProviderID: "vpsie://other"},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	h.mustOK(h.api("DELETE", deleteWorkerPath(testCluster), map[string]string{"identifier": w.Identifier}))
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	node, err = getNode(t, kube, w.Hostname)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(node.Spec.ProviderID).To(Equal("vpsie://other"))
}

func TestVMBootCreatesNode(t *testing.T) {
	kube := fake.NewClientset()
	h := newBootHarness(t, kube)
	g := NewWithT(t)
	h.mustOK(h.api("POST", "/api/v2/vm", vmBody("00000000-0000-4000-8000-000000000301", "vm-mem")))
	h.clock.Step(30 * time.Second)
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	node, err := getNode(t, kube, "vm-mem")
	g.Expect(err).NotTo(HaveOccurred())
	vms := h.srv.VMs()
	g.Expect(node.Spec.ProviderID).To(Equal("vpsie://" + vms[0].Identifier))
	g.Expect(node.Labels).To(HaveKeyWithValue("node.kubernetes.io/instance-type", "m-2vcpu-16gb"))
	g.Expect(node.Status.Capacity.Memory().Equal(resource.MustParse("16Gi"))).To(BeTrue())

	h.mustOK(h.api("DELETE", "/api/v2/vm", map[string]string{"vmIdentifier": vms[0].Identifier}))
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	_, err = getNode(t, kube, "vm-mem")
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
}

func TestResetDeletesBootedNodes(t *testing.T) {
	kube := fake.NewClientset()
	h := newBootHarness(t, kube, func(c *Config) { c.Switches.BootDelay = 0 })
	g := NewWithT(t)
	h.addWorker(testCluster, h.createGroup(testCluster, "g", 104))
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	h.srv.Reset()
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	nodes, err := kube.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(nodes.Items).To(BeEmpty())
}

func TestBackgroundLoopBootsOnClockTicks(t *testing.T) {
	kube := fake.NewClientset()
	h := newBootHarness(t, kube, func(c *Config) { c.ReconcileInterval = time.Second })
	g := NewWithT(t)
	_, err := h.srv.Start(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(func() { _ = h.srv.Stop(t.Context()) })

	w := h.addWorker(testCluster, h.createGroup(testCluster, "g", 104))
	g.Consistently(func() error { _, err := getNode(t, kube, w.Hostname); return err }, 100*time.Millisecond).
		ShouldNot(Succeed())
	// Step in ticks until the boot delay has passed; the loop (not the test) reconciles.
	for range 30 {
		g.Eventually(h.clock.HasWaiters).WithTimeout(10 * time.Second).Should(BeTrue())
		h.clock.Step(time.Second)
	}
	g.Eventually(func() error { _, err := getNode(t, kube, w.Hostname); return err }).WithTimeout(10 * time.Second).Should(Succeed())

	// A delete is picked up without waiting for a tick.
	h.mustOK(h.api("DELETE", deleteWorkerPath(testCluster), map[string]string{"identifier": w.Identifier}))
	g.Eventually(func() bool { _, err := getNode(t, kube, w.Hostname); return apierrors.IsNotFound(err) }).WithTimeout(10 * time.Second).Should(BeTrue())
}
