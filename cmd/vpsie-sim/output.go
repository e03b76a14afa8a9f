package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/samber/lo"
	corev1 "k8s.io/api/core/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator"
)

// summary is the plan as printed; its JSON form is the command's machine-readable contract
// (the bench harness and anyone checking a plan independently read it).
type summary struct {
	Pending            int            `json:"pending"`
	OnExisting         int            `json:"on_existing"`
	OnNew              int            `json:"on_new"`
	Unschedulable      int            `json:"unschedulable"`
	NewNodes           map[string]int `json:"new_nodes"`
	NewNodeCount       int            `json:"new_node_count"`
	HourlyCost         float64        `json:"hourly_cost"`
	MonthlyCost        float64        `json:"monthly_cost"`
	LowerBoundHourly   float64        `json:"lower_bound_hourly"`
	CostOverLowerBound float64        `json:"cost_over_lower_bound"`
	SolveSeconds       float64        `json:"solve_seconds"`
	ReplaySeconds      float64        `json:"replay_seconds"` // the part of solve_seconds the scheduler replay took
	Cut                bool           `json:"cut"`            // the deadline cut the solve short: the best plan found in time
	Deferred           int            `json:"deferred,omitempty"`
	LowerBoundError    string         `json:"lower_bound_error,omitempty"`
	// Replay is how kube-scheduler would meet the packed plan, and what the plan gained so it
	// strands no pod (absent with --no-replay).
	Replay               *simulator.Replay `json:"replay,omitempty"`
	UnschedulableReasons []podReasons      `json:"unschedulable_reasons"`
	Placements           []placementEntry  `json:"placements"`

	offerings []offeringLine
}

type podReasons struct {
	Pod     string   `json:"pod"`
	Reasons []string `json:"reasons"`
}

type placementEntry struct {
	Node      string `json:"node"`
	New       bool   `json:"new"`
	NodeGroup string `json:"nodegroup"`
	Offering  string `json:"offering"`
	// HourlyPrice is the new node's price; 0 for existing nodes (already paid for).
	HourlyPrice float64  `json:"hourly_price"`
	Pods        []string `json:"pods"`
}

// offeringLine is one row of the "new nodes by offering" table.
type offeringLine struct {
	Name      string
	NodeGroup string
	Count     int
	Price     float64
}

func summarize(p *simulator.Plan, in simulator.Input) *summary {
	s := &summary{
		Pending:              p.Pending,
		OnExisting:           p.OnExisting(),
		OnNew:                p.OnNew(),
		Unschedulable:        len(p.Unschedulable),
		NewNodes:             p.NewNodesByOffering(),
		NewNodeCount:         len(p.NewNodes),
		HourlyCost:           p.HourlyCost,
		MonthlyCost:          p.HourlyCost * cloudprovider.HoursPerMonth,
		LowerBoundHourly:     p.LowerBound,
		CostOverLowerBound:   p.CostRatio(),
		SolveSeconds:         p.SolveTime.Seconds(),
		ReplaySeconds:        p.ReplayTime.Seconds(),
		Cut:                  p.DeadlineExceeded,
		Replay:               p.Replay,
		Deferred:             len(p.Deferred),
		LowerBoundError:      p.LowerBoundError,
		UnschedulableReasons: []podReasons{},
		Placements:           []placementEntry{},
	}
	nodes := lo.KeyBy(in.Nodes, func(n *corev1.Node) string { return n.Name })
	for _, e := range p.Existing {
		entry := placementEntry{Node: e.Node, Pods: e.Pods}
		if n := nodes[e.Node]; n != nil {
			entry.NodeGroup = n.Labels[v1alpha1.LabelNodeGroup]
			entry.Offering = n.Labels[v1alpha1.LabelInstanceType]
		}
		s.Placements = append(s.Placements, entry)
	}
	lines := map[[2]string]*offeringLine{}
	for _, n := range p.NewNodes {
		s.Placements = append(s.Placements, placementEntry{
			Node: n.Name, New: true, NodeGroup: n.NodeGroup, Offering: n.Offering.Name,
			HourlyPrice: n.Offering.HourlyPrice, Pods: n.Pods,
		})
		key := [2]string{n.NodeGroup, n.Offering.Name}
		if lines[key] == nil {
			lines[key] = &offeringLine{Name: n.Offering.Name, NodeGroup: n.NodeGroup, Price: n.Offering.HourlyPrice}
		}
		lines[key].Count++
	}
	s.offerings = lo.Map(lo.Values(lines), func(l *offeringLine, _ int) offeringLine { return *l })
	slices.SortFunc(s.offerings, func(a, b offeringLine) int {
		return cmp.Or(cmp.Compare(a.NodeGroup, b.NodeGroup), cmp.Compare(a.Price, b.Price), cmp.Compare(a.Name, b.Name))
	})
	s.UnschedulableReasons = append(s.UnschedulableReasons, lo.Map(p.Unschedulable, func(u simulator.Unschedulable, _ int) podReasons {
		return podReasons{Pod: u.Pod, Reasons: u.Reasons}
	})...)
	return s
}

