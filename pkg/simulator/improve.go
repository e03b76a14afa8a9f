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
		if s.hurry() {
			return nil
		}
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
	if s.hurry() {
		return nil
	}
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
	// Displacing pending pods from existing nodes is safe only when no pod's fit depends on
	// where others are (no pod affinity, anti-affinity or spread anywhere among them).
	s.displaceOK = len(s.existing) > 0
	for _, c := range s.classes {
		a := c.pods[0].Spec.Affinity
		if c.dependsOnOthers || c.selfHostnameLimited || c.selfAntiAffinity || len(c.pods[0].Spec.TopologySpreadConstraints) > 0 ||
			(a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil)) {
			s.displaceOK = false
		}
	}
	removed := map[*plannedNode]bool{}
	for _, c := range cands {
		if s.hurry() {
			break
		}
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
	var disps []displacement
	displaced := map[podRef]bool{}
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
				node, ds, err := s.displaceFor(r, p, n, removed, displaced)
				if err != nil {
					return false, err
				}
				if node == "" {
					return false, s.snap.Revert()
				}
				disps = append(disps, ds...)
				for _, d := range ds {
					displaced[d.ref] = true
				}
				moves = append(moves, move{r, node})
				placed = true
				continue
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
	for _, d := range disps {
		// Copies: saved solver states share the lists.
		s.placedOn[d.from] = slices.DeleteFunc(slices.Clone(s.placedOn[d.from]), func(x podRef) bool { return x == d.ref })
		s.placedOn[d.to] = append(slices.Clone(s.placedOn[d.to]), d.ref)
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

// Displacement: a pod of a node being emptied that fits nowhere may still go onto an existing
// node if pending pods placed there make room by moving to the spare room of other new
// nodes - existing room is free, so filling it with the pods that need it is what lets a new
// node go.

// displaceMax bounds the pods displaced for one pod.
const displaceMax = 4

type displacement struct {
	ref      podRef
	from, to string
}

// displaceFor tries, on each existing node in turn, to move pending pods placed there (not
// yet displaced) to other new nodes than n (and those removed) until ref's pod fits, and
// places it. It returns the node and the displacements, or "" when no node works; every
// step is on a nested fork, kept only when all of it passes Filter.
func (s *solver) displaceFor(ref podRef, p *Prepared, n *plannedNode, removed map[*plannedNode]bool, displaced map[podRef]bool) (string, []displacement, error) {
	if !s.displaceOK {
		return "", nil, nil
	}
	c := s.classes[ref.ci]
	for ei, name := range s.existing {
		if !s.existingOK[ref.ci][ei] {
			continue
		}
		free := freeOf(s.snap.NodeInfo(name))
		var deficit [numDims]int64
		short := false
		for d := 0; d < numDims; d++ {
			deficit[d] = max(c.req[d]-free[d], 0)
			short = short || deficit[d] > 0
		}
		if !short {
			continue
		}
		// Candidates: pending pods on the node, those covering the deficit best first.
		var cands []podRef
		for _, r := range s.placedOn[name] {
			if !displaced[r] {
				cands = append(cands, r)
			}
		}
		cover := func(r podRef) float64 {
			v := 0.0
			for d := 0; d < numDims; d++ {
				if deficit[d] > 0 {
					v += min(float64(s.classes[r.ci].req[d])/float64(deficit[d]), 1)
				}
			}
			return v
		}
		slices.SortStableFunc(cands, func(a, b podRef) int { return cmp.Compare(cover(b), cover(a)) })
		var chosen []podRef
		left := deficit
		for _, r := range cands {
			if len(chosen) == displaceMax {
				break
			}
			useful := false
			for d := 0; d < numDims; d++ {
				useful = useful || (left[d] > 0 && s.classes[r.ci].req[d] > 0)
			}
			if !useful {
				continue
			}
			chosen = append(chosen, r)
			done := true
			for d := 0; d < numDims; d++ {
				left[d] -= s.classes[r.ci].req[d]
				done = done && left[d] <= 0
			}
			if done {
				break
			}
		}
		if len(chosen) == 0 || left[dimCPU] > 0 || left[dimMemory] > 0 || left[dimPods] > 0 {
			continue
		}
		s.snap.Fork()
		ds, ok, err := s.displace(name, chosen, n, removed)
		if err != nil {
			return "", nil, err
		}
		if ok && s.sched.Filter(p, s.snap.NodeInfo(name)).IsSuccess() {
			if err := s.sched.PlaceInfo(p, c.infos[ref.i], name); err != nil {
				return "", nil, err
			}
			return name, ds, s.snap.Commit()
		}
		if err := s.snap.Revert(); err != nil {
			return "", nil, err
		}
	}
	return "", nil, nil
}

// displace moves the chosen pending pods off existing node from onto new nodes other than n
// (best fit, Filter deciding); false when one of them finds no place.
func (s *solver) displace(from string, chosen []podRef, n *plannedNode, removed map[*plannedNode]bool) ([]displacement, bool, error) {
	var ds []displacement
	for _, r := range chosen {
		c := s.classes[r.ci]
		pod := c.pods[r.i]
		if err := s.snap.RemovePod(pod, from); err != nil {
			return nil, false, err
		}
		prep := s.sched.Prepare(pod)
		to, bestLeft := "", 0.0
		for _, o := range s.newNodes {
			if o == n || removed[o] {
				continue
			}
			ni := s.snap.NodeInfo(o.name)
			f := freeOf(ni)
			if f[dimCPU] < c.req[dimCPU] || f[dimMemory] < c.req[dimMemory] || f[dimPods] < 1 {
				continue
			}
			left := max(float64(f[dimCPU]-c.req[dimCPU])/float64(max(ni.Allocatable.MilliCPU, 1)),
				float64(f[dimMemory]-c.req[dimMemory])/float64(max(ni.Allocatable.Memory, 1)))
			if (to == "" || left < bestLeft) && s.sched.Filter(prep, ni).IsSuccess() {
				to, bestLeft = o.name, left
			}
		}
		if to == "" {
			return nil, false, nil
		}
		if err := s.sched.PlaceInfo(prep, c.infos[r.i], to); err != nil {
			return nil, false, err
		}
		ds = append(ds, displacement{ref: r, from: from, to: to})
	}
	return ds, true, nil
}
