package emulator

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
)

// TestBootedWorkerBecomesNodeInRealAPIServer checks the Node the emulator writes against a real
// kube-apiserver: defaulting, validation and the status subresource all apply there.
func TestBootedWorkerBecomesNodeInRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	env := environment.New(t)
	h := newHarness(t, func(c *Config) {
		c.KubeClient = env.KubeClient
		c.Switches.BootDelay = Duration(10 * time.Second)
		c.HostnamePrefix = "envtest-w"
	})
	g := NewWithT(t)
	ctx := t.Context()
	nodes := env.KubeClient.CoreV1().Nodes()

	w := h.addWorker(testCluster, h.createGroup(testCluster, "general", 104)) // s-2vcpu-4gb
	g.Expect(h.srv.Reconcile(ctx)).To(Succeed())
	_, err := nodes.Get(ctx, w.Hostname, metav1.GetOptions{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no Node while provisioning")

	h.clock.Step(10 * time.Second)
	g.Expect(h.srv.Reconcile(ctx)).To(Succeed())
	node, err := nodes.Get(ctx, w.Hostname, metav1.GetOptions{})
	g.Expect(err).NotTo(HaveOccurred())

	g.Expect(node.Name).To(Equal("envtest-w-00001"))
	g.Expect(node.Spec.ProviderID).To(Equal("vpsie://" + w.Identifier))
	g.Expect(node.Annotations).To(HaveKeyWithValue("kwok.x-k8s.io/node", "fake"))
	g.Expect(node.Labels).To(HaveKeyWithValue("kubernetes.io/hostname", "envtest-w-00001"))
	g.Expect(node.Labels).To(HaveKeyWithValue("node.kubernetes.io/instance-type", "s-2vcpu-4gb"))
	g.Expect(node.Labels).To(HaveKeyWithValue("kubernetes.io/arch", "amd64"))
	g.Expect(node.Labels).To(HaveKeyWithValue("kubernetes.io/os", "linux"))

	// s-2vcpu-4gb: 2 cpu, 4096 MiB, 80 GB disk.
	// memory allocatable = 4294967296 - 268435456 (256Mi) - 214748364 (5%) - 104857600 (100Mi) = 3706925876
	expectQuantity := func(list corev1.ResourceList, name corev1.ResourceName, want string) {
		t.Helper()
		got := list[name]
		g.Expect(got.Cmp(resource.MustParse(want))).To(Equal(0), "%s: got %s, want %s", name, got.String(), want)
	}
	expectQuantity(node.Status.Capacity, corev1.ResourceCPU, "2")
	expectQuantity(node.Status.Capacity, corev1.ResourceMemory, "4096Mi")
	expectQuantity(node.Status.Capacity, corev1.ResourcePods, "110")
	expectQuantity(node.Status.Capacity, corev1.ResourceEphemeralStorage, "80Gi")
	expectQuantity(node.Status.Allocatable, corev1.ResourceCPU, "1900m")
	expectQuantity(node.Status.Allocatable, corev1.ResourceMemory, "3706925876")
	expectQuantity(node.Status.Allocatable, corev1.ResourcePods, "110")
	expectQuantity(node.Status.Allocatable, corev1.ResourceEphemeralStorage, "80Gi")
	g.Expect(node.Status.Conditions).To(ContainElement(And(
		HaveField("Type", corev1.NodeReady), HaveField("Status", corev1.ConditionTrue))))
	g.Expect(node.Status.Addresses).To(ContainElement(HaveField("Type", corev1.NodeInternalIP)))
	g.Expect(h.srv.Workers()[0].NodeCreated).To(BeTrue())

	h.mustOK(h.api("DELETE", deleteWorkerPath(testCluster), map[string]string{"identifier": w.Identifier}))
	g.Expect(h.srv.Reconcile(ctx)).To(Succeed())
	_, err = nodes.Get(ctx, w.Hostname, metav1.GetOptions{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "deleting the worker deletes its Node")

	// A second worker whose Node was already removed by someone else is deleted without error.
	w2 := h.addWorker(testCluster, 1)
	h.clock.Step(10 * time.Second)
	g.Expect(h.srv.Reconcile(ctx)).To(Succeed())
	g.Expect(nodes.Delete(ctx, w2.Hostname, metav1.DeleteOptions{})).To(Succeed())
	h.mustOK(h.api("DELETE", deleteWorkerPath(testCluster), map[string]string{"identifier": w2.Identifier}))
	g.Expect(h.srv.Reconcile(ctx)).To(Succeed())
	list, err := nodes.List(ctx, metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list.Items).To(BeEmpty())
}
