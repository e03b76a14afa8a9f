// Command bench runs vpsie-sim on every bench workload, one process per workload, and prints
// plan quality (cost against the lower bound), solve time and peak memory. With --check it
// fails when a workload's cost/LB exceeds the thresholds committed in hack/bench/thresholds.json
// or its unschedulable count differs from the expected one, so quality regressions cannot land.
//
// The bench corpus lives outside the project (../shared/bench; CI has it): the plain set in
// workloads/ and, when present, the constraint-heavy set in constraints/. Without it, bench falls
// back to the example workloads and --check skips.
package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	bin        string
	benchDir   string
	examples   string
	thresholds string
	out        string
	check      bool
}

func run(args []string, stdout, stderr io.Writer) int {
	o := options{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.bin, "bin", "_output/bin/vpsie-sim", "vpsie-sim binary to run")
	fs.StringVar(&o.benchDir, "bench-dir", "../shared/bench", "bench corpus: offerings.json, workloads/*.yaml and constraints/*.yaml")
	fs.StringVar(&o.examples, "examples", "hack/examples", "fallback when the corpus is absent: offerings.json and workloads/*.yaml")
	fs.StringVar(&o.thresholds, "thresholds", "hack/bench/thresholds.json", "committed cost/LB thresholds and expected unschedulable counts")
	fs.StringVar(&o.out, "out", "_output/bench.json", "where to write the results as JSON (empty: nowhere)")
	fs.BoolVar(&o.check, "check", false, "fail when a threshold is exceeded; skip when the corpus is absent")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}

	offerings, workloads, err := corpus(o.benchDir)
	if err != nil {
		if o.check {
			printf(stdout, "bench-check: skipped, the bench corpus %s is not present (it lives outside the project; CI has it): %v\n", o.benchDir, err)
			return 0
		}
		printf(stdout, "bench: the bench corpus %s is not present (it lives outside the project; CI has it): %v\n", o.benchDir, err)
		printf(stdout, "bench: using the example workloads in %s instead\n", o.examples)
		if offerings, workloads, err = corpus(o.examples); err != nil {
			printf(stderr, "bench: %v\n", err)
			return 1
		}
	}
	// The thresholds file also holds the peers' figures the table shows, so it is read whenever
	// it is there; only --check needs it.
	th, err := loadThresholds(o.thresholds)
	if err != nil {
		if o.check {
			printf(stderr, "bench: %v\n", err)
			return 1
		}
		th = nil
	}

	var results []Result
	failed := false
	for _, w := range workloads {
		r := runOne(o.bin, offerings, w.path)
		r.Set = w.set
		if r.Error != "" {
			failed = true
			printf(stderr, "bench: %s: %s\n", r.Workload, r.Error)
		}
		results = append(results, r)
	}
	var peers map[string]Peer
	if th != nil {
		peers = th.Karpenter
	}
	printf(stdout, "%s", FormatTable(results, peers))

	report := Report{Corpus: filepath.Dir(offerings), Results: results, AverageCostOverLB: AverageRatio(plainSet(results))}
	if th != nil {
		if o.check {
			report.Violations = th.Check(results)
		}
		report.GoalsMissed = th.GoalsMissed(results)
		for _, g := range report.GoalsMissed {
			printf(stdout, "goal not met yet (not enforced): %s\n", g)
		}
	}
	if o.out != "" {
		if err := writeReport(o.out, report); err != nil {
			printf(stderr, "bench: %v\n", err)
			return 1
		}
	}
	if len(report.Violations) > 0 {
		printf(stdout, "\nbench-check FAILED (%d):\n", len(report.Violations))
		for _, v := range report.Violations {
			printf(stdout, "  - %s\n", v)
		}
		return 1
	}
	if failed {
		return 1
	}
	if o.check {
		printf(stdout, "\nbench-check passed: every workload within %s\n", o.thresholds)
	}
	return 0
}

// workload is one bench file and the set it belongs to.
type workload struct {
	set, path string
}

// Sets of the corpus: the plain shapes and the constraint-heavy ones (optional).
const (
	setPlain       = "workloads"
	setConstraints = "constraints"
)

