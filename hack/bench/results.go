package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"text/tabwriter"
)

// Result is one workload's run.
type Result struct {
	Workload string `json:"workload"`
	// Set is the corpus directory the workload came from: workloads (plain) or constraints.
	Set           string  `json:"set,omitempty"`
	Pending       int     `json:"pending"`
	OnExisting    int     `json:"on_existing"`
	OnNew         int     `json:"on_new"`
	Unschedulable int     `json:"unschedulable"`
	NewNodes      int     `json:"new_nodes"`
	HourlyCost    float64 `json:"hourly_cost"`
	LowerBound    float64 `json:"lower_bound_hourly"`
	CostOverLB    float64 `json:"cost_over_lb"`
	SolveSeconds  float64 `json:"solve_seconds"`
	// The scheduler replay after packing: what kube-scheduler would strand of the packed plan
	// and of the final one (-1: the replay did not run), the final plan's price, and the time.
	Stranded        int     `json:"stranded"`
	Remaining       int     `json:"remaining"`
	FinalHourlyCost float64 `json:"final_hourly_cost"`
	ReplaySeconds   float64 `json:"replay_seconds"`
	// WallSeconds is the whole process: reading and decoding the workload included.
	WallSeconds float64 `json:"wall_seconds"`
	PeakMiB     float64 `json:"peak_mib"`
	// Cut: the solve deadline cut the plan short (vpsie-sim's "cut").
	Cut   bool   `json:"cut,omitempty"`
	Error string `json:"error,omitempty"`
}

// Peer is another autoscaler's figure on the same file and catalogue (0: not measured).
type Peer struct {
	SolveSeconds float64 `json:"solve_seconds,omitempty"`
	CostOverLB   float64 `json:"cost_over_lb,omitempty"`
}

// plainSet keeps the results of the plain workloads: the averages of issue 3 are over them, and
// the constraint-heavy set has its own goals.
func plainSet(results []Result) []Result {
	return inSet(results, setPlain)
}

func inSet(results []Result, set string) []Result {
	var out []Result
	for _, r := range results {
		if r.Set == set || (set == setPlain && r.Set == "") {
			out = append(out, r)
		}
	}
	return out
}

// Report is what _output/bench.json holds.
type Report struct {
	Corpus            string   `json:"corpus"`
	Results           []Result `json:"results"`
	AverageCostOverLB float64  `json:"average_cost_over_lb"`
	Violations        []string `json:"violations,omitempty"`
	GoalsMissed       []string `json:"goals_missed,omitempty"`
}

// ratio is cost over lower bound; a plan that costs nothing against a zero bound is perfect.
func ratio(cost, lowerBound float64) float64 {
	if lowerBound <= 0 {
		if cost <= 0 {
			return 1
		}
		return math.Inf(1)
	}
	return cost / lowerBound
}

// strandedCell is "packed -> final": the pods the replay strands, or "-" when it did not run.
func strandedCell(r Result) string {
	switch {
	case r.Stranded < 0:
		return "-"
	case r.Stranded == r.Remaining:
		return fmt.Sprint(r.Stranded)
	}
	return fmt.Sprintf("%d -> %d", r.Stranded, r.Remaining)
}

