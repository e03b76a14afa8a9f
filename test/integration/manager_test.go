package integration

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/operator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/tools"
	vpsieapi "github.com/vpsie/vpsie-k8s-autoscaler/pkg/vpsie"
)

const (
	token     = "integration-token"
	clusterID = emulator.DefaultClusterID
	dc        = emulator.DefaultDatacenter
)

func freeAddress() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { Expect(ln.Close()).To(Succeed()) }()
	return ln.Addr().String()
}

// autoscaler is one running instance of the binary's wiring with its emulator.
type autoscaler struct {
	emu        *emulator.Server
	url        string
	metricsURL string
	offerings  []cloudprovider.Offering
}

func catalogue() (string, []cloudprovider.Offering) {
	root, err := tools.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(root, "hack", "examples", "offerings.json")
	offs, err := cloudprovider.LoadOfferings(path)
	Expect(err).NotTo(HaveOccurred())
	return path, offs
}

// start runs the emulator (async add-worker, a boot delay, Nodes created in envtest) and the
// autoscaler exactly as cmd/vpsie-autoscaler wires it, until the spec ends. The autoscaler acts
// as the Helm chart's ServiceAccount, with the chart's RBAC (see chartIdentity).
func start(ctx context.Context, ns string, switches emulator.Switches, args ...string) *autoscaler {
	identity, leaseName := chartIdentity(ctx, ns)
	path, offs := catalogue()
	emu, err := emulator.New(emulator.Config{
		OfferingsFile:  path,
		Tokens:         []string{token},
		KubeClient:     env.KubeClient,
		HostnamePrefix: ns,
		Switches:       switches,
		Logger:         zap.New(zap.WriteTo(GinkgoWriter)).WithName("emulator"),
	})
	Expect(err).NotTo(HaveOccurred())
	url, err := emu.Start(context.WithoutCancel(ctx))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) { Expect(emu.Stop(ctx)).To(Succeed()) })

	Expect(env.Client.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vpsie-credentials"},
		Data:       map[string][]byte{"token": []byte(token), "url": []byte(url)},
	})).To(Succeed())
	metricsAddr := freeAddress()
	opts, err := operator.Parse(append([]string{
		"--cluster-id=" + clusterID,
		"--datacenter=" + dc,
		"--vpsie-secret-namespace=" + ns,
		"--leader-election-namespace=" + ns,
		"--leader-election-id=" + leaseName,
		"--metrics-bind-address=" + metricsAddr,
		"--health-probe-bind-address=" + freeAddress(),
		"--graceful-shutdown-timeout=10s",
		"--log-level=info",
	}, args...), func(string) string { return "" })
	Expect(err).NotTo(HaveOccurred())
	opts.LogOutput = GinkgoWriter
	opts.SkipControllerNameValidation = true

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	op, err := operator.NewOperator(runCtx, identity, opts)
	Expect(err).NotTo(HaveOccurred())
	checks, err := controllers.Register(runCtx, controllers.Deps{
		Manager: op.Manager, CloudProvider: op.CloudProvider, Clock: op.Clock, Options: opts.ControllerOptions(),
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(op.AddReadyzChecks(checks)).To(Succeed())
	done := make(chan error, 1)
	go func() {
		defer GinkgoRecover()
		done <- op.Start(runCtx)
	}()
	DeferCleanup(func() {
		cancel()
		Eventually(done, time.Minute).Should(Receive(Not(HaveOccurred())))
	})
	return &autoscaler{emu: emu, url: url, metricsURL: "http://" + metricsAddr + "/metrics", offerings: offs}
}

func namespace(ctx context.Context, prefix string) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	Expect(env.Client.Create(ctx, ns)).To(Succeed())
	// envtest has no namespace controller: the spec's pods are deleted by hand, or they would
	// stay pending for the autoscalers of later specs.
	DeferCleanup(func(ctx SpecContext) {
		Expect(env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns.Name), client.GracePeriodSeconds(0))).To(Succeed())
	})
	return ns.Name
}

