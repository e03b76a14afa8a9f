package simulator

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// benchDir is the shared benchmark corpus, outside the project (a user's clone has none).
func benchDir(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	dir := filepath.Join(root, "..", "shared", "bench")
	if _, err := os.Stat(filepath.Join(dir, "offerings.json")); err != nil {
		tb.Skipf("benchmark corpus %s not present (it lives outside the project; CI has it): %v", dir, err)
	}
	return dir
}

func benchWorkloads(tb testing.TB) (offerings []cloudprovider.Offering, files []string) {
	dir := benchDir(tb)
	offerings, err := cloudprovider.LoadOfferings(filepath.Join(dir, "offerings.json"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, set := range []string{"workloads", "constraints"} {
		found, err := filepath.Glob(filepath.Join(dir, set, "*.yaml"))
		if err != nil {
			tb.Fatal(err)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return offerings, files
}

// BenchmarkSolve plans every bench workload and reports quality next to speed.
func BenchmarkSolve(b *testing.B) {
	offerings, files := benchWorkloads(b)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		w, err := LoadWorkload(f)
		if err != nil {
			b.Fatal(err)
		}
		in := w.Input(offerings)
		b.Run(name, func(b *testing.B) {
			var plan *Plan
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if plan, err = Solve(in); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start).Seconds() / float64(b.N)
			b.ReportMetric(float64(plan.Pending)/elapsed, "pods/s")
			b.ReportMetric(float64(len(plan.NewNodes)), "new-nodes")
			b.ReportMetric(plan.HourlyCost, "$/h")
			b.ReportMetric(plan.LowerBound, "LB-$/h")
			b.ReportMetric(plan.CostRatio(), "cost/LB")
			b.ReportMetric(float64(len(plan.Unschedulable)), "unschedulable")
		})
	}
}

// TestBenchWorkloadsPlacementsValid plans every bench workload and re-checks each placement
// with the framework's Filter, and the plan's bookkeeping against the input.
func TestBenchWorkloadsPlacementsValid(t *testing.T) {
	offerings, files := benchWorkloads(t)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			if testing.Short() && strings.Contains(name, "20k") {
				t.Skip("large workload skipped in -short mode")
			}
			g := NewWithT(t)
			w, err := LoadWorkload(f)
			g.Expect(err).NotTo(HaveOccurred())
			in := w.Input(offerings)
			// The autoscaler's default deadline bounds the run (under -race the constraints
			// set may be cut); a cut plan must be as valid as a whole one.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			in.ctx = ctx
			plan, s, err := solveKeep(in)
			g.Expect(err).NotTo(HaveOccurred())
			defer s.sched.Close()
			g.Expect(plan.OnExisting() + plan.OnNew() + len(plan.Unschedulable)).To(Equal(plan.Pending))
			g.Expect(plan.HourlyCost).To(BeNumerically(">=", plan.LowerBound-1e-9))
			orderDependent, skipped := spreadOrderDependent(in.Pods), 0
			for _, p := range in.Pods {
				if p.Spec.NodeName == "" && orderDependent(p) {
					skipped++
				}
			}
			if skipped > 0 {
				t.Logf("%d pending pods have a spread that other pods' arrival order decides; not re-checked in the final cluster", skipped)
			}
			expectPlacementsValidExcept(g, in, plan, s, orderDependent)
		})
	}
}
