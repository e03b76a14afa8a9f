package simulator

import (
	"cmp"
	"fmt"
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