func nodeGroup(ctx context.Context, name string, maxNodes int32, mutate ...func(*v1alpha1.NodeGroup)) *v1alpha1.NodeGroup {
	ng := &v1alpha1.NodeGroup{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.NodeGroupSpec{
			DatacenterID: dc, MaxNodes: maxNodes,
			Requirements: []v1alpha1.NodeSelectorRequirement{{Key: v1alpha1.LabelCategory, Operator: v1alpha1.NodeSelectorOpIn, Values: []string{"standard"}}},
		},
	}
	for _, m := range mutate {
		m(ng)
	}
	Expect(env.Client.Create(ctx, ng)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		// Deleting the group drains and deletes its nodes while the autoscaler still runs.
		Expect(client.IgnoreNotFound(env.Client.Delete(ctx, ng))).To(Succeed())
		Eventually(func() error { return env.Client.Get(ctx, client.ObjectKeyFromObject(ng), &v1alpha1.NodeGroup{}) }, 3*time.Minute, 250*time.Millisecond).
			Should(MatchError(ContainSubstring("not found")))
	})
	return ng
}

type podShape struct {
	name     string
	replicas int
	cpu, mem string
	mutate   func(*corev1.Pod)
}

// pendingPods creates the pods of each shape (owned by a ReplicaSet of the shape's name) and
// marks them unschedulable, as kube-scheduler would: envtest runs no scheduler.
func pendingPods(ctx context.Context, ns string, shapes ...podShape) []*corev1.Pod {
	var out []*corev1.Pod
	for _, sh := range shapes {
		for i := range sh.replicas {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: ns, Name: fmt.Sprintf("%s-%04d", sh.name, i), Labels: map[string]string{"app": sh.name},
					OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: sh.name, UID: types.UID("rs-" + ns + sh.name), Controller: ptr(true)}},
				},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(0)),
					Containers: []corev1.Container{{Name: "main", Image: "example/app:1", Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(sh.cpu), corev1.ResourceMemory: resource.MustParse(sh.mem)},
					}}},
				},
			}
			if sh.mutate != nil {
				sh.mutate(pod)
			}
			out = append(out, pod)
		}
	}
	var wg sync.WaitGroup
	work := make(chan *corev1.Pod)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer GinkgoRecover()
			for pod := range work {
				Expect(env.Client.Create(ctx, pod)).To(Succeed())
				pod.Status.Conditions = []corev1.PodCondition{{
					Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonUnschedulable,
					Message: "0/0 nodes are available", LastTransitionTime: metav1.Now(),
				}}
				Expect(env.Client.Status().Update(ctx, pod)).To(Succeed())
			}
		}()
	}
	for _, p := range out {
		work <- p
	}
	close(work)
	wg.Wait()
	return out
}

func ptr[T any](v T) *T { return &v }

func vpsieNodes(ctx context.Context, group string) []v1alpha1.VPSieNode {
	var list v1alpha1.VPSieNodeList
	Expect(env.Client.List(ctx, &list)).To(Succeed())
	var out []v1alpha1.VPSieNode
	for _, vn := range list.Items {
		if group == "" || vn.Spec.NodeGroup == group {
			out = append(out, vn)
		}
	}
	return out
}

// settled waits until the number of VPSieNodes of the groups stops changing for quiet, and
// returns it with the time it last changed.
func settled(ctx context.Context, quiet time.Duration, groups ...string) (int, time.Time) {
	count := func() int {
		n := 0
		for _, g := range groups {
			n += len(vpsieNodes(ctx, g))
		}
		return n
	}
	last, changed := count(), time.Now()
	Eventually(func() bool {
		if n := count(); n != last {
			last, changed = n, time.Now()
		}
		return last > 0 && time.Since(changed) >= quiet
	}, 3*time.Minute, 100*time.Millisecond).Should(BeTrue())
	return last, changed
}