func writeJSON(w io.Writer, s *summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// maxPodsPerReason bounds how many pod names the text output lists for one set of reasons; the
// JSON output has them all.
const maxPodsPerReason = 5

func writeText(w io.Writer, s *summary, inputs []string) error {
	ew := &errWriter{w: w}
	ew.printf("Plan for %s\n\n", strings.Join(inputs, ", "))
	ew.printf("Pods pending            %d\n", s.Pending)
	ew.printf("  on existing nodes     %d\n", s.OnExisting)
	ew.printf("  on new nodes          %d\n", s.OnNew)
	ew.printf("  unschedulable         %d\n\n", s.Unschedulable)

	if len(s.offerings) == 0 {
		ew.printf("No new nodes.\n\n")
	} else {
		ew.printf("New nodes: %d\n", s.NewNodeCount)
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		// tw writes through ew, which keeps the first error.
		_, _ = fmt.Fprintf(tw, "  NODEGROUP\tOFFERING\tCOUNT\t$/H EACH\t$/H TOTAL\n")
		for _, l := range s.offerings {
			_, _ = fmt.Fprintf(tw, "  %s\t%s\t%d\t%.5f\t%.4f\n", l.NodeGroup, l.Name, l.Count, l.Price, l.Price*float64(l.Count))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		ew.printf("\n")
	}
	ew.printf("Cost                    $%.4f/h  ($%.2f/month)\n", s.HourlyCost, s.MonthlyCost)
	ew.printf("Lower bound             $%.4f/h\n", s.LowerBoundHourly)
	ew.printf("Efficiency (cost/LB)    %.3f\n", s.CostOverLowerBound)
	ew.printf("Solve time              %.3fs (scheduler replay %.3fs)\n", s.SolveSeconds, s.ReplaySeconds)
	if s.LowerBoundError != "" {
		ew.printf("Lower bound missing     %s\n", s.LowerBoundError)
	}
	if r := s.Replay; r != nil {
		if r.Ran {
			ew.printf("Scheduler replay        packed plan $%.4f/h strands %d pods; %d nodes added, %d pods moved, %d still stranded\n",
				r.PackedHourlyCost, r.Stranded, r.AddedNodes, r.Moved, r.Remaining)
			if r.Alternative != "" {
				ew.printf("                        taken instead: the %s plan, $%.4f/h, which the scheduler follows (packed plan plus a second round: $%.4f/h)\n",
					r.Alternative, r.SafeHourlyCost, r.SecondRoundHourlyCost)
			}
		} else {
			ew.printf("Scheduler replay        not run: %s\n", r.Skipped)
		}
	}
	if s.Cut {
		ew.printf("Deadline                reached: best plan so far; %d pods left for a later plan\n", s.Deferred)
	}

	if len(s.UnschedulableReasons) > 0 {
		ew.printf("\nUnschedulable pods: %d\n", len(s.UnschedulableReasons))
		for _, g := range groupByReasons(s.UnschedulableReasons) {
			names := g.Pods
			more := ""
			if len(names) > maxPodsPerReason {
				more = fmt.Sprintf(" and %d more", len(names)-maxPodsPerReason)
				names = names[:maxPodsPerReason]
			}
			ew.printf("  %s%s\n", strings.Join(names, ", "), more)
			for _, r := range g.Reasons {
				ew.printf("    - %s\n", r)
			}
		}
	}
	return ew.err
}

type reasonGroup struct {
	Reasons []string
	Pods    []string
}

// groupByReasons folds pods with identical reasons together (a replica set that cannot run
// anywhere would otherwise repeat the same lines once per replica), keeping first-seen order.
func groupByReasons(in []podReasons) []reasonGroup {
	var out []reasonGroup
	index := map[string]int{}
	for _, pr := range in {
		key := strings.Join(pr.Reasons, "\x00")
		i, ok := index[key]
		if !ok {
			i = len(out)
			index[key] = i
			out = append(out, reasonGroup{Reasons: pr.Reasons})
		}
		out[i].Pods = append(out[i].Pods, pr.Pod)
	}
	return out
}

// errWriter keeps the first write error so the text output reads as a list of prints.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) {
	_, _ = fmt.Fprintf(e, format, args...)
}