// corpus finds the catalogue and the workload files of a bench directory: the plain set first,
// then the constraints set when the directory has one, each in name order.
func corpus(dir string) (offerings string, workloads []workload, err error) {
	offerings = filepath.Join(dir, "offerings.json")
	if _, err := os.Stat(offerings); err != nil {
		return "", nil, err
	}
	for _, set := range []string{setPlain, setConstraints} {
		files, err := filepath.Glob(filepath.Join(dir, set, "*.yaml"))
		if err != nil {
			return "", nil, err
		}
		if set == setPlain && len(files) == 0 {
			return "", nil, fmt.Errorf("no workloads in %s", filepath.Join(dir, set))
		}
		sort.Strings(files)
		for _, f := range files {
			workloads = append(workloads, workload{set: set, path: f})
		}
	}
	return offerings, workloads, nil
}

// planOutput is the part of `vpsie-sim plan --output json` the bench reads.
type planOutput struct {
	Pending       int            `json:"pending"`
	OnExisting    int            `json:"on_existing"`
	OnNew         int            `json:"on_new"`
	Unschedulable int            `json:"unschedulable"`
	NewNodes      map[string]int `json:"new_nodes"`
	HourlyCost    float64        `json:"hourly_cost"`
	LowerBound    float64        `json:"lower_bound_hourly"`
	LowerBoundErr string         `json:"lower_bound_error"`
	SolveSeconds  float64        `json:"solve_seconds"`
	ReplaySeconds float64        `json:"replay_seconds"`
	Cut           bool           `json:"cut"`
	Replay        *struct {
		Ran              bool    `json:"ran"`
		PackedHourlyCost float64 `json:"packed_hourly_cost"`
		Stranded         int     `json:"stranded"`
		Remaining        int     `json:"remaining"`
	} `json:"replay"`
}

// runOne plans one workload in its own process so peak memory is that run's alone.
func runOne(bin, offerings, workload string) Result {
	r := Result{Workload: strings.TrimSuffix(filepath.Base(workload), filepath.Ext(workload))}
	cmd := exec.Command(bin, "plan", "--offerings", offerings, "--input", workload, "--output", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r.WallSeconds = time.Since(start).Seconds()
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.PeakMiB = float64(ru.Maxrss) / 1024 // KiB on Linux
		}
	}
	if err != nil {
		r.Error = fmt.Sprintf("%v: %s", err, strings.TrimSpace(stderr.String()))
		return r
	}
	var p planOutput
	if err := json.Unmarshal(stdout.Bytes(), &p); err != nil {
		r.Error = fmt.Sprintf("decoding vpsie-sim output, %v", err)
		return r
	}
	r.Pending, r.OnExisting, r.OnNew, r.Unschedulable = p.Pending, p.OnExisting, p.OnNew, p.Unschedulable
	for _, n := range p.NewNodes {
		r.NewNodes += n
	}
	r.HourlyCost, r.LowerBound, r.SolveSeconds, r.Cut = p.HourlyCost, p.LowerBound, p.SolveSeconds, p.Cut
	// The packer is measured (cost and time, as Karpenter's Solve is); the scheduler replay
	// after it is reported beside: what the packed plan would strand, what the final plan
	// costs, and how long the replay took.
	r.FinalHourlyCost, r.ReplaySeconds, r.Stranded, r.Remaining = p.HourlyCost, p.ReplaySeconds, -1, -1
	if p.Replay != nil {
		r.HourlyCost = p.Replay.PackedHourlyCost
		r.SolveSeconds = p.SolveSeconds - p.ReplaySeconds
		if p.Replay.Ran {
			r.Stranded, r.Remaining = p.Replay.Stranded, p.Replay.Remaining
		}
	}
	if p.LowerBound <= 0 && p.HourlyCost > 0 {
		// Without a bound there is no ratio to check (and JSON has no infinity): the run fails
		// with vpsie-sim's reason.
		r.Error = fmt.Sprintf("no lower bound: %s", cmp.Or(p.LowerBoundErr, "none reported"))
		return r
	}
	r.CostOverLB = ratio(r.HourlyCost, p.LowerBound)
	return r
}

func writeReport(path string, report Report) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(report, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// printf writes a message for the user; there is nothing useful to do when that fails.
func printf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}
