package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func ok(name string, cost, lb float64, unschedulable int) Result {
	return Result{Workload: name, Pending: 10, OnNew: 10 - unschedulable, Unschedulable: unschedulable,
		HourlyCost: cost, LowerBound: lb, CostOverLB: ratio(cost, lb), NewNodes: 3, SolveSeconds: 0.5, PeakMiB: 100}
}

func testThresholds() *Thresholds {
	return &Thresholds{
		MaxAverageCostOverLB: 1.2,
		Default:              WorkloadThreshold{MaxCostOverLB: 1.1},
		Workloads: map[string]WorkloadThreshold{
			"w07": {MaxCostOverLB: 1.3, Unschedulable: 4},
		},
	}
}

func TestRatio(t *testing.T) {
	g := NewWithT(t)
	g.Expect(ratio(2, 1)).To(Equal(2.0))
	g.Expect(ratio(0, 0)).To(Equal(1.0))
	g.Expect(math.IsInf(ratio(1, 0), 1)).To(BeTrue())
}

func TestAverageRatioSkipsFailedRuns(t *testing.T) {
	g := NewWithT(t)
	g.Expect(AverageRatio(nil)).To(BeZero())
	g.Expect(AverageRatio([]Result{ok("a", 1.1, 1, 0), ok("b", 1.3, 1, 0), {Workload: "c", Error: "boom"}})).To(BeNumerically("~", 1.2, 1e-12))
}

func TestFormatTable(t *testing.T) {
	g := NewWithT(t)
	c01 := ok("c01-diverse-2k", 1.2, 1, 0)
	c01.Set, c01.Cut, c01.Stranded, c01.Remaining = setConstraints, true, -1, -1
	w01 := ok("w01-web-600", 2.2604, 2.2166, 0)
	w01.Stranded, w01.Remaining, w01.FinalHourlyCost, w01.ReplaySeconds = 12, 0, 2.4, 0.25
	out := FormatTable([]Result{w01, {Workload: "w99", Error: "exit status 2", PeakMiB: 12, WallSeconds: 0.5}, c01},
		map[string]Peer{"c01-diverse-2k": {SolveSeconds: 0.64, CostOverLB: 1.87}})
	lines := strings.Split(strings.TrimSpace(out), "\n")
	g.Expect(lines).To(HaveLen(8))
	g.Expect(lines[0]).To(MatchRegexp(`^\| workload +\| pending +\| new nodes +\| \$/h +\| LB \$/h +\| cost/LB +\| solve s +\| peak MiB +\|`))
	g.Expect(lines[1]).To(HavePrefix("| --- "))
	g.Expect(lines[2]).To(MatchRegexp(`^\| w01-web-600 +\| 10 +\| 3 +\| 2\.2604 +\| 2\.2166 +\| 1\.020 +\| 0\.500 +\| 100 +\| 0 `))
	// The replay: what the packed plan strands and the final plan does not, at its price.
	g.Expect(lines[2]).To(MatchRegexp(`\| no +\| 12 -> 0 +\| 2\.4000 +\| 0\.25 +\| +\| +\|$`))
	g.Expect(lines[3]).To(MatchRegexp(`^\| w99 +\| error `))
	// A cut plan says so, and Karpenter's figures on the same file stand beside ours.
	g.Expect(lines[4]).To(MatchRegexp(`^\| c01-diverse-2k .*\| yes +\| - +\| .*\| 0\.64 +\| 1\.87 +\|$`))
	// Columns line up: every row has its separators at the same offsets.
	for _, l := range lines[1:5] {
		g.Expect(pipes(l)).To(Equal(pipes(lines[0])), l)
	}
	// Each set has its own average: the constraints set does not move the plain one.
	g.Expect(lines[6]).To(Equal("average cost/LB: 1.020"))
	g.Expect(lines[7]).To(Equal("average cost/LB (constraints): 1.200"))
}

func pipes(line string) []int {
	var at []int
	for i, r := range line {
		if r == '|' {
			at = append(at, i)
		}
	}
	return at
}