// notReady lists the groups' VPSieNodes that are not Ready, with their conditions (the
// failure message says why).
func notReady(ctx context.Context, groups ...string) func() []string {
	return func() []string {
		var out []string
		for _, g := range groups {
			for _, vn := range vpsieNodes(ctx, g) {
				if vn.Status.Phase == v1alpha1.VPSieNodeReady {
					continue
				}
				var conds []string
				for _, c := range vn.Status.Conditions {
					conds = append(conds, fmt.Sprintf("%s=%s(%s: %s)", c.Type, c.Status, c.Reason, c.Message))
				}
				out = append(out, fmt.Sprintf("%s phase %q node %q: %s", vn.Name, vn.Status.Phase, vn.Status.NodeName, strings.Join(conds, ", ")))
			}
		}
		return out
	}
}

func workersInCluster(emu *emulator.Server) int {
	return len(emu.Workers())
}

// plannedCost is what the simulator would buy for the pods on an empty cluster.
// plannedCost is the offline plan for pods as the burst specs' autoscaler makes it: packed,
// without the scheduler replay (--scheduler-replay=false).
func plannedCost(offerings []cloudprovider.Offering, groups []*v1alpha1.NodeGroup, pods []*corev1.Pod) *simulator.Plan {
	// In the order the autoscaler's cluster state hands them to the planner (creation, then
	// name), so both plan the same input.
	pods = slices.Clone(pods)
	slices.SortStableFunc(pods, func(a, b *corev1.Pod) int {
		if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	plan, err := simulator.Solve(simulator.Input{NodeGroups: groups, Offerings: offerings, Pods: pods, SkipReplay: true})
	Expect(err).NotTo(HaveOccurred())
	return plan
}

func hourlyCost(vns []v1alpha1.VPSieNode, offs []cloudprovider.Offering) float64 {
	price := map[string]float64{}
	for _, o := range offs {
		price[o.ID] = o.HourlyPrice
	}
	total := 0.0
	for _, vn := range vns {
		total += price[vn.Spec.OfferingID]
	}
	return total
}

// counter reads one sample of a scrape (0 when absent).
func counter(scraped, series string) float64 {
	for _, line := range strings.Split(scraped, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			Expect(err).NotTo(HaveOccurred(), line)
			return f
		}
	}
	return 0
}

func scrape(url string) string {
	resp, err := http.Get(url)
	Expect(err).NotTo(HaveOccurred())
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return string(body)
}

var burstSpecs = func() {
	var (
		ns     string
		as     *autoscaler
		groups []*v1alpha1.NodeGroup
		burst1 []*corev1.Pod
		burst2 []*corev1.Pod
		report strings.Builder
	)
	mixed := func(prefix string, scale int) []podShape {
		return []podShape{
			{name: prefix + "web", replicas: 10 * scale, cpu: "250m", mem: "256Mi"},
			{name: prefix + "api", replicas: 5 * scale, cpu: "500m", mem: "1Gi"},
			{name: prefix + "worker", replicas: 3 * scale, cpu: "1", mem: "2Gi"},
			{name: prefix + "cache", replicas: 2 * scale, cpu: "250m", mem: "3Gi", mutate: func(p *corev1.Pod) {
				p.Spec.NodeSelector = map[string]string{v1alpha1.LabelCategory: "memory-optimized"}
			}},
		}
	}

	BeforeAll(func(ctx SpecContext) {
		ns = namespace(ctx, "burst")
		as = start(ctx, ns, emulator.Switches{
			BootDelay: emulator.Duration(8 * time.Second), AddWorkerMode: emulator.AddWorkerAsync,
			AsyncListDelay: emulator.Duration(500 * time.Millisecond),
			// Plans are launched as packed: these specs are about batching and the room of
			// nodes in flight, which the scheduler replay's repair (its own tests) would blur, as
			// it judges each plan against that plan's own second round.
		}, "--batch-idle-duration=1s", "--batch-max-duration=10s", "--gc-grace-period=5s", "--gc-interval=2s", "--scheduler-replay=false")
		groups = []*v1alpha1.NodeGroup{
			nodeGroup(ctx, ns+"-general", 100),
			nodeGroup(ctx, ns+"-memory", 20, func(ng *v1alpha1.NodeGroup) {
				ng.Spec.Requirements[0].Values = []string{"memory-optimized"}
				ng.Spec.Template.Labels = map[string]string{"workload": "memory"}
			}),
		}
		DeferCleanup(func() { AddReportEntry("timings", report.String()); GinkgoWriter.Print(report.String()) })
	})

	It("launches VPSieNodes for a burst of 200 pods within the batch window, and they all become Ready", func(ctx SpecContext) {
		burst1 = pendingPods(ctx, ns, mixed("a-", 10)...)
		t0 := time.Now()
		n, createdAt := settled(ctx, 3*time.Second, groups[0].Name, groups[1].Name)
		fmt.Fprintf(&report, "burst 1: %d pods -> %d VPSieNodes, last created %.2fs after the burst\n", len(burst1), n, createdAt.Sub(t0).Seconds())
		// Within the batch window (at most --batch-max-duration, 10s) plus a second.
		Expect(createdAt.Sub(t0)).To(BeNumerically("<", 11*time.Second))

		Eventually(notReady(ctx, groups[0].Name, groups[1].Name), 2*time.Minute, 250*time.Millisecond).Should(BeEmpty())
		fmt.Fprintf(&report, "burst 1: all %d VPSieNodes Ready %.2fs after the burst (boot delay 8s)\n", n, time.Since(t0).Seconds())

		// Each VPSieNode has its own worker and its own registered Node with the group's labels.
		ids := map[string]bool{}
		for _, vn := range vpsieNodes(ctx, "") {
			Expect(ids).NotTo(HaveKey(vn.Status.InstanceID))
			ids[vn.Status.InstanceID] = true
			var node corev1.Node
			Expect(env.Client.Get(ctx, client.ObjectKey{Name: vn.Status.NodeName}, &node)).To(Succeed())
			Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelNodeGroup, vn.Spec.NodeGroup))
			Expect(node.Labels).To(HaveKeyWithValue(v1alpha1.LabelRegistered, "true"))
			Expect(node.Spec.ProviderID).To(Equal(vn.Status.ProviderID))
		}
		Expect(workersInCluster(as.emu)).To(Equal(n))

		// The memory pods went to the memory group, the plan is near what the simulator buys.
		Expect(vpsieNodes(ctx, groups[1].Name)).NotTo(BeEmpty())
		offline := plannedCost(as.offerings, groups, burst1)
		got := hourlyCost(vpsieNodes(ctx, ""), as.offerings)
		fmt.Fprintf(&report, "burst 1: $%.4f/h launched, offline plan $%.4f/h, lower bound $%.4f/h\n", got, offline.HourlyCost, offline.LowerBound)
		Expect(got).To(BeNumerically("<=", offline.HourlyCost*1.05+1e-9))
	})

	It("launches for a second burst during boot only what the first nodes cannot hold", func(ctx SpecContext) {
		before := vpsieNodes(ctx, "")
		// Delete nothing: the first burst's pods are still pending (no scheduler binds them), so the
		// first nodes are exactly as full as planned; make them boot-in-flight again is not needed:
		// the second burst is planned with them as capacity.
		burst2 = pendingPods(ctx, ns, mixed("b-", 5)...)
		t0 := time.Now()
		n, createdAt := settled(ctx, 3*time.Second, groups[0].Name, groups[1].Name)
		added := n - len(before)
		alone := plannedCost(as.offerings, groups, burst2)
		addedCost := hourlyCost(vpsieNodes(ctx, ""), as.offerings) - hourlyCost(before, as.offerings)
		fmt.Fprintf(&report, "burst 2: %d more pods -> %d more VPSieNodes ($%.4f/h) in %.2fs (alone they would need %d, $%.4f/h)\n",
			len(burst2), added, addedCost, createdAt.Sub(t0).Seconds(), len(alone.NewNodes), alone.HourlyCost)
		// The room left on the first nodes is used: never more, nor dearer, than the second
		// burst would need on its own. (The first burst's pods stay where the first plan put
		// them, as the scheduler would have bound them.)
		Expect(added).To(BeNumerically("<=", len(alone.NewNodes)))
		Expect(addedCost).To(BeNumerically("<=", alone.HourlyCost*1.001+1e-9))
		Eventually(notReady(ctx, groups[0].Name, groups[1].Name), 2*time.Minute, 250*time.Millisecond).Should(BeEmpty())
		Expect(workersInCluster(as.emu)).To(Equal(n))
	})

	It("plans nothing more once every pod has its room", func(ctx SpecContext) {
		n := len(vpsieNodes(ctx, ""))
		Consistently(func() int { return len(vpsieNodes(ctx, "")) }, 5*time.Second, 250*time.Millisecond).Should(Equal(n))
	})

	It("deletes a VPSieNode's worker and Node when the VPSieNode is deleted", func(ctx SpecContext) {
		vn := vpsieNodes(ctx, groups[1].Name)[0]
		// Its pods are pending (never bound), so nothing to drain.
		Expect(env.Client.Delete(ctx, &vn)).To(Succeed())
		Eventually(func() error { return env.Client.Get(ctx, client.ObjectKeyFromObject(&vn), &v1alpha1.VPSieNode{}) }, time.Minute, 250*time.Millisecond).
			Should(MatchError(ContainSubstring("not found")))
		Eventually(func() error {
			return env.Client.Get(ctx, client.ObjectKey{Name: vn.Status.NodeName}, &corev1.Node{})
		}, time.Minute, 250*time.Millisecond).ShouldNot(Succeed())
		// The pods it held are planned again: a replacement comes.
		n, _ := settled(ctx, 3*time.Second, groups[0].Name, groups[1].Name)
		Eventually(func() int { return workersInCluster(as.emu) }, time.Minute, 250*time.Millisecond).Should(Equal(n))
	})

	It("garbage-collects a worker no VPSieNode claims", func(ctx SpecContext) {
		// The orphan goes into a group of ours whose offering no NodeGroup here allows, so no
		// pending worker request of a VPSieNode can take it for its own: it stays unclaimed.
		// Followed by identifier, not by count: empty-node removal may take other workers away.
		var size int
		for _, o := range as.offerings {
			if o.Category == "cpu-optimized" {
				size, _ = strconv.Atoi(o.ID)
				break
			}
		}
		Expect(size).To(BeNumerically(">", 0), "the catalogue has a cpu-optimized offering")
		before := map[string]bool{}
		for _, w := range as.emu.Workers() {
			before[w.Identifier] = true
		}
		c, err := vpsieapi.New(vpsieapi.Options{BaseURL: as.url, Token: token})
		Expect(err).NotTo(HaveOccurred())
		g, err := c.CreateNodeGroup(ctx, clusterID, "vpsie-autoscaler-gc-orphan", size)
		Expect(err).NotTo(HaveOccurred())
		gcBefore := counter(scrape(as.metricsURL), `vpsie_autoscaler_garbagecollection_deleted_total{reason="orphan_instance"}`)
		_, err = c.AddWorker(ctx, clusterID, g.ID)
		Expect(err).NotTo(HaveOccurred())
		var orphan string
		Eventually(func() string {
			for _, w := range as.emu.Workers() {
				if !before[w.Identifier] {
					orphan = w.Identifier
				}
			}
			return orphan
		}, time.Minute, 100*time.Millisecond).ShouldNot(BeEmpty())
		Eventually(func() []string {
			var ids []string
			for _, w := range as.emu.Workers() {
				ids = append(ids, w.Identifier)
			}
			return ids
		}, 2*time.Minute, 250*time.Millisecond).ShouldNot(ContainElement(orphan))
		Eventually(func() float64 {
			return counter(scrape(as.metricsURL), `vpsie_autoscaler_garbagecollection_deleted_total{reason="orphan_instance"}`)
		}, 10*time.Second, 250*time.Millisecond).Should(Equal(gcBefore + 1))
	})

	// Last, while the groups and their nodes still exist (a deleted NodeGroup's gauges go) and
	// after the pathological specs (the deadline counters).
	It("has recorded every metric by now (scraped from the metrics endpoint)", func() {
		Expect(unrecorded(scrape(as.metricsURL), metricNames())).To(BeEmpty())
	})
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// metricNames are the names of every metric pkg/metrics defines.
func metricNames() []string {
	var names []string
	for _, c := range metrics.All() {
		ch := make(chan *prometheus.Desc, 8)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			m := fqName.FindStringSubmatch(d.String())
			Expect(m).To(HaveLen(2))
			names = append(names, m[1])
		}
	}
	return names
}

