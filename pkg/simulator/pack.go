package simulator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator/packing"
)

// solver holds one planning run; tests keep it to re-check the final snapshot.
type solver struct {
	in        Input
	snap      *Snapshot
	sched     *Scheduler
	groups    []*nodeGroup
	templates []*template
	classes   []*podClass
	existing  []string
	// existingFree is each existing node's free room before any pending pod was placed.
	existingFree [][numDims]int64

	// per class: next unplaced member, templates allowed for new nodes, and why not others.
	next    []int
	allowed [][]bool
	// fits[c][t]: Filter accepts class c on an empty node of template t, whatever the
	// weights; the lower bound uses it, since pods may use room on any planned node.
	fits [][]bool
	// boundFits is fits judged with the pods' original specs (see podClass.lenient); the lower bound
	// uses it so that making preferred spread strict never raises the bound.
	boundFits [][]bool
	// allowedAtStart is allowed before packing changed it; native is set to it while the
	// lower bound is computed (see cover).
	allowedAtStart [][]bool
	native         [][]bool
	reasons        [][]string
	// existingOK[c][e]: a pod of class c fits existing node e as the input has it (for
	// classes that depend on other pods: fits the node emptied).
	existingOK [][]bool

	placedOn map[string][]podRef // node -> pending pods placed there, in order
	newNodes []*plannedNode
	seq      int // new node names
	start    time.Time
	lbErr    string
	strategy strategy
	// displaceOK: emptyNodes may move pending pods off existing nodes (see displaceFor).
	displaceOK bool
	// dive: the last diving round's columns, to start the next.
	dive *packing.Columns
	// prob is the packing problem (see problem).
	prob *packing.Problem

	// ctx is SolveContext's; past hurryAt (half-way to its deadline) the packer stops
	// optimising (no LPs, no further portfolio attempts or repair passes) and finishes with the
	// greedy, which stops where it is once ctx is done (cut).
	ctx     context.Context
	hurryAt time.Time
	cut     bool
	hurried bool
	// bounding is set while the finished plan's lower bound is computed: the bound may use
	// the time left up to the deadline itself, as nothing is left to optimise.
	bounding bool

	// reusable: the snapshot holds the input's own pods and nodes plus what packing added, so
	// the replay may reset it instead of building another.
	reusable bool
	// replayNodes and replayBound are what a replay added to the snapshot (see reset); podPos
	// is each pending pod's position in the input.
	replayNodes []string
	replayBound map[string][]*corev1.Pod
	podPos      map[string]int
}

// hurryFraction of the time to the deadline goes to optimising; the rest is kept for the greedy
// to finish the plan.
var hurryFraction = 0.5

// hurry says whether the packer should stop optimising and finish quickly.
func (s *solver) hurry() bool {
	if s.ctx == nil {
		return false
	}
	if s.bounding {
		return s.ctx.Err() != nil
	}
	if s.ctx.Err() != nil || (!s.hurryAt.IsZero() && !time.Now().Before(s.hurryAt)) {
		s.hurried = true
		return true
	}
	return false
}

// expired says whether the deadline has passed: nothing more may be placed.
func (s *solver) expired() bool { return s.ctx != nil && s.ctx.Err() != nil }

// podRef is member i of class ci.
type podRef struct{ ci, i int }

func (s *solver) keys(refs []podRef) []string {
	out := make([]string, len(refs))
	for k, r := range refs {
		out[k] = podKey(s.classes[r.ci].pods[r.i])
	}
	return out
}

type plannedNode struct {
	name string
	tmpl *template
	seq  int
}

// Solve computes a plan for the pending pods of in.
func Solve(in Input) (*Plan, error) { return SolveContext(context.Background(), in) }

// SolveContext is Solve with a deadline: once ctx is done the packer stops improving and
// returns the best plan it has (see Plan.DeadlineExceeded).
func SolveContext(ctx context.Context, in Input) (*Plan, error) {
	in.ctx = ctx
	plan, s, err := solveKeep(in)
	if err != nil {
		return nil, err
	}
	defer s.sched.Close()
	if in.SkipReplay {
		return plan, nil
	}
	start := time.Now()
	final, err := replayPlan(ctx, in, plan, s, plan.SolveTime)
	if err != nil {
		return nil, err
	}
	final.ReplayTime = time.Since(start)
	final.SolveTime = plan.SolveTime + final.ReplayTime
	return final, nil
}

