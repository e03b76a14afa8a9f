package simulator

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins/names"
)

// Prepared is a pod with the result of its PreFilter run. PreFilter costs from microseconds to
// a millisecond (spread and anti-affinity scan existing pods), Filter under a microsecond, so a
// Prepared is reused for every node tried and for every pod of the same equivalence class
// while the snapshot does not change behind its back. The CycleState is shared by all Filter
// calls and never cloned: Filter plugins only read it.
type Prepared struct {
	Pod *corev1.Pod

	state   *framework.CycleState
	result  *fwk.PreFilterResult
	status  *fwk.Status
	version uint64
	fresh   bool
}

// Prepare runs PreFilter for pod against the current snapshot.
func (s *Scheduler) Prepare(pod *corev1.Pod) *Prepared {
	p := &Prepared{Pod: pod}
	s.preFilter(p)
	return p
}

func (s *Scheduler) preFilter(p *Prepared) {
	state := framework.NewCycleState()
	result, status, _ := s.fw.RunPreFilterPlugins(s.ctx, state, p.Pod)
	p.state, p.result, p.status, p.version, p.fresh = state, result, status, s.snap.version, true
}

// current re-runs PreFilter when the snapshot changed since it last ran (or was last followed
// through Place).
func (s *Scheduler) current(p *Prepared) {
	if p.fresh && p.version == s.snap.version {
		return
	}
	if p.fresh && s.catchUp(p) {
		return
	}
	s.preFilter(p)
}

// maxCatchUp bounds the additions a stale PreFilter state is brought up to date with through
// the AddPod extensions; past it a new PreFilter is cheaper.
const maxCatchUp = 64

// catchUp brings p's PreFilter state to the current snapshot when only pods were added since
// it was computed, through the plugins' AddPod extensions (as the scheduler does for
// nominated pods), and says whether it could.
func (s *Scheduler) catchUp(p *Prepared) bool {
	if !p.status.IsSuccess() || hasHardSpread(p.Pod) {
		return false
	}
	added, ok := s.snap.addedSince(p.version)
	if !ok || len(added) > maxCatchUp {
		return false
	}
	skipsAffinity := p.state.GetSkipFilterPlugins().Has(names.InterPodAffinity)
	for _, a := range added {
		if a.pi == nil {
			continue // an empty node
		}
		if skipsAffinity && hasAffinity(a.pi.GetPod()) {
			// The plugin skipped PreFilter (no affinity anywhere then) and has no state to
			// update; the new pod may matter to it.
			return false
		}
		ni := s.snap.NodeInfo(a.node)
		if ni == nil {
			return false
		}
		if st := s.fw.RunPreFilterExtensionAddPod(s.ctx, p.state, p.Pod, a.pi, ni); !st.IsSuccess() {
			return false
		}
	}
	p.version = s.snap.version
	return true
}

// Filter says whether the prepared pod may run on ni. ni may be a node of the snapshot or a
// node that is not (yet) in it, such as a template for a node we might buy: for a fresh node
// the spread and affinity counts of the snapshot are still the right context.
func (s *Scheduler) Filter(p *Prepared, ni fwk.NodeInfo) *fwk.Status {
	s.current(p)
	if !p.status.IsSuccess() {
		return p.status
	}
	if p.result != nil && !p.result.AllNodes() && !p.result.NodeNames.Has(ni.Node().Name) {
		return fwk.NewStatus(fwk.UnschedulableAndUnresolvable, "node is not in the pre-filter result (node name or selector)")
	}
	return s.fw.RunFilterPlugins(s.ctx, p.state, p.Pod, ni)
}

// CheckPodFits says whether pod may be placed on the snapshot node nodeName now; nil means it
// fits, otherwise the error carries the plugin's reason.
func (s *Scheduler) CheckPodFits(pod *corev1.Pod, nodeName string) error {
	ni := s.snap.NodeInfo(nodeName)
	if ni == nil {
		return fmt.Errorf("node %q not in the snapshot", nodeName)
	}
	if st := s.Filter(s.Prepare(pod), ni); !st.IsSuccess() {
		return StatusError(st)
	}
	return nil
}

// FindNodeFor returns the first candidate (in the given order) the pod fits on, or "" and the
// reasons per node when it fits nowhere.
func (s *Scheduler) FindNodeFor(p *Prepared, candidates []string) (string, map[string]string) {
	reasons := map[string]string{}
	for _, name := range candidates {
		ni := s.snap.NodeInfo(name)
		if ni == nil {
			reasons[name] = "node not in the snapshot"
			continue
		}
		st := s.Filter(p, ni)
		if st.IsSuccess() {
			return name, nil
		}
		reasons[name] = StatusError(st).Error()
	}
	return "", reasons
}

// Place binds pod (which must be p.Pod or a pod of the same equivalence class) to nodeName in
// the snapshot, and keeps p's PreFilter state in step through the PreFilter extensions, so the
// next pod of the class needs no new PreFilter run.
func (s *Scheduler) Place(p *Prepared, pod *corev1.Pod, nodeName string) error {
	pi, err := framework.NewPodInfo(pod)
	if err != nil {
		return fmt.Errorf("placing pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return s.PlaceInfo(p, pi, nodeName)
}

// PlaceInfo is Place with a precomputed PodInfo.
func (s *Scheduler) PlaceInfo(p *Prepared, pi fwk.PodInfo, nodeName string) error {
	wasCurrent := p != nil && p.fresh && p.version == s.snap.version
	if err := s.snap.AddPodInfo(pi, nodeName); err != nil {
		return err
	}
	if !wasCurrent || !p.status.IsSuccess() {
		return nil
	}
	// A plugin that skipped PreFilter has no state to update; if the new pod could matter to
	// it (it has affinity terms), the state is stale and the next Filter re-runs PreFilter.
	if hasAffinity(pi.GetPod()) && p.state.GetSkipFilterPlugins().Has(names.InterPodAffinity) {
		return nil
	}
	// PodTopologySpread's AddPod extension only tracks the two smallest domains; when both
	// grow, a smaller untracked domain is forgotten and Filter lets the skew grow past
	// maxSkew (it is meant for a few nominated pods, not for packing). Spread pods get a
	// fresh PreFilter instead.
	if hasHardSpread(p.Pod) {
		return nil
	}
	st := s.fw.RunPreFilterExtensionAddPod(s.ctx, p.state, p.Pod, pi, s.snap.NodeInfo(nodeName))
	if st.IsSuccess() {
		p.version = s.snap.version
	}
	return nil
}

// StatusError turns a non-success framework status into an error naming the plugin.
func StatusError(st *fwk.Status) error {
	if st.IsSuccess() {
		return nil
	}
	msg := strings.Join(st.Reasons(), "; ")
	if msg == "" {
		msg = st.Code().String()
	}
	if pl := st.Plugin(); pl != "" {
		return fmt.Errorf("%s: %s", pl, msg)
	}
	return fmt.Errorf("%s", msg)
}

func hasHardSpread(p *corev1.Pod) bool {
	for _, c := range p.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable == corev1.DoNotSchedule {
			return true
		}
	}
	return false
}