func TestCheck(t *testing.T) {
	cases := map[string]struct {
		results []Result
		want    []string
	}{
		"all within":                {results: []Result{ok("w01", 1.05, 1, 0), ok("w07", 1.25, 1, 4)}},
		"at the threshold is fine":  {results: []Result{ok("w01", 1.1, 1, 0)}},
		"cost over the default":     {results: []Result{ok("w01", 1.15, 1, 0)}, want: []string{"w01: cost/LB 1.1500 exceeds the threshold 1.1000"}},
		"cost over its own":         {results: []Result{ok("w07", 1.31, 1, 4)}, want: []string{"w07: cost/LB 1.3100 exceeds the threshold 1.3000", "average cost/LB 1.3100 exceeds the threshold 1.2000"}},
		"fewer unschedulable":       {results: []Result{ok("w07", 1.0, 1, 3)}, want: []string{"w07: 3 pods unschedulable, expected exactly 4"}},
		"more unschedulable":        {results: []Result{ok("w01", 1.0, 1, 1)}, want: []string{"w01: 1 pods unschedulable, expected exactly 0"}},
		"average over":              {results: []Result{ok("w01", 1.1, 1, 0), ok("w07", 1.3, 1, 4), ok("w02", 1.1, 1, 0), ok("w03", 1.4, 1.0, 0)}, want: []string{"w03: cost/LB 1.4000 exceeds the threshold 1.1000", "average cost/LB 1.2250 exceeds the threshold 1.2000"}},
		"failed run":                {results: []Result{{Workload: "w01", Error: "exit status 2: bad"}}, want: []string{"w01: vpsie-sim failed: exit status 2: bad"}},
		"pods unaccounted":          {results: []Result{{Workload: "w01", Pending: 10, OnNew: 8, CostOverLB: 1}}, want: []string{"w01: 10 pending pods but 0 on existing + 8 on new + 0 unschedulable"}},
		"infinite ratio (no bound)": {results: []Result{ok("w01", 1, 0, 0)}, want: []string{"w01: cost/LB +Inf exceeds the threshold 1.1000", "average cost/LB +Inf exceeds the threshold 1.2000"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			got := testThresholds().Check(tc.results)
			if tc.want == nil {
				g.Expect(got).To(BeEmpty())
			} else {
				g.Expect(got).To(Equal(tc.want))
			}
		})
	}
}

func TestGoalsMissed(t *testing.T) {
	g := NewWithT(t)
	goals := Goals{MaxCostOverLB: 1.05, MaxAverageCostOverLB: 1.03, MaxSolveSeconds: 1,
		SolveSeconds: map[string]float64{"w04": 2}, PeakMiB: map[string]float64{"w04": 1024}}
	big := ok("w04", 1.04, 1, 0)
	big.SolveSeconds, big.PeakMiB = 1.5, 1100
	slow := ok("w01", 1.02, 1, 0)
	slow.SolveSeconds = 1.2
	// w04's own solve limit (2s) replaces the general one; the average (1.03) is at the goal.
	g.Expect(goals.Missed([]Result{big, slow}, nil)).To(Equal([]string{
		"w04: peak memory 1100 MiB > 1024 MiB",
		"w01: solve 1.20s > 1.00s",
	}))
	g.Expect(goals.Missed([]Result{ok("w02", 1.06, 1, 0)}, nil)).To(Equal([]string{"w02: cost/LB 1.060 > 1.050", "average cost/LB 1.060 > 1.030"}))
}

func TestConstraintGoalsMissed(t *testing.T) {
	g := NewWithT(t)
	th := &Thresholds{
		Goals:           Goals{MaxCostOverLB: 1.05},
		ConstraintGoals: Goals{MaxCostOverLB: 1.10, MaxSolveSeconds: 2, MaxPeakMiB: 512, NotCut: true, BeatPeers: true},
		Karpenter:       map[string]Peer{"c01": {SolveSeconds: 0.64, CostOverLB: 1.87}, "c03": {SolveSeconds: 2.4, CostOverLB: 1.55}},
	}
	c01 := ok("c01", 1.08, 1, 0)
	c01.Set, c01.Cut, c01.SolveSeconds, c01.PeakMiB = setConstraints, true, 1.5, 600
	c03 := ok("c03", 1.6, 1, 0)
	c03.Set = setConstraints
	// The plain goal (1.05) does not apply to the constraints set: its own (1.10) does, and so
	// do the deadline, memory and Karpenter's figures.
	g.Expect(th.GoalsMissed([]Result{ok("w01", 1.04, 1, 0), c01, c03})).To(Equal([]string{
		"c01: peak memory 600 MiB > 512 MiB",
		"c01: cut by the deadline",
		"c01: solve 1.50s slower than Karpenter's 0.64s",
		"c03: cost/LB 1.600 > 1.100",
		"c03: cost/LB 1.600 not below Karpenter's 1.55",
	}))
}