// solveKeep is Solve that also returns the solver, whose snapshot holds the final placement.
// The caller closes s.sched.
func solveKeep(in Input) (*Plan, *solver, error) {
	start := time.Now()
	if strict, lenient := strictInput(in); lenient != nil {
		return solvePreferred(in, strict, lenient, start)
	}
	s, err := newSolver(in, nil)
	if err != nil {
		return nil, nil, err
	}
	s.start = start
	s.reusable = true
	plan, err := s.solve()
	if err != nil {
		s.sched.Close()
		return nil, nil, err
	}
	return plan, s, nil
}

// newSolver builds the solver for in; lenient (may be nil) maps pending pods of in whose
// spread was made strict to their original specs.
func newSolver(in Input, lenient map[string]*corev1.Pod) (*solver, error) {
	reservation := scheduling.DefaultReservation()
	if in.Reservation != nil {
		reservation = *in.Reservation
	}
	if err := reservation.Validate(); err != nil {
		return nil, err
	}
	s := &solver{in: in, snap: NewSnapshot(), placedOn: map[string][]podRef{}, ctx: in.ctx, seq: in.seqFrom}
	if s.ctx != nil {
		if d, ok := s.ctx.Deadline(); ok {
			s.hurryAt = time.Now().Add(time.Duration(float64(time.Until(d)) * hurryFraction))
		}
	}
	for _, ng := range in.NodeGroups {
		g, err := parseNodeGroup(ng)
		if err != nil {
			return nil, err
		}
		s.groups = append(s.groups, g)
	}
	slices.SortStableFunc(s.groups, func(a, b *nodeGroup) int { return cmp.Compare(a.name, b.name) })
	for _, o := range in.Offerings {
		if err := o.Validate(); err != nil {
			return nil, fmt.Errorf("invalid offering: %w", err)
		}
	}

	for _, n := range in.Nodes {
		if n.DeletionTimestamp != nil || !nodeReady(n) {
			continue
		}
		if err := s.snap.AddNode(n); err != nil {
			return nil, err
		}
		s.existing = append(s.existing, n.Name)
		if g := s.group(n.Labels[v1alpha1.LabelNodeGroup]); g != nil {
			cpu := n.Status.Capacity[corev1.ResourceCPU]
			mem := n.Status.Capacity[corev1.ResourceMemory]
			g.count(cpu.MilliValue(), mem.Value())
		}
	}
	for _, g := range s.groups {
		g.baseNodes, g.baseCPU, g.baseMemory = g.nodes, g.cpu, g.memory
	}
	var pending, bound []*corev1.Pod
	for _, p := range in.Pods {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.DeletionTimestamp != nil {
			continue
		}
		if p.Spec.NodeName != "" {
			if s.snap.NodeInfo(p.Spec.NodeName) == nil {
				continue // bound to a node we do not simulate
			}
			bound = append(bound, withUID(p))
			continue
		}
		if ownedByDaemonSet(p) {
			continue // the daemonset controller places these, one per node
		}
		if len(p.Spec.SchedulingGates) > 0 {
			continue // the scheduler does not consider gated pods yet
		}
		pending = append(pending, withUID(p))
	}
	infos, err := NewPodInfos(bound)
	if err != nil {
		return nil, err
	}
	for i, pi := range infos {
		if err := s.snap.AddPodInfo(pi, bound[i].Spec.NodeName); err != nil {
			return nil, err
		}
	}
	var volumes []runtime.Object
	for _, o := range in.PersistentVolumeClaims {
		volumes = append(volumes, o)
	}
	for _, o := range in.PersistentVolumes {
		volumes = append(volumes, o)
	}
	for _, o := range in.StorageClasses {
		volumes = append(volumes, o)
	}
	sched, err := NewScheduler(s.snap, volumes...)
	if err != nil {
		return nil, err
	}
	s.sched = sched
	s.templates = buildTemplates(sched, s.groups, in.Offerings, in.DaemonSets, reservation)
	if lenient != nil {
		if err := s.addSpreadDomains(); err != nil {
			sched.Close()
			return nil, err
		}
	}
	s.classes, err = buildClasses(pending, lenient, selectedLabelKeys(in.Pods, in.DaemonSets))
	if err != nil {
		sched.Close()
		return nil, fmt.Errorf("grouping pending pods, %w", err)
	}
	return s, nil
}

