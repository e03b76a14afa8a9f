package simulator

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
)

// TestDebugPlan prints a plan summary for one bench workload, for working on the packer:
// SIM_DEBUG=w04-mixed-20k go test -run TestDebugPlan -v ./pkg/simulator/
func TestDebugPlan(t *testing.T) {
	name := os.Getenv("SIM_DEBUG")
	if name == "" {
		t.Skip("set SIM_DEBUG=<workload name> to print a plan summary")
	}
	offerings, _ := benchWorkloads(t)
	w, err := LoadWorkload(filepath.Join(benchDir(t), "workloads", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	plan, s, err := solveKeep(w.Input(offerings))
	if err != nil {
		t.Fatal(err)
	}
	defer s.sched.Close()
	all := make([]int, len(s.classes))
	for ci, c := range s.classes {
		all[ci] = len(c.pods)
	}
	if res, err := s.cover(all, false); err == nil {
		for ti, n := range res.nodes {
			if n > 1e-6 {
				fmt.Printf("  LP %s/%s %.2f\n", s.templates[ti].group.name, s.templates[ti].offering.Name, n)
			}
		}
	}
	fmt.Printf("pending %d existing %d new %d unsched %d cost %.3f lb %.3f ratio %.3f time %v\n", plan.Pending, plan.OnExisting(), plan.OnNew(), len(plan.Unschedulable), plan.HourlyCost, plan.LowerBound, plan.CostRatio(), plan.SolveTime)
	by := plan.NewNodesByOffering()
	var keys []string
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf("  %s x%d\n", k, by[k])
	}
	for i, u := range plan.Unschedulable {
		if i < 6 {
			fmt.Println("  U", u.Pod, u.Reasons)
		}
	}
}
