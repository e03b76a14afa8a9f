// Package e2e runs the whole chain on the built-in local cluster (pkg/local): kube-apiserver,
// kube-controller-manager, the real kube-scheduler, kwok, the VPSie emulator over HTTP, the Helm
// chart installed with the helm binary, and the autoscaler process with the chart's
// ServiceAccount token. Where pods land is the scheduler's choice; the specs measure it.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/local"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/tools"
)

var (
	cluster   *local.Cluster
	kube      client.Client
	offerings []cloudprovider.Offering
	report    strings.Builder
	suiteT0   time.Time
	// namespaces the specs created, deleted by AfterSuite
	namespaces []string
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "End to end on the local cluster")
}

var _ = BeforeSuite(func(ctx SpecContext) {
	suiteT0 = time.Now()
	var err error
	// E2E_DIR keeps the cluster directory (logs of every component) for a look afterwards.
	cluster, err = local.Start(ctx, local.Options{Dir: os.Getenv("E2E_DIR"), BinDir: os.Getenv("E2E_BIN_DIR"), BootDelay: 3 * time.Second, Progress: GinkgoWriter})
	Expect(err).NotTo(HaveOccurred())
	pids := cluster.Pids()
	DeferCleanup(func() {
		// the autoscaler's pid is taken at the end: it is restarted by some specs
		if p := cluster.AutoscalerPid(); p != 0 {
			pids["vpsie-autoscaler"] = p
		}
		Expect(cluster.Stop()).To(Succeed())
		for name, pid := range pids {
			Expect(local.Alive(pid)).To(BeFalse(), "%s (pid %d) left running", name, pid)
		}
		writeReport()
	})
	Expect(cluster.InstallChart(ctx)).To(Succeed())
	Expect(cluster.StartAutoscaler(ctx)).To(Succeed())
	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())
	kube, err = client.New(cluster.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
	root, err := tools.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	offerings, err = cloudprovider.LoadOfferings(filepath.Join(root, "hack", "examples", "offerings.json"))
	Expect(err).NotTo(HaveOccurred())
	fmt.Fprintf(&report, "local cluster, chart and autoscaler up in %.1fs\n", time.Since(suiteT0).Seconds())
}, NodeTimeout(5*time.Minute))

// Every suite ends with nothing leaked: no NodeGroup, VPSieNode, worker or VM left. (VPSie node
// groups, one per offering used, stay: they cost nothing and the next launch reuses them.)
var _ = AfterSuite(func(ctx SpecContext) {
	if kube == nil {
		return
	}
	for _, ns := range namespaces {
		Expect(client.IgnoreNotFound(kube.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))).To(Succeed())
	}
	Expect(kube.DeleteAllOf(ctx, &v1alpha1.NodeGroup{})).To(Succeed())
	Eventually(func(g Gomega) {
		var vns v1alpha1.VPSieNodeList
		g.Expect(kube.List(ctx, &vns)).To(Succeed())
		g.Expect(vns.Items).To(BeEmpty())
		var ngs v1alpha1.NodeGroupList
		g.Expect(kube.List(ctx, &ngs)).To(Succeed())
		g.Expect(ngs.Items).To(BeEmpty())
	}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(adminList[emulator.AdminWorker](ctx, "/admin/workers")).To(BeEmpty(), "leaked workers")
		g.Expect(adminList[emulator.AdminVM](ctx, "/admin/vms")).To(BeEmpty(), "leaked VMs")
	}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
	fmt.Fprintf(&report, "whole suite %.1fs\n", time.Since(suiteT0).Seconds())
}, NodeTimeout(5*time.Minute))

func writeReport() {
	fmt.Fprint(GinkgoWriter, "\n"+report.String())
	root, err := tools.RepoRoot()
	if err != nil {
		return
	}
	_ = os.MkdirAll(filepath.Join(root, "_output"), 0o755)
	_ = os.WriteFile(filepath.Join(root, "_output", "e2e-report.txt"), []byte(report.String()), 0o644)
}

// adminList reads one of the emulator's admin listings (data of the VPSie envelope).
func adminList[T any](ctx context.Context, path string) []T {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cluster.EmulatorURL+path, nil)
	Expect(err).NotTo(HaveOccurred())
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var env struct {
		Data []T `json:"data"`
	}
	Expect(json.NewDecoder(resp.Body).Decode(&env)).To(Succeed())
	return env.Data
}

// --- fixtures ---