func (s *solver) group(name string) *nodeGroup {
	for _, g := range s.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	// Nodes without conditions (in-flight nodes, hand-written fixtures) count as usable.
	return true
}

func ownedByDaemonSet(p *corev1.Pod) bool {
	ref := metav1.GetControllerOf(p)
	return ref != nil && ref.Kind == "DaemonSet"
}

// withUID gives a pod without a UID one derived from its name: the scheduler keys pods by UID.
func withUID(p *corev1.Pod) *corev1.Pod {
	if p.UID != "" {
		return p
	}
	c := *p
	c.UID = types.UID("simulated-" + p.Namespace + "/" + p.Name)
	return &c
}

func (s *solver) solve() (*Plan, error) {
	pending := s.prepare()
	if err := s.packNew(); err != nil {
		return nil, err
	}
	for round := 0; round < len(s.groups) && s.fallBack(); round++ {
		if err := s.packNew(); err != nil {
			return nil, err
		}
	}
	return s.plan(pending)
}

// prepare sets up the per-class state packing needs (PreFilter, allowed templates, existing
// nodes that fit) and returns the number of pending pods.
func (s *solver) prepare() int {
	nc := len(s.classes)
	s.next = make([]int, nc)
	s.allowed = make([][]bool, nc)
	s.fits = make([][]bool, nc)
	s.boundFits = make([][]bool, nc)
	s.reasons = make([][]string, nc)
	s.existingOK = make([][]bool, nc)
	pending := 0
	for ci, c := range s.classes {
		c.prep = s.sched.Prepare(c.pods[0])
		if c.lenient != nil {
			c.lenientPrep = s.sched.Prepare(c.lenient)
		}
		pending += len(c.pods)
		s.classifyTemplates(ci)
		s.existingOK[ci] = make([]bool, len(s.existing))
		for ei, name := range s.existing {
			// Whether a pod of the class fits the node as it is now. Only pending pods are
			// added later, so resources and anti-affinity only get tighter - except for
			// classes that need other pods (pod affinity) or spread, judged on an empty node.
			ni := s.snap.NodeInfo(name)
			if c.dependsOnOthers {
				ni = newNodeInfo(ni.Node())
			}
			s.existingOK[ci][ei] = s.sched.Filter(c.prep, ni).IsSuccess()
		}
	}
	for _, name := range s.existing {
		s.existingFree = append(s.existingFree, freeOf(s.snap.NodeInfo(name)))
	}
	for _, a := range s.allowed {
		s.allowedAtStart = append(s.allowedAtStart, slices.Clone(a))
	}
	return pending
}

// plan reports the packing with its lower bound.
func (s *solver) plan(pending int) (*Plan, error) {
	plan := s.placement(pending)
	s.addBound(plan)
	// From the first look at the input: building the snapshot and templates counts too.
	plan.SolveTime = time.Since(s.start)
	return plan, nil
}

// addBound sets the plan's lower bound for the pods s.next counts as placed.
func (s *solver) addBound(plan *Plan) {
	const deadlineReached = "not computed: the solve deadline was reached"
	if s.expired() {
		plan.LowerBoundError = deadlineReached
		return
	}
	// A plan finished in a hurry still gets its bound when the deadline leaves time for it:
	// the bound tells how far from optimal the hurried plan is.
	s.bounding = true
	defer func() { s.bounding = false }()
	lowerBound, err := s.lowerBound()
	if err != nil {
		// The plan stands without its bound; say why there is none.
		lowerBound = 0
		s.lbErr = err.Error()
		if errors.Is(err, packing.ErrStopped) {
			s.lbErr = deadlineReached
		}
	}
	plan.LowerBound, plan.LowerBoundError = lowerBound, s.lbErr
}

