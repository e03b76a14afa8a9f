package simulator

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// downsize moves the pods of each new node onto the cheapest offering of the same NodeGroup
// that still holds them, when that is cheaper: rounding and the greedy's last nodes often
// leave a node half empty. Resource arithmetic proposes, Filter decides on a fork of the
// snapshot that is kept only if every pod fits.
func (s *solver) downsize() error {
	for _, n := range s.newNodes {
		refs := s.placedOn[n.name]
		var need [numDims]int64
		for _, r := range refs {
			for d := 0; d < numDims; d++ {
				need[d] += s.classes[r.ci].req[d]
			}
		}
		var cands []*template
		for _, t := range s.templates {
			if t.group != n.tmpl.group || t.offering.HourlyPrice >= n.tmpl.offering.HourlyPrice {
				continue
			}
			if t.free[dimCPU] >= need[dimCPU] && t.free[dimMemory] >= need[dimMemory] && t.free[dimPods] >= need[dimPods] {
				cands = append(cands, t)
			}
		}
		slices.SortStableFunc(cands, func(a, b *template) int {
			return cmp.Compare(a.offering.HourlyPrice, b.offering.HourlyPrice)
		})
		for _, t := range cands {
			ok, err := s.tryMove(n, t, refs)
			if err != nil {
				return err
			}
			if ok {
				break
			}
		}
	}
	return nil
}

// tryMove replaces node n by a node of template t carrying the same pods, if Filter accepts
// every one of them there.
func (s *solver) tryMove(n *plannedNode, t *template, refs []podRef) (bool, error) {
	name := fmt.Sprintf("%s-%s-%d", t.group.name, t.offering.Name, n.seq)
	s.snap.Fork()
	if err := s.snap.RemoveNode(n.name); err != nil {
		return false, err
	}
	if err := s.snap.AddNodeInfo(t.instantiate(name)); err != nil {
		return false, err
	}
	preps := map[int]*Prepared{}
	for _, r := range refs {
		c := s.classes[r.ci]
		p, ok := preps[r.ci]
		if !ok {
			p = s.sched.Prepare(c.pods[r.i])
			preps[r.ci] = p
		}
		if !s.sched.Filter(p, s.snap.NodeInfo(name)).IsSuccess() {
			return false, s.snap.Revert()
		}
		if err := s.sched.PlaceInfo(p, c.infos[r.i], name); err != nil {
			return false, err
		}
	}
	if err := s.snap.Commit(); err != nil {
		return false, err
	}
	old := n.tmpl
	old.group.count(-old.offering.CPU*1000, -old.offering.MemoryMiB<<20)
	old.group.nodes -= 2 // count() added one; the node is replaced, not removed
	t.group.count(t.offering.CPU*1000, t.offering.MemoryMiB<<20)
	s.placedOn[name] = refs
	delete(s.placedOn, n.name)
	n.name, n.tmpl = name, t
	return true, nil
}

// Repair: empty the emptiest new nodes. Rounding and the greedy's last choices leave some
// nodes with room to spare and others nearly empty; a nearly empty node whose pods fit in the
// spare room of the others is pure waste. Candidates are tried emptiest first, each on a fork
// of the snapshot that is kept only when every one of its pods found a new home (best fit by
// resource arithmetic, Filter decides).

const (
	// emptyMaxUtilisation: only nodes whose dominant resource is used below this are tried.
	emptyMaxUtilisation = 0.8
	// emptyMaxCandidates bounds the work on large plans.
	emptyMaxCandidates = 64
)

func (s *solver) emptyNodes() error {
	for _, c := range s.classes {
		a := c.pods[0].Spec.Affinity
		if a != nil && a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			// Removing a node could take away the pods another pod's affinity relies on.
			return nil
		}
	}
	type cand struct {
		n    *plannedNode
		util float64
	}
	var cands []cand
	for _, n := range s.newNodes {
		ni := s.snap.NodeInfo(n.name)
		u := max(float64(ni.Requested.MilliCPU)/float64(max(ni.Allocatable.MilliCPU, 1)),
			float64(ni.Requested.Memory)/float64(max(ni.Allocatable.Memory, 1)))
		if u < emptyMaxUtilisation {
			cands = append(cands, cand{n, u})
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(a.util, b.util) })
	if len(cands) > emptyMaxCandidates {
		cands = cands[:emptyMaxCandidates]
	}
	removed := map[*plannedNode]bool{}
	for _, c := range cands {
		ok, err := s.tryEmpty(c.n, removed)
		if err != nil {
			return err
		}
		if ok {
			removed[c.n] = true
		}
	}
	if len(removed) > 0 {
		s.newNodes = slices.DeleteFunc(s.newNodes, func(n *plannedNode) bool { return removed[n] })
	}
	return nil
}

func (s *solver) tryEmpty(n *plannedNode, removed map[*plannedNode]bool) (bool, error) {
	refs := s.placedOn[n.name]
	targets := slices.Clone(s.existing)
	for _, o := range s.newNodes {
		if o != n && !removed[o] {
			targets = append(targets, o.name)
		}
	}
	s.snap.Fork()
	if err := s.snap.RemoveNode(n.name); err != nil {
		return false, err
	}
	type move struct {
		ref  podRef
		node string
	}
	var moves []move
	preps := map[int]*Prepared{}
	for _, r := range refs {
		c := s.classes[r.ci]
		p, ok := preps[r.ci]
		if !ok {
			p = s.sched.Prepare(c.pods[r.i])
			preps[r.ci] = p
		}
		rejected := map[string]bool{}
		placed := false
		for !placed {
			best, bestLeft := "", math.Inf(1)
			for _, name := range targets {
				if rejected[name] {
					continue
				}
				ni := s.snap.NodeInfo(name)
				f := freeOf(ni)
				if f[dimCPU] < c.req[dimCPU] || f[dimMemory] < c.req[dimMemory] || f[dimPods] < 1 {
					continue
				}
				left := max(float64(f[dimCPU]-c.req[dimCPU])/float64(max(ni.Allocatable.MilliCPU, 1)),
					float64(f[dimMemory]-c.req[dimMemory])/float64(max(ni.Allocatable.Memory, 1)))
				if left < bestLeft {
					best, bestLeft = name, left
				}
			}
			if best == "" {
				return false, s.snap.Revert()
			}
			if !s.sched.Filter(p, s.snap.NodeInfo(best)).IsSuccess() {
				rejected[best] = true
				continue
			}
			if err := s.sched.PlaceInfo(p, c.infos[r.i], best); err != nil {
				return false, err
			}
			moves = append(moves, move{r, best})
			placed = true
		}
	}
	if err := s.snap.Commit(); err != nil {
		return false, err
	}
	for _, m := range moves {
		s.placedOn[m.node] = append(s.placedOn[m.node], m.ref)
	}
	delete(s.placedOn, n.name)
	g := n.tmpl.group
	g.nodes--
	g.cpu -= n.tmpl.offering.CPU * 1000
	g.memory -= n.tmpl.offering.MemoryMiB << 20
	return true, nil
}