func TestCommittedThresholds(t *testing.T) {
	g := NewWithT(t)
	th, err := loadThresholds("thresholds.json")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(th.Workloads).To(HaveKeyWithValue("w07-constrained-1k", HaveField("Unschedulable", 4)))
	for name, w := range th.Workloads {
		g.Expect(w.MaxCostOverLB).To(BeNumerically(">=", 1), name)
		if name != "w07-constrained-1k" {
			g.Expect(w.Unschedulable).To(BeZero(), name)
		}
	}
	g.Expect(th.Goals.MaxCostOverLB).To(Equal(1.05))
	g.Expect(th.Goals.MaxAverageCostOverLB).To(Equal(1.03))
	g.Expect(th.Goals.SolveSeconds).To(HaveKeyWithValue("w04-mixed-20k", 2.0))
	g.Expect(th.Goals.PeakMiB).To(HaveKeyWithValue("w04-mixed-20k", 1024.0))
	g.Expect(th.ConstraintGoals).To(And(HaveField("MaxCostOverLB", 1.10), HaveField("MaxSolveSeconds", 2.0), HaveField("MaxPeakMiB", 512.0),
		HaveField("NotCut", true), HaveField("BeatPeers", true)))
	g.Expect(th.ConstraintGoals.SolveSeconds).To(HaveKeyWithValue("c02-steady-500n-40p", 0.05))
	g.Expect(th.Karpenter).To(HaveKeyWithValue("c01-diverse-2k", Peer{SolveSeconds: 0.64, CostOverLB: 1.87}))
}