// placement reports the packing, without the lower bound and solve time.
func (s *solver) placement(pending int) *Plan {
	plan := &Plan{Pending: pending}
	for _, name := range s.existing {
		if pods := s.placedOn[name]; len(pods) > 0 {
			plan.Existing = append(plan.Existing, Placement{Node: name, Pods: s.keys(pods)})
		}
	}
	for _, n := range s.newNodes {
		plan.NewNodes = append(plan.NewNodes, NewNode{
			Name: n.name, NodeGroup: n.tmpl.group.name, Offering: n.tmpl.offering, Pods: s.keys(s.placedOn[n.name]),
		})
		plan.HourlyCost += n.tmpl.offering.HourlyPrice
	}
	plan.DeadlineExceeded = s.hurried || s.expired() || s.cut
	for ci, c := range s.classes {
		for _, p := range c.pods[s.next[ci]:] {
			if s.cut && s.couldOpen(ci) {
				// A NodeGroup within its limits could host it: the deadline, not the pod, is why
				// it has no place.
				plan.Deferred = append(plan.Deferred, podKey(p))
				continue
			}
			plan.Unschedulable = append(plan.Unschedulable, Unschedulable{Pod: podKey(p), Reasons: s.unplacedReasons(ci)})
		}
	}
	slices.Sort(plan.Deferred)
	slices.SortFunc(plan.Unschedulable, func(a, b Unschedulable) int { return cmp.Compare(a.Pod, b.Pod) })
	return plan
}

// fallBack lets the pods left unplaced because their highest-weight NodeGroups reached
// maxNodes or their limits get new nodes from the next weight tier that still has room, as a
// lower-weight NodeGroup is the user's second choice, not no choice. It says whether any class
// gained templates (then the caller packs again).
func (s *solver) fallBack() bool {
	if s.expired() || s.cut {
		return false
	}
	changed := false
	for ci, c := range s.classes {
		if s.next[ci] >= len(c.pods) || s.couldOpen(ci) {
			continue
		}
		best := int32(math.MinInt32)
		for ti, t := range s.templates {
			if s.fits[ci][ti] && t.group.allows(t.offering) {
				best = max(best, t.group.weight)
			}
		}
		if best == math.MinInt32 {
			continue
		}
		for ti, t := range s.templates {
			s.allowed[ci][ti] = s.fits[ci][ti] && t.group.weight == best && t.group.allows(t.offering)
		}
		changed = true
	}
	return changed
}

// classifyTemplates decides which templates class ci may get a NEW node from: those whose
// framework Filter accepts the class on an empty node of the template, restricted to the
// highest-weight NodeGroup(s) that have one. It records a reason per NodeGroup otherwise.
func (s *solver) classifyTemplates(ci int) {
	c := s.classes[ci]
	fits := make([]bool, len(s.templates))
	bestWeight := int32(math.MinInt32)
	for ti, t := range s.templates {
		if st := s.sched.Filter(c.prep, t.info); st.IsSuccess() {
			fits[ti] = true
			bestWeight = max(bestWeight, t.group.weight)
		}
	}
	s.allowed[ci] = make([]bool, len(s.templates))
	for ti, t := range s.templates {
		s.allowed[ci][ti] = fits[ti] && t.group.weight == bestWeight
	}
	s.fits[ci] = fits
	s.boundFits[ci] = fits
	if c.lenientPrep != nil {
		s.boundFits[ci] = make([]bool, len(s.templates))
		for ti, t := range s.templates {
			s.boundFits[ci][ti] = s.sched.Filter(c.lenientPrep, t.info).IsSuccess()
		}
	}
	for _, g := range s.groups {
		var largest *template
		any := false
		for ti, t := range s.templates {
			if t.group != g {
				continue
			}
			any = any || fits[ti]
			if largest == nil || t.free[dimCPU]+t.free[dimMemory]/(4<<20) > largest.free[dimCPU]+largest.free[dimMemory]/(4<<20) {
				largest = t
			}
		}
		switch {
		case any:
			continue
		case largest == nil:
			s.reasons[ci] = append(s.reasons[ci], fmt.Sprintf("%s: no offering allowed (%s)", g.name, summarize(g.excluded, 3)))
		default:
			st := s.sched.Filter(c.prep, largest.info)
			s.reasons[ci] = append(s.reasons[ci], fmt.Sprintf("%s: %s (pod requests %s cpu, %dMi memory; largest allowed offering %s has %s cpu, %dMi memory free after daemonsets)",
				g.name, reasonFor(st, c.pods[0], largest.info.Node()), milliString(c.req[dimCPU]), c.req[dimMemory]>>20,
				largest.offering.Name, milliString(largest.free[dimCPU]), largest.free[dimMemory]>>20))
		}
	}
	if len(s.groups) == 0 {
		s.reasons[ci] = append(s.reasons[ci], "no NodeGroups")
	}
}