// recorded says which names have at least one sample line in a scrape.
func unrecorded(body string, names []string) []string {
	var missing []string
	for _, name := range names {
		found := false
		for _, line := range strings.Split(body, "\n") {
			if strings.HasPrefix(line, name+" ") || strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+"_count") {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, name)
		}
	}
	return missing
}

var pathologicalSpecs = func() {
	var (
		ns     string
		report strings.Builder
	)
	BeforeAll(func(ctx SpecContext) {
		ns = namespace(ctx, "patho")
		// Workers never finish booting here (no Nodes), so the launches stay cheap; the API rate
		// limit is lifted, since this spec is about the solve, not about VPSie's pace.
		start(ctx, ns, emulator.Switches{BootDelay: emulator.Duration(time.Hour)},
			"--solve-deadline=2s", "--gc-grace-period=5s", "--gc-interval=2s", "--vpsie-api-rate-limit=600000", "--vpsie-api-burst=10000")
		DeferCleanup(func() { AddReportEntry("timings", report.String()); GinkgoWriter.Print(report.String()) })
	})

	It("is cut by the solve deadline and the loop stays responsive", func(ctx SpecContext) {
		nodeGroup(ctx, ns+"-anti", 1000)
		nodeGroup(ctx, ns+"-other", 5, func(ng *v1alpha1.NodeGroup) { ng.Spec.Template.Labels = map[string]string{"pool": "other"} })
		// 1000 single-replica Deployments sharing one required hostname anti-affinity label: every
		// pod its own class, each excluding all others from its node.
		var shapes []podShape
		for i := range 1000 {
			shapes = append(shapes, podShape{name: fmt.Sprintf("solo%d", i), replicas: 1, cpu: fmt.Sprintf("%dm", 100+(i%7)*50), mem: "128Mi",
				mutate: func(p *corev1.Pod) {
					p.Labels["anti"] = "one-per-node"
					p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
							LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"anti": "one-per-node"}},
							TopologyKey:   corev1.LabelHostname,
						}},
					}}
					p.Spec.NodeSelector = map[string]string{v1alpha1.LabelNodeGroup: ns + "-anti"}
				}})
		}
		cut := func() float64 { return testutil.ToFloat64(metrics.SolveDeadlineExceeded) }
		before := cut()
		pendingPods(ctx, ns, shapes...)
		Eventually(cut, 2*time.Minute, 100*time.Millisecond).Should(BeNumerically(">", before))

		// A pod of another group while the pathological pods stay pending: it gets its node after
		// at most a solve deadline or two.
		t0 := time.Now()
		pendingPods(ctx, ns, podShape{name: "urgent", replicas: 1, cpu: "500m", mem: "512Mi", mutate: func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"pool": "other"}
		}})
		Eventually(func() int { return len(vpsieNodes(ctx, ns+"-other")) }, time.Minute, 100*time.Millisecond).Should(Equal(1))
		fmt.Fprintf(&report, "pathological: 1000 anti-affinity classes; solve deadline 2s cut %v solves; an urgent pod got its VPSieNode %.2fs after it was created; %d VPSieNodes for the 1000 pods so far\n",
			cut()-before, time.Since(t0).Seconds(), len(vpsieNodes(ctx, ns+"-anti")))
		// One pod per node at most: never more VPSieNodes than pods, however often the plan is cut.
		Consistently(func() int { return len(vpsieNodes(ctx, ns+"-anti")) }, 3*time.Second, 250*time.Millisecond).Should(BeNumerically("<=", 1000))
	})

}

// The pathological input first, so the last spec of the burst scenario can find every metric,
// those of a cut solve included.
var _ = Describe("The autoscaler", Ordered, func() {
	Describe("given a pathological input", pathologicalSpecs)
	Describe("against the emulator", burstSpecs)
})