// AverageRatio is the mean cost/LB over the workloads that ran.
func AverageRatio(results []Result) float64 {
	sum, n := 0.0, 0
	for _, r := range results {
		if r.Error == "" {
			sum += r.CostOverLB
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// FormatTable renders the results as a Markdown table (readable in a terminal too), with
// Karpenter's figures on the same files where peers has them, and the average cost/LB of each
// set below.
func FormatTable(results []Result, peers map[string]Peer) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 1, ' ', 0)
	columns := []string{"workload", "pending", "new nodes", "$/h", "LB $/h", "cost/LB", "solve s", "peak MiB", "unschedulable", "wall s", "cut",
		"stranded", "final $/h", "replay s", "Karpenter solve s", "Karpenter cost/LB"}
	row := func(cells ...string) {
		_, _ = fmt.Fprintf(tw, "| %s\t|\n", strings.Join(cells, "\t| "))
	}
	row(columns...)
	dashes := make([]string, len(columns))
	for i := range dashes {
		dashes[i] = "---"
	}
	row(dashes...)
	for _, r := range results {
		peer := peers[r.Workload]
		peerSolve, peerCost := "", ""
		if peer.SolveSeconds > 0 {
			peerSolve = fmt.Sprintf("%.2f", peer.SolveSeconds)
		}
		if peer.CostOverLB > 0 {
			peerCost = fmt.Sprintf("%.2f", peer.CostOverLB)
		}
		if r.Error != "" {
			row(r.Workload, "error", "", "", "", "", "", fmt.Sprintf("%.0f", r.PeakMiB), "", fmt.Sprintf("%.2f", r.WallSeconds), "", "", "", "", peerSolve, peerCost)
			continue
		}
		cut := "no"
		if r.Cut {
			cut = "yes"
		}
		row(r.Workload, fmt.Sprint(r.Pending), fmt.Sprint(r.NewNodes), fmt.Sprintf("%.4f", r.HourlyCost), fmt.Sprintf("%.4f", r.LowerBound),
			fmt.Sprintf("%.3f", r.CostOverLB), fmt.Sprintf("%.3f", r.SolveSeconds), fmt.Sprintf("%.0f", r.PeakMiB),
			fmt.Sprint(r.Unschedulable), fmt.Sprintf("%.2f", r.WallSeconds), cut, strandedCell(r), fmt.Sprintf("%.4f", r.FinalHourlyCost),
			fmt.Sprintf("%.2f", r.ReplaySeconds), peerSolve, peerCost)
	}
	_ = tw.Flush()
	fmt.Fprintf(&b, "\naverage cost/LB: %.3f\n", AverageRatio(plainSet(results)))
	if c := inSet(results, setConstraints); len(c) > 0 {
		fmt.Fprintf(&b, "average cost/LB (constraints): %.3f\n", AverageRatio(c))
	}
	return b.String()
}

// Thresholds is hack/bench/thresholds.json: the quality bar bench-check enforces, ratcheted
// down as the packer improves, and the targets as goals (reported, not enforced).
type Thresholds struct {
	Comment string `json:"comment,omitempty"`
	// MaxAverageCostOverLB bounds the mean cost/LB over all workloads.
	MaxAverageCostOverLB float64 `json:"max_average_cost_over_lb"`
	// Default applies to workloads the file does not name.
	Default   WorkloadThreshold            `json:"default"`
	Workloads map[string]WorkloadThreshold `json:"workloads"`
	// Goals apply to the plain set, ConstraintGoals to the constraints set.
	Goals           Goals `json:"goals"`
	ConstraintGoals Goals `json:"constraint_goals"`
	// Karpenter's figures on the same files, shown in the table and compared by the goals.
	Karpenter map[string]Peer `json:"karpenter,omitempty"`
}

// WorkloadThreshold is the bar for one workload.
type WorkloadThreshold struct {
	MaxCostOverLB float64 `json:"max_cost_over_lb"`
	// Unschedulable is the exact number of pods the plan must leave out.
	Unschedulable int `json:"unschedulable"`
}

// Goals are targets on the 2-core reference machine (issue 3 for the plain set, issue 8 for the
// constraints set): reported, not enforced.
type Goals struct {
	Comment              string             `json:"comment,omitempty"`
	MaxCostOverLB        float64            `json:"max_cost_over_lb"`
	MaxAverageCostOverLB float64            `json:"max_average_cost_over_lb"`
	MaxSolveSeconds      float64            `json:"max_solve_seconds"`
	SolveSeconds         map[string]float64 `json:"solve_seconds,omitempty"`
	PeakMiB              map[string]float64 `json:"peak_mib,omitempty"`
	MaxPeakMiB           float64            `json:"max_peak_mib,omitempty"`
	// NotCut: the plan must be whole within the deadline.
	NotCut bool `json:"not_cut,omitempty"`
	// BeatPeers: no slower and no costlier (cost/LB) than the peers' figures on the same file.
	BeatPeers bool `json:"beat_peers,omitempty"`
}

func loadThresholds(path string) (*Thresholds, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading thresholds, %w", err)
	}
	th := &Thresholds{}
	if err := json.Unmarshal(data, th); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if th.Default.MaxCostOverLB <= 0 || th.MaxAverageCostOverLB <= 0 {
		return nil, fmt.Errorf("%s: default.max_cost_over_lb and max_average_cost_over_lb must be positive", path)
	}
	for name, w := range th.Workloads {
		if w.MaxCostOverLB <= 0 {
			return nil, fmt.Errorf("%s: workload %s: max_cost_over_lb must be positive", path, name)
		}
	}
	return th, nil
}