func nodeGroup(name string, mutate func(*v1alpha1.NodeGroup)) *v1alpha1.NodeGroup {
	ng := &v1alpha1.NodeGroup{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.NodeGroupSpec{
			DatacenterID: "dc-hel1",
			MaxNodes:     40,
			Requirements: []v1alpha1.NodeSelectorRequirement{{Key: v1alpha1.LabelCategory, Operator: v1alpha1.NodeSelectorOpIn, Values: []string{"standard", "general-purpose"}}},
			Template:     v1alpha1.NodeTemplate{Labels: map[string]string{"e2e/pool": name}},
		},
	}
	if mutate != nil {
		mutate(ng)
	}
	return ng
}

func createNodeGroup(ctx context.Context, ng *v1alpha1.NodeGroup) {
	Expect(kube.Create(ctx, ng)).To(Succeed())
	Eventually(func(g Gomega) {
		got := &v1alpha1.NodeGroup{}
		g.Expect(kube.Get(ctx, client.ObjectKeyFromObject(ng), got)).To(Succeed())
		g.Expect(conditionTrue(got.Status.Conditions, v1alpha1.NodeGroupReady)).To(BeTrue(), "NodeGroup %s not Ready: %v", ng.Name, got.Status.Conditions)
	}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
}

func conditionTrue(conds []metav1.Condition, typ string) bool {
	for _, c := range conds {
		if c.Type == typ {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

type podShape struct {
	cpu, memory string
	mutate      func(*corev1.PodSpec)
}

func deployment(ns, name string, replicas int32, shape podShape) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	spec := corev1.PodSpec{
		TerminationGracePeriodSeconds: ptr.To[int64](0),
		Containers: []corev1.Container{{
			Name: "app", Image: "registry.example/" + name,
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(shape.cpu), corev1.ResourceMemory: resource.MustParse(shape.memory),
			}},
		}},
	}
	if shape.mutate != nil {
		shape.mutate(&spec)
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
}

// namespace creates a namespace that lives until the end of the suite (later specs use the
// workloads of earlier ones), then goes with everything in it.
func namespace(ctx context.Context, name string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	Expect(kube.Create(ctx, ns)).To(Succeed())
	namespaces = append(namespaces, name)
	return name
}

func podsIn(ctx context.Context, ns string) []corev1.Pod {
	var pods corev1.PodList
	Expect(kube.List(ctx, &pods, client.InNamespace(ns))).To(Succeed())
	return pods.Items
}

func vpsieNodes(ctx context.Context, group string) []v1alpha1.VPSieNode {
	var vns v1alpha1.VPSieNodeList
	Expect(kube.List(ctx, &vns)).To(Succeed())
	var out []v1alpha1.VPSieNode
	for _, vn := range vns.Items {
		if group == "" || vn.Spec.NodeGroup == group {
			out = append(out, vn)
		}
	}
	return out
}

func hourlyCost(vns []v1alpha1.VPSieNode) float64 {
	price := map[string]float64{}
	for _, o := range offerings {
		price[o.ID] = o.HourlyPrice
	}
	total := 0.0
	for _, vn := range vns {
		total += price[vn.Spec.OfferingID]
	}
	return total
}

func eventsFor(ctx context.Context, ns, reason string) []corev1.Event {
	var evs corev1.EventList
	Expect(kube.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
	var out []corev1.Event
	for _, e := range evs.Items {
		if e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// allRunningOnOurNodes: every pod of ns is Running on a Node that is a VPSieNode's.
func allRunningOnOurNodes(ctx context.Context, g Gomega, ns string, want int) {
	ours := map[string]string{}
	for _, vn := range vpsieNodes(ctx, "") {
		if vn.Status.NodeName != "" {
			ours[vn.Status.NodeName] = vn.Spec.NodeGroup
		}
	}
	pods := podsIn(ctx, ns)
	g.Expect(pods).To(HaveLen(want))
	for _, p := range pods {
		g.Expect(p.Status.Phase).To(Equal(corev1.PodRunning), "pod %s on %q", p.Name, p.Spec.NodeName)
		g.Expect(ours).To(HaveKey(p.Spec.NodeName), "pod %s on a node we did not launch", p.Name)
	}
}

func deleteNodeGroupAndWait(ctx context.Context, name string) {
	Expect(client.IgnoreNotFound(kube.Delete(ctx, &v1alpha1.NodeGroup{ObjectMeta: metav1.ObjectMeta{Name: name}}))).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(vpsieNodes(ctx, name)).To(BeEmpty())
		err := kube.Get(ctx, client.ObjectKey{Name: name}, &v1alpha1.NodeGroup{})
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		g.Expect(err).To(HaveOccurred())
	}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
}
