package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

const (
	offeringsFile   = "../../hack/examples/offerings.json"
	webExample      = "../../hack/examples/workloads/web-60.yaml"
	mixedExample    = "../../hack/examples/workloads/mixed-200.yaml"
	constrainedFile = "../../hack/examples/workloads/constrained.yaml"
)

func runCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// planJSON runs plan --output json and decodes the one object it must print.
func planJSON(t *testing.T, args ...string) *summary {
	t.Helper()
	g := NewWithT(t)
	code, stdout, stderr := runCmd(append([]string{"plan", "--offerings", offeringsFile, "--output", "json"}, args...)...)
	g.Expect(code).To(Equal(exitOK), stderr)
	dec := json.NewDecoder(strings.NewReader(stdout))
	out := &summary{}
	g.Expect(dec.Decode(out)).To(Succeed())
	var extra json.RawMessage
	g.Expect(errors.Is(dec.Decode(&extra), io.EOF)).To(BeTrue(), "stdout must hold exactly one JSON object")
	return out
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	NewWithT(t).Expect(os.WriteFile(path, []byte(content), 0o600)).To(Succeed())
	return path
}

func TestPlanTextSummary(t *testing.T) {
	g := NewWithT(t)
	code, stdout, stderr := runCmd("plan", "--offerings", offeringsFile, "--input", constrainedFile)
	g.Expect(code).To(Equal(exitOK), stderr)
	g.Expect(stderr).To(BeEmpty())
	for _, want := range []string{
		"Pods pending            66", "on new nodes          64", "unschedulable         2",
		"New nodes:", "NODEGROUP", "compute", "Cost                    $", "/month)", "Lower bound", "Efficiency (cost/LB)", "Solve time",
		"Unschedulable pods: 2", "default/too-big-f998fa57-00000", "NodeResourcesFit: Insufficient cpu", "default/gpu-job-c3392e41-00000",
	} {
		g.Expect(stdout).To(ContainSubstring(want))
	}
}

func TestPlanJSONAccountsForEveryPendingPod(t *testing.T) {
	for _, file := range []string{webExample, mixedExample, constrainedFile} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			g := NewWithT(t)
			s := planJSON(t, "--input", file)
			g.Expect(s.Pending).To(Equal(s.OnExisting + s.OnNew + s.Unschedulable))
			g.Expect(s.UnschedulableReasons).To(HaveLen(s.Unschedulable))

			seen := map[string]bool{}
			newNodes, onExisting, onNew := map[string]int{}, 0, 0
			cost := 0.0
			for _, p := range s.Placements {
				g.Expect(p.Node).NotTo(BeEmpty())
				g.Expect(p.Offering).NotTo(BeEmpty())
				g.Expect(p.NodeGroup).NotTo(BeEmpty())
				if p.New {
					newNodes[p.Offering]++
					onNew += len(p.Pods)
					cost += p.HourlyPrice
				} else {
					onExisting += len(p.Pods)
				}
				for _, pod := range p.Pods {
					g.Expect(seen).NotTo(HaveKey(pod), "pod placed twice")
					seen[pod] = true
				}
			}
			for _, u := range s.UnschedulableReasons {
				g.Expect(u.Reasons).NotTo(BeEmpty())
				g.Expect(seen).NotTo(HaveKey(u.Pod))
				seen[u.Pod] = true
			}
			g.Expect(seen).To(HaveLen(s.Pending))
			g.Expect(onNew).To(Equal(s.OnNew))
			g.Expect(onExisting).To(Equal(s.OnExisting))
			g.Expect(newNodes).To(Equal(s.NewNodes))
			g.Expect(cost).To(BeNumerically("~", s.HourlyCost, 1e-9))
			g.Expect(s.MonthlyCost).To(BeNumerically("~", 730*s.HourlyCost, 1e-6))
			g.Expect(s.LowerBoundHourly).To(BeNumerically(">", 0))
			g.Expect(s.HourlyCost).To(BeNumerically(">=", s.LowerBoundHourly-1e-9))
			g.Expect(s.SolveSeconds).To(BeNumerically(">", 0))
		})
	}
}

func TestPlanJSONFieldNames(t *testing.T) {
	g := NewWithT(t)
	code, stdout, _ := runCmd("plan", "--offerings", offeringsFile, "--output", "json", "--input", constrainedFile)
	g.Expect(code).To(Equal(exitOK))
	var raw map[string]json.RawMessage
	g.Expect(json.Unmarshal([]byte(stdout), &raw)).To(Succeed())
	for _, key := range []string{"pending", "on_existing", "on_new", "unschedulable", "new_nodes", "hourly_cost",
		"lower_bound_hourly", "solve_seconds", "cut", "unschedulable_reasons", "placements"} {
		g.Expect(raw).To(HaveKey(key))
	}
	var placements []map[string]json.RawMessage
	g.Expect(json.Unmarshal(raw["placements"], &placements)).To(Succeed())
	g.Expect(placements).NotTo(BeEmpty())
	g.Expect(placements[0]).To(HaveKey("node"))
	g.Expect(placements[0]).To(HaveKey("new"))
	g.Expect(placements[0]).To(HaveKey("nodegroup"))
	g.Expect(placements[0]).To(HaveKey("offering"))
	g.Expect(placements[0]).To(HaveKey("pods"))
}

