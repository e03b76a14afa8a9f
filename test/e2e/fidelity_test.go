package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// burst is the 300-pod mixed burst of the plan-fidelity measurement.
var burst = []struct {
	name     string
	replicas int32
	shape    podShape
}{
	{"tiny", 100, podShape{cpu: "100m", memory: "128Mi"}},
	{"small", 60, podShape{cpu: "250m", memory: "512Mi"}},
	{"medium", 50, podShape{cpu: "500m", memory: "1Gi"}},
	{"large", 40, podShape{cpu: "1", memory: "2Gi"}},
	{"xlarge", 30, podShape{cpu: "2", memory: "4Gi"}},
	{"memory", 20, podShape{cpu: "250m", memory: "3Gi"}},
}

type fidelity struct {
	mode                                 string
	pods, firstRoundNodes, laterNodes    int
	stranded, elsewhere                  int
	firstCost, finalCost, secondsRunning float64
}

var nominatedOnto = regexp.MustCompile(`VPSieNode (\S+)`)

var _ = Describe("Plan fidelity: the real kube-scheduler binds a 300-pod burst", Ordered, func() {
	var results []fidelity

	measure := func(ctx context.Context, mode string) {
		ns := namespace(ctx, "burst-"+strings.ToLower(strings.ReplaceAll(mode, " ", "-")))
		createNodeGroup(ctx, nodeGroup("burst", func(ng *v1alpha1.NodeGroup) { ng.Spec.MaxNodes = 200 }))
		start := time.Now()
		total := 0
		for _, d := range burst {
			dep := deployment(ns, d.name, d.replicas, d.shape)
			dep.Spec.Template.Spec.NodeSelector = map[string]string{"e2e/pool": "burst"}
			Expect(kube.Create(ctx, dep)).To(Succeed())
			total += int(d.replicas)
		}
		Eventually(func(g Gomega) { allRunningOnOurNodes(ctx, g, ns, total) }).
			WithContext(ctx).WithTimeout(4 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		r := fidelity{mode: mode, pods: total, secondsRunning: time.Since(start).Seconds()}

		vns := vpsieNodes(ctx, "burst")
		sort.Slice(vns, func(i, j int) bool { return vns[i].CreationTimestamp.Before(&vns[j].CreationTimestamp) })
		// Rounds are provisioning passes: a pass creates its nodes within about a second, and
		// the next one comes after the scheduler has had its go, seconds later.
		firstRound := map[string]bool{}
		for i, vn := range vns {
			if i == 0 || vn.CreationTimestamp.Sub(vns[0].CreationTimestamp.Time) <= 3*time.Second {
				firstRound[vn.Name] = true
			}
		}
		nodeOf := map[string]string{}
		var first, final []v1alpha1.VPSieNode
		for _, vn := range vns {
			nodeOf[vn.Name] = vn.Status.NodeName
			final = append(final, vn)
			if firstRound[vn.Name] {
				first = append(first, vn)
			}
		}
		r.firstRoundNodes, r.laterNodes = len(first), len(vns)-len(first)
		r.firstCost, r.finalCost = hourlyCost(first), hourlyCost(final)

		// The first nomination of each pod is the first plan's choice for it.
		planned := map[string]string{}
		evs := eventsFor(ctx, ns, "Nominated")
		sort.Slice(evs, func(i, j int) bool { return evs[i].FirstTimestamp.Before(&evs[j].FirstTimestamp) })
		for _, e := range evs {
			if m := nominatedOnto.FindStringSubmatch(e.Message); m != nil {
				if _, seen := planned[e.InvolvedObject.Name]; !seen {
					planned[e.InvolvedObject.Name] = m[1]
				}
			}
		}
		for _, p := range podsIn(ctx, ns) {
			vn, ok := planned[p.Name]
			switch {
			case !ok || !firstRound[vn]:
				// not placed by the first round at all (a later pass planned it)
				r.stranded++
			case nodeOf[vn] != p.Spec.NodeName:
				r.elsewhere++
				if !onFirstRoundNode(p, vns, firstRound) {
					r.stranded++
				}
			}
		}
		results = append(results, r)
		Expect(kube.Delete(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
		deleteNodeGroupAndWait(ctx, "burst")
	}

	It("with the batch held under its startup taint and released together (default)", func(ctx SpecContext) {
		measure(ctx, "batch release")
	})

	It("with every node released as soon as it is Ready (--batch-release-window=0)", func(ctx SpecContext) {
		if !autoscalerHasFlag("batch-release-window") {
			Skip("this build of the autoscaler has no --batch-release-window")
		}
		Expect(cluster.StartAutoscaler(ctx, "--batch-release-window=0")).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(cluster.StartAutoscaler(ctx)).To(Succeed()) })
		measure(ctx, "node by node")
	})

	AfterAll(func() {
		total := 0
		for _, d := range burst {
			total += int(d.replicas)
		}
		fmt.Fprintf(&report, "\nplan fidelity, %d-pod mixed burst through the whole chain:\n", total)
		fmt.Fprintf(&report, "%-14s %5s %12s %9s %10s %12s %10s %10s %8s\n", "mode", "pods", "first-round", "stranded", "elsewhere", "later nodes", "first $/h", "final $/h", "running")
		for _, r := range results {
			fmt.Fprintf(&report, "%-14s %5d %12d %9d %10d %12d %10.4f %10.4f %7.1fs\n", r.mode, r.pods, r.firstRoundNodes, r.stranded, r.elsewhere, r.laterNodes, r.firstCost, r.finalCost, r.secondsRunning)
		}
	})
})

// onFirstRoundNode: the pod is bound to some node of the first round (just not the planned one).
func onFirstRoundNode(p corev1.Pod, vns []v1alpha1.VPSieNode, firstRound map[string]bool) bool {
	for _, vn := range vns {
		if vn.Status.NodeName == p.Spec.NodeName {
			return firstRound[vn.Name]
		}
	}
	return false
}

func autoscalerHasFlag(name string) bool {
	out, _ := exec.Command(filepath.Join(cluster.BinDir(), "vpsie-autoscaler"), "--help").CombinedOutput()
	return strings.Contains(string(out), "--"+name)
}