func summarize(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(items[:n], "; "), len(items)-n)
}

func (s *solver) unplacedReasons(ci int) []string {
	// The NodeGroups that cannot host the class say why; those that could but have no room
	// left within their limits (or on the planned nodes) say that.
	out := slices.Clone(s.reasons[ci])
	seen := map[*nodeGroup]bool{}
	for ti, t := range s.templates {
		if s.allowed[ci][ti] && !seen[t.group] {
			seen[t.group] = true
			if t.group.allows(t.offering) {
				out = append(out, fmt.Sprintf("%s: did not fit on any planned node", t.group.name))
			} else {
				out = append(out, t.group.limitReason())
			}
		}
	}
	return out
}

// couldOpen reports whether some NodeGroup within its limits could still get class ci a node.
func (s *solver) couldOpen(ci int) bool {
	for ti, t := range s.templates {
		if s.allowed[ci][ti] && t.group.allows(t.offering) {
			return true
		}
	}
	return false
}

// fillExisting places pending pods on existing nodes, class by class (largest first), never
// moving anything that is already there.
func (s *solver) fillExisting() error {
	if len(s.existing) == 0 {
		return nil
	}
	for ci := range s.classes {
		if s.expired() {
			// The pods left go to Deferred: with no time left, none gets a new node either.
			s.cut = true
			return nil
		}
		if err := s.bestFit(ci, s.existing, func(ei int) bool { return s.existingOK[ci][ei] }); err != nil {
			return err
		}
	}
	return nil
}

// bestFit places the remaining pods of class ci one at a time, each on the eligible node among
// names that it fills most (best fit by resource arithmetic, confirmed by Filter), and stops at
// the first pod no node takes.
func (s *solver) bestFit(ci int, names []string, eligible func(i int) bool) error {
	c := s.classes[ci]
	// Resources and anti-affinity only get tighter as pods are added, so a node that rejects a
	// class keeps rejecting it - unless the class depends on other pods.
	rejected := make([]bool, len(names))
	tried := make([]bool, len(names))
	refusals := 0
	for s.next[ci] < len(c.pods) {
		if s.expired() {
			s.cut = true
			return nil
		}
		clear(tried)
		placed := false
		for !placed {
			best, bestLeft := -1, math.Inf(1)
			for i, name := range names {
				if rejected[i] || tried[i] || !eligible(i) {
					continue
				}
				ni := s.snap.NodeInfo(name)
				f := freeOf(ni)
				if f[dimCPU] < c.req[dimCPU] || f[dimMemory] < c.req[dimMemory] || f[dimPods] < 1 {
					rejected[i] = true
					continue
				}
				// The share of the node left in its scarcer dimension after the pod.
				left := max(float64(f[dimCPU]-c.req[dimCPU])/float64(max(ni.Allocatable.MilliCPU, 1)),
					float64(f[dimMemory]-c.req[dimMemory])/float64(max(ni.Allocatable.Memory, 1)))
				if left < bestLeft {
					best, bestLeft = i, left
				}
			}
			if best < 0 {
				return nil
			}
			if s.sched.Filter(c.prep, s.snap.NodeInfo(names[best])).IsSuccess() {
				if err := s.place(ci, names[best]); err != nil {
					return err
				}
				placed = true
			} else if c.dependsOnOthers {
				tried[best] = true
			} else {
				rejected[best] = true
			}
			if !placed {
				refusals++
				// In a hurry, a class the best-fitting nodes keep refusing (anti-affinity
				// against pods already there, say) stops trying the others: trying every
				// node for every such class could use up the time left before any pod gets
				// a node, pass after pass.
				if refusals >= hurryRefusals && s.hurry() {
					return nil
				}
			}
		}
	}
	return nil
}

// hurryRefusals is how many Filter refusals one class gets in bestFit once the solve is in a
// hurry.
const hurryRefusals = 4

func (s *solver) place(ci int, node string) error {
	c := s.classes[ci]
	i := s.next[ci]
	if err := s.sched.PlaceInfo(c.prep, c.infos[i], node); err != nil {
		return err
	}
	s.placedOn[node] = append(s.placedOn[node], podRef{ci: ci, i: i})
	s.next[ci]++
	return nil
}