func (th *Thresholds) forWorkload(name string) WorkloadThreshold {
	if w, ok := th.Workloads[name]; ok {
		return w
	}
	return th.Default
}

// Check lists every way the results miss the thresholds; empty means bench-check passes.
func (th *Thresholds) Check(results []Result) []string {
	var out []string
	for _, r := range results {
		if r.Error != "" {
			out = append(out, fmt.Sprintf("%s: vpsie-sim failed: %s", r.Workload, r.Error))
			continue
		}
		w := th.forWorkload(r.Workload)
		if r.CostOverLB > w.MaxCostOverLB {
			out = append(out, fmt.Sprintf("%s: cost/LB %.4f exceeds the threshold %.4f", r.Workload, r.CostOverLB, w.MaxCostOverLB))
		}
		if r.Unschedulable != w.Unschedulable {
			out = append(out, fmt.Sprintf("%s: %d pods unschedulable, expected exactly %d", r.Workload, r.Unschedulable, w.Unschedulable))
		}
		if r.OnExisting+r.OnNew+r.Unschedulable != r.Pending {
			out = append(out, fmt.Sprintf("%s: %d pending pods but %d on existing + %d on new + %d unschedulable",
				r.Workload, r.Pending, r.OnExisting, r.OnNew, r.Unschedulable))
		}
	}
	if avg := AverageRatio(plainSet(results)); avg > th.MaxAverageCostOverLB {
		out = append(out, fmt.Sprintf("average cost/LB %.4f exceeds the threshold %.4f", avg, th.MaxAverageCostOverLB))
	}
	return out
}

// GoalsMissed lists the goals of each set the results do not meet yet.
func (th *Thresholds) GoalsMissed(results []Result) []string {
	return append(th.Goals.Missed(plainSet(results), th.Karpenter),
		th.ConstraintGoals.Missed(inSet(results, setConstraints), th.Karpenter)...)
}

// Missed lists the goals the results do not meet yet.
func (g Goals) Missed(results []Result, peers map[string]Peer) []string {
	var out []string
	for _, r := range results {
		if r.Error != "" {
			continue
		}
		if g.MaxCostOverLB > 0 && r.CostOverLB > g.MaxCostOverLB {
			out = append(out, fmt.Sprintf("%s: cost/LB %.3f > %.3f", r.Workload, r.CostOverLB, g.MaxCostOverLB))
		}
		limit, ok := g.SolveSeconds[r.Workload]
		if !ok {
			limit = g.MaxSolveSeconds
		}
		if limit > 0 && r.SolveSeconds > limit {
			out = append(out, fmt.Sprintf("%s: solve %.2fs > %.2fs", r.Workload, r.SolveSeconds, limit))
		}
		mib, ok := g.PeakMiB[r.Workload]
		if !ok {
			mib = g.MaxPeakMiB
		}
		if mib > 0 && r.PeakMiB > mib {
			out = append(out, fmt.Sprintf("%s: peak memory %.0f MiB > %.0f MiB", r.Workload, r.PeakMiB, mib))
		}
		if g.NotCut && r.Cut {
			out = append(out, fmt.Sprintf("%s: cut by the deadline", r.Workload))
		}
		if p, ok := peers[r.Workload]; ok && g.BeatPeers {
			if p.SolveSeconds > 0 && r.SolveSeconds > p.SolveSeconds {
				out = append(out, fmt.Sprintf("%s: solve %.2fs slower than Karpenter's %.2fs", r.Workload, r.SolveSeconds, p.SolveSeconds))
			}
			if p.CostOverLB > 0 && r.CostOverLB >= p.CostOverLB {
				out = append(out, fmt.Sprintf("%s: cost/LB %.3f not below Karpenter's %.2f", r.Workload, r.CostOverLB, p.CostOverLB))
			}
		}
	}
	if len(results) == 0 {
		return out
	}
	if avg := AverageRatio(results); g.MaxAverageCostOverLB > 0 && avg > g.MaxAverageCostOverLB {
		out = append(out, fmt.Sprintf("average cost/LB %.3f > %.3f", avg, g.MaxAverageCostOverLB))
	}
	return out
}
