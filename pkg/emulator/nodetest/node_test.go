// Package nodetest checks the Nodes the emulator writes against a real kube-apiserver. It is its
// own package so the emulator's unit tests do not depend on the envtest environment (and on the
// API types it installs).
package nodetest_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
)

const (
	token   = "nodetest-token"
	cluster = emulator.DefaultClusterID
)

// rawClient speaks plain HTTP to the emulator (the pkg/vpsie client is tested elsewhere).
type rawClient struct {
	t     *testing.T
	url   string
	srv   *emulator.Server
	clock *clocktesting.FakeClock
}

type worker struct {
	Identifier string `json:"identifier"`
	Hostname   string `json:"hostname"`
}

// call sends a request and decodes the envelope's data into out (when not nil); it fails the test
// on anything but 200.
func (c *rawClient) call(method, path string, body any, out any) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Vpsie-Auth", token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, env.Message)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			c.t.Fatalf("decoding %s: %v", env.Data, err)
		}
	}
}

func (c *rawClient) createGroup(name string, size int) int {
	c.call("POST", "/apps/v2/k8s/cluster/add/group", map[string]any{"clusterIdentifier": cluster, "groupName": name, "KubeSizeID": size}, nil)
	var groups []struct {
		ID   int    `json:"id"`
		Name string `json:"group_name"`
	}
	c.call("GET", "/apps/v2/k8s/node/groups/byClusterId/"+cluster, nil, &groups)
	for _, g := range groups {
		if g.Name == name {
			return g.ID
		}
	}
	c.t.Fatalf("group %s not listed", name)
	return 0
}

func (c *rawClient) addWorker(group int) worker {
	var w worker
	c.call("POST", fmt.Sprintf("/apps/v2/k8s/cluster/byId/%s/add/slave/group/%d", cluster, group), nil, &w)
	return w
}

func (c *rawClient) deleteWorker(id string) {
	c.call("DELETE", "/apps/v2/k8s/cluster/byId/"+cluster+"/delete/slave", map[string]string{"identifier": id}, nil)
}

// TestBootedWorkerBecomesNodeInRealAPIServer checks the Node the emulator writes against a real
// kube-apiserver: defaulting, validation and the status subresource all apply there.
func TestBootedWorkerBecomesNodeInRealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	env := environment.New(t)
	g := NewWithT(t)
	fc := clocktesting.NewFakeClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	srv, err := emulator.New(emulator.Config{
		Offerings: []emulator.Offering{{ID: 104, Name: "s-2vcpu-4gb", Category: "standard", CPU: 2, RAM: 4096, Disk: 80, Price: 24}},
		Tokens:    []string{token}, KubeClient: env.KubeClient, Clock: fc, HostnamePrefix: "envtest-w",
		Switches: emulator.Switches{BootDelay: emulator.Duration(10 * time.Second)},
	})
	g.Expect(err).NotTo(HaveOccurred())
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	h := &rawClient{t: t, url: ts.URL, srv: srv, clock: fc}
	ctx := t.Context()
	nodes := env.KubeClient.CoreV1().Nodes()

	w := h.addWorker(h.createGroup("general", 104)) // s-2vcpu-4gb
	g.Expect(h.srv.Reconcile(ctx)).To(Succeed())
	_, err = nodes.Get(ctx, w.Hostname, metav1.GetOptions{})
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

	h.deleteWorker(w.Identifier)
	g.Expect(h.srv.Reconcile(ctx)).To(Succeed())
	_, err = nodes.Get(ctx, w.Hostname, metav1.GetOptions{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "deleting the worker deletes its Node")

	// A second worker whose Node was already removed by someone else is deleted without error.
	w2 := h.addWorker(1)
	h.clock.Step(10 * time.Second)
	g.Expect(h.srv.Reconcile(ctx)).To(Succeed())
	g.Expect(nodes.Delete(ctx, w2.Hostname, metav1.DeleteOptions{})).To(Succeed())
	h.deleteWorker(w2.Identifier)
	g.Expect(h.srv.Reconcile(ctx)).To(Succeed())
	list, err := nodes.List(ctx, metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(list.Items).To(BeEmpty())
}
