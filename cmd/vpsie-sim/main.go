// Command vpsie-sim plans new nodes for a cluster dump offline: it reads NodeGroups, Nodes, Pods,
// DaemonSets and PDBs from YAML or JSON files plus an offering catalogue, runs the simulator and
// prints what it would create, what that costs, how close that is to the lower bound, and which
// pods cannot be placed and why.
//
// Exit codes:
//
//	0  the plan was computed (and written)
//	1  usage error (unknown command or flag, missing --input)
//	2  input error (unreadable or malformed file, invalid catalogue or NodeGroup)
//	3  the plan leaves pods unschedulable and --fail-on-unschedulable was given
//	4  the report or output could not be written
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator"
)

// Exit codes; see the package documentation.
const (
	exitOK            = 0
	exitUsage         = 1
	exitInput         = 2
	exitUnschedulable = 3
	exitOutput        = 4
)

// defaultOfferings is the catalogue the project ships, looked up from the repository root.
const defaultOfferings = "hack/examples/offerings.json"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: vpsie-sim plan [flags] --input FILE [--input FILE ...]

Plans the cheapest new nodes for the pending pods of a cluster dump.

Flags:
`

// stringsFlag collects a repeatable flag.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	*s = append(*s, v)
	return nil
}

type options struct {
	offerings           string
	inputs              []string
	output              string
	report              string
	failOnUnschedulable bool
	deadline            time.Duration
	cpuProfile          string
	noReplay            bool
}

// run is the whole command; main only maps its result to the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printf(stderr, "%s", usage)
		newFlagSet(&options{}, stderr).PrintDefaults()
		return exitUsage
	}
	switch args[0] {
	case "plan":
	case "help", "-h", "-help", "--help":
		printf(stdout, "%s", usage)
		newFlagSet(&options{}, stdout).PrintDefaults()
		return exitOK
	default:
		printf(stderr, "vpsie-sim: unknown command %q\n", args[0])
		printf(stderr, "%s", usage)
		return exitUsage
	}
	o := &options{}
	fs := newFlagSet(o, stderr)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if err := o.validate(fs.Args()); err != nil {
		printf(stderr, "vpsie-sim: %v\n", err)
		return exitUsage
	}
	return plan(o, stdout, stderr)
}

func newFlagSet(o *options, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("vpsie-sim plan", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		printf(out, "%s", usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&o.offerings, "offerings", "", "offering catalogue (JSON array); default "+defaultOfferings+" of the repository around the working directory or the binary")
	fs.Var((*stringsFlag)(&o.inputs), "input", "workload file: multi-document YAML, JSON objects or a List (repeatable)")
	fs.StringVar(&o.output, "output", "text", "output format: text or json")
	fs.StringVar(&o.report, "report", "", "also write a self-contained HTML picture of the plan to this file")
	fs.BoolVar(&o.failOnUnschedulable, "fail-on-unschedulable", false, "exit 3 when some pending pods cannot be placed")
	fs.DurationVar(&o.deadline, "deadline", 10*time.Second, "solve deadline, as the autoscaler's --solve-deadline: past it the best plan found so far is printed, marked as cut (0: none)")
	fs.BoolVar(&o.noReplay, "no-replay", false, "print the packed plan as it is, without replaying it the way kube-scheduler meets it and adding what it would strand")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the solve to this file")
	return fs
}

func (o *options) validate(rest []string) error {
	if len(rest) > 0 {
		return fmt.Errorf("unexpected arguments %q (workload files go in --input)", rest)
	}
	if len(o.inputs) == 0 {
		return fmt.Errorf("no --input given")
	}
	if o.output != "text" && o.output != "json" {
		return fmt.Errorf("--output must be text or json, got %q", o.output)
	}
	if o.offerings == "" {
		path, ok := findDefaultOfferings()
		if !ok {
			return fmt.Errorf("no --offerings given and %s not found above the working directory or the binary", defaultOfferings)
		}
		o.offerings = path
	}
	return nil
}

// findDefaultOfferings walks up from the working directory, then from the binary's directory
// (bin/ or _output/bin/ of a clone), to the repository that ships the example catalogue.
func findDefaultOfferings() (string, bool) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, dir := range starts {
		for {
			candidate := filepath.Join(dir, defaultOfferings)
			if _, err := os.Stat(candidate); err == nil {
				return candidate, true
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", false
}

func plan(o *options, stdout, stderr io.Writer) int {
	offerings, err := cloudprovider.LoadOfferings(o.offerings)
	if err != nil {
		printf(stderr, "vpsie-sim: %v\n", err)
		return exitInput
	}
	workload, err := loadInputs(o.inputs)
	if err != nil {
		printf(stderr, "vpsie-sim: %v\n", err)
		return exitInput
	}
	for _, w := range workload.Warnings {
		printf(stderr, "vpsie-sim: warning: %s\n", w)
	}
	in := workload.Input(offerings)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			printf(stderr, "vpsie-sim: %v\n", err)
			return exitOutput
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			printf(stderr, "vpsie-sim: %v\n", err)
			return exitOutput
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	if o.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.deadline)
		defer cancel()
	}
	in.SkipReplay = o.noReplay
	p, err := simulator.SolveContext(ctx, in)
	if err != nil {
		printf(stderr, "vpsie-sim: planning: %v\n", err)
		return exitInput
	}
	summary := summarize(p, in)
	if o.output == "json" {
		err = writeJSON(stdout, summary)
	} else {
		err = writeText(stdout, summary, o.inputs)
	}
	if err != nil {
		printf(stderr, "vpsie-sim: writing output: %v\n", err)
		return exitOutput
	}
	if o.report != "" {
		if err := writeReportFile(o.report, p, in, o.inputs); err != nil {
			printf(stderr, "vpsie-sim: writing report: %v\n", err)
			return exitOutput
		}
	}
	if o.failOnUnschedulable && len(p.Unschedulable) > 0 {
		printf(stderr, "vpsie-sim: %d pods unschedulable\n", len(p.Unschedulable))
		return exitUnschedulable
	}
	return exitOK
}

// printf writes a message for the user; there is nothing useful to do when that fails.
func printf(w io.Writer, format string, args ...any) {
	_, _ = fmt.Fprintf(w, format, args...)
}