func TestPlanDeadlineMarksTheCutPlan(t *testing.T) {
	g := NewWithT(t)
	// Within the default deadline the plan is whole and says so.
	whole := planJSON(t, "--input", mixedExample)
	g.Expect(whole.Cut).To(BeFalse())
	g.Expect(whole.Deferred).To(BeZero())
	// A deadline that has passed before the solve starts still yields an answer for every
	// pending pod: planned, unschedulable, or deferred to a later plan; and the plan is cut.
	cut := planJSON(t, "--input", mixedExample, "--deadline", "1ns")
	g.Expect(cut.Cut).To(BeTrue())
	g.Expect(cut.OnExisting + cut.OnNew + cut.Unschedulable + cut.Deferred).To(Equal(cut.Pending))
}

func TestPlanExistingNodesAreNamed(t *testing.T) {
	g := NewWithT(t)
	s := planJSON(t, "--input", mixedExample)
	g.Expect(s.OnExisting).To(BeNumerically(">", 0))
	var existing []string
	for _, p := range s.Placements {
		if !p.New {
			existing = append(existing, p.Node)
			g.Expect(p.NodeGroup).To(Equal("general"))
			g.Expect(p.Offering).To(Equal("s-4vcpu-8gb"))
			g.Expect(p.HourlyPrice).To(BeZero())
		}
	}
	g.Expect(existing).NotTo(BeEmpty())
	g.Expect(existing).To(HaveEach(HavePrefix("existing-")))
}

func TestPlanEmptyListsAreArraysNotNull(t *testing.T) {
	g := NewWithT(t)
	in := writeFile(t, "empty.yaml", nodeGroupDoc)
	code, stdout, stderr := runCmd("plan", "--offerings", offeringsFile, "--output", "json", "--input", in)
	g.Expect(code).To(Equal(exitOK), stderr)
	g.Expect(stdout).To(ContainSubstring(`"unschedulable_reasons": []`))
	g.Expect(stdout).To(ContainSubstring(`"placements": []`))
	g.Expect(stdout).To(ContainSubstring(`"new_nodes": {}`))
}

func TestFailOnUnschedulable(t *testing.T) {
	g := NewWithT(t)
	code, _, stderr := runCmd("plan", "--offerings", offeringsFile, "--input", constrainedFile, "--fail-on-unschedulable")
	g.Expect(code).To(Equal(exitUnschedulable))
	g.Expect(stderr).To(ContainSubstring("2 pods unschedulable"))

	code, _, stderr = runCmd("plan", "--offerings", offeringsFile, "--input", webExample, "--fail-on-unschedulable")
	g.Expect(code).To(Equal(exitOK), stderr)
}

func TestMultipleInputsAreMerged(t *testing.T) {
	g := NewWithT(t)
	groups := writeFile(t, "groups.yaml", nodeGroupDoc)
	pods := writeFile(t, "pods.yaml", podDoc("a", "1", "1Gi")+"---\n"+podDoc("b", "1", "1Gi"))
	s := planJSON(t, "--input", groups, "--input", pods)
	g.Expect(s.Pending).To(Equal(2))
	g.Expect(s.OnNew).To(Equal(2))
}

func TestDefaultOfferingsFromRepository(t *testing.T) {
	g := NewWithT(t)
	code, stdout, stderr := runCmd("plan", "--input", webExample)
	g.Expect(code).To(Equal(exitOK), stderr)
	g.Expect(stdout).To(ContainSubstring("Pods pending            60"))

	abs, err := filepath.Abs(webExample)
	g.Expect(err).NotTo(HaveOccurred())
	t.Chdir(t.TempDir())
	code, _, stderr = runCmd("plan", "--input", abs)
	g.Expect(code).To(Equal(exitUsage))
	g.Expect(stderr).To(ContainSubstring("no --offerings given"))
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestOutputWriteFailure(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			g := NewWithT(t)
			var stderr bytes.Buffer
			code := run([]string{"plan", "--offerings", offeringsFile, "--input", webExample, "--output", format}, failingWriter{}, &stderr)
			g.Expect(code).To(Equal(exitOutput))
			g.Expect(stderr.String()).To(ContainSubstring("writing output: disk full"))
		})
	}
}

func TestFailOnUnschedulableStillPrintsThePlan(t *testing.T) {
	g := NewWithT(t)
	code, stdout, _ := runCmd("plan", "--offerings", offeringsFile, "--input", constrainedFile, "--output", "json", "--fail-on-unschedulable")
	g.Expect(code).To(Equal(exitUnschedulable))
	s := &summary{}
	g.Expect(json.Unmarshal([]byte(stdout), s)).To(Succeed())
	g.Expect(s.Unschedulable).To(Equal(2))
}