func TestLoadThresholdsRejectsNonsense(t *testing.T) {
	for name, content := range map[string]string{
		"not json":          `{`,
		"no default":        `{"max_average_cost_over_lb": 1.1}`,
		"no average":        `{"default": {"max_cost_over_lb": 1.1}}`,
		"zero for workload": `{"max_average_cost_over_lb": 1.1, "default": {"max_cost_over_lb": 1.1}, "workloads": {"w": {}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			path := filepath.Join(t.TempDir(), "t.json")
			g.Expect(os.WriteFile(path, []byte(content), 0o600)).To(Succeed())
			_, err := loadThresholds(path)
			g.Expect(err).To(HaveOccurred())
		})
	}
}

// fakeCorpus makes a bench directory with the given workload names and a stand-in for
// vpsie-sim that answers every workload with the given JSON.
func fakeCorpus(t *testing.T, answer string, workloads ...string) (dir, bin string) {
	t.Helper()
	g := NewWithT(t)
	dir = t.TempDir()
	g.Expect(os.MkdirAll(filepath.Join(dir, "workloads"), 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(dir, "offerings.json"), []byte("[]"), 0o600)).To(Succeed())
	for _, w := range workloads {
		g.Expect(os.WriteFile(filepath.Join(dir, "workloads", w+".yaml"), nil, 0o600)).To(Succeed())
	}
	bin = filepath.Join(t.TempDir(), "vpsie-sim")
	script := "#!/bin/sh\ncat <<'EOF'\n" + answer + "\nEOF\n"
	g.Expect(os.WriteFile(bin, []byte(script), 0o755)).To(Succeed())
	return dir, bin
}

const goodAnswer = `{"pending": 10, "on_existing": 2, "on_new": 8, "unschedulable": 0, "new_nodes": {"a": 2, "b": 1},
 "hourly_cost": 1.05, "lower_bound_hourly": 1.0, "solve_seconds": 0.25}`

func TestRunWritesTableAndJSON(t *testing.T) {
	g := NewWithT(t)
	dir, bin := fakeCorpus(t, goodAnswer, "w02", "w01")
	out := filepath.Join(t.TempDir(), "sub", "bench.json")
	var stdout, stderr bytes.Buffer
	g.Expect(run([]string{"--bin", bin, "--bench-dir", dir, "--out", out}, &stdout, &stderr)).To(Equal(0), stderr.String())
	g.Expect(stdout.String()).To(MatchRegexp(`(?m)^\| w01 +\| 10 +\| 3 +\| 1\.0500 +\| 1\.0000 +\| 1\.050 +\| 0\.250 `))
	g.Expect(strings.Index(stdout.String(), "| w01")).To(BeNumerically("<", strings.Index(stdout.String(), "| w02")))

	var report Report
	data, err := os.ReadFile(out)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(json.Unmarshal(data, &report)).To(Succeed())
	g.Expect(report.Results).To(HaveLen(2))
	g.Expect(report.Results[0].OnExisting).To(Equal(2))
	g.Expect(report.Results[0].PeakMiB).To(BeNumerically(">", 0), "peak RSS comes from the child's rusage")
	g.Expect(report.AverageCostOverLB).To(BeNumerically("~", 1.05, 1e-9))
}

func TestRunIncludesTheConstraintsSet(t *testing.T) {
	g := NewWithT(t)
	dir, bin := fakeCorpus(t, goodAnswer, "w01")
	g.Expect(os.MkdirAll(filepath.Join(dir, "constraints"), 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(dir, "constraints", "c01.yaml"), nil, 0o600)).To(Succeed())
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	g.Expect(run([]string{"--bin", bin, "--bench-dir", dir, "--out", out}, &stdout, &stderr)).To(Equal(0), stderr.String())
	g.Expect(stdout.String()).To(ContainSubstring("average cost/LB (constraints): 1.050"))
	var report Report
	data, err := os.ReadFile(out)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(json.Unmarshal(data, &report)).To(Succeed())
	g.Expect(report.Results).To(HaveLen(2))
	g.Expect(report.Results[0]).To(HaveField("Set", "workloads"))
	g.Expect(report.Results[1]).To(And(HaveField("Workload", "c01"), HaveField("Set", "constraints")))
}

func TestRunCheck(t *testing.T) {
	g := NewWithT(t)
	th := filepath.Join(t.TempDir(), "thresholds.json")
	g.Expect(os.WriteFile(th, []byte(`{"max_average_cost_over_lb": 1.2, "default": {"max_cost_over_lb": 1.04},
		"workloads": {"w01": {"max_cost_over_lb": 1.06}}}`), 0o600)).To(Succeed())
	dir, bin := fakeCorpus(t, goodAnswer, "w01")
	var stdout, stderr bytes.Buffer
	g.Expect(run([]string{"--check", "--bin", bin, "--bench-dir", dir, "--thresholds", th, "--out", ""}, &stdout, &stderr)).To(Equal(0), stderr.String())
	g.Expect(stdout.String()).To(ContainSubstring("bench-check passed"))

	dir, bin = fakeCorpus(t, goodAnswer, "w01", "w02")
	stdout.Reset()
	g.Expect(run([]string{"--check", "--bin", bin, "--bench-dir", dir, "--thresholds", th, "--out", ""}, &stdout, &stderr)).To(Equal(1))
	g.Expect(stdout.String()).To(ContainSubstring("bench-check FAILED (1):\n  - w02: cost/LB 1.0500 exceeds the threshold 1.0400"))
}

func TestRunReportsAFailingPlan(t *testing.T) {
	g := NewWithT(t)
	dir, bin := fakeCorpus(t, "not json", "w01")
	var stdout, stderr bytes.Buffer
	g.Expect(run([]string{"--bin", bin, "--bench-dir", dir, "--out", ""}, &stdout, &stderr)).To(Equal(1))
	g.Expect(stderr.String()).To(ContainSubstring("w01: decoding vpsie-sim output"))
	g.Expect(stdout.String()).To(MatchRegexp(`\| w01 +\| error`))
}

func TestRunFailsAPlanWithoutALowerBound(t *testing.T) {
	g := NewWithT(t)
	dir, bin := fakeCorpus(t, `{"pending": 1, "on_new": 1, "hourly_cost": 1.0, "lower_bound_hourly": 0,
		"lower_bound_error": "not computed: the solve deadline was reached"}`, "w01")
	out := filepath.Join(t.TempDir(), "bench.json")
	var stdout, stderr bytes.Buffer
	g.Expect(run([]string{"--bin", bin, "--bench-dir", dir, "--out", out}, &stdout, &stderr)).To(Equal(1))
	g.Expect(stderr.String()).To(ContainSubstring("w01: no lower bound: not computed: the solve deadline was reached"))
	data, err := os.ReadFile(out)
	g.Expect(err).NotTo(HaveOccurred(), "the report is written (no infinite ratio in it)")
	g.Expect(string(data)).NotTo(ContainSubstring("Inf"))
}

func TestRunWithoutTheCorpus(t *testing.T) {
	g := NewWithT(t)
	missing := filepath.Join(t.TempDir(), "shared", "bench")
	var stdout, stderr bytes.Buffer
	g.Expect(run([]string{"--check", "--bench-dir", missing}, &stdout, &stderr)).To(Equal(0))
	g.Expect(stdout.String()).To(HavePrefix("bench-check: skipped, the bench corpus " + missing + " is not present"))

	examples, bin := fakeCorpus(t, goodAnswer, "web-60")
	stdout.Reset()
	g.Expect(run([]string{"--bench-dir", missing, "--examples", examples, "--bin", bin, "--out", ""}, &stdout, &stderr)).To(Equal(0), stderr.String())
	g.Expect(stdout.String()).To(ContainSubstring("using the example workloads in " + examples))
	g.Expect(stdout.String()).To(MatchRegexp(`\| web-60 +\| 10 `))
}
