package simulator

import (
	"slices"
)

// Exchange on existing nodes. Diving rounds the LP's fractional choice of what goes on the
// existing nodes' free room, and the pods it leaves out may be just those that are dear on
// new nodes (memory-heavy pods on a cluster whose cheap offerings are cpu-heavy), while the
// room holds pods that new nodes host cheaply. Priced by the covering LP of the pods left
// (what one more pod of a class costs on new nodes), a node swaps m pods of one class for k
// pods of another when k*value(in) > m*value(out), and the pods swapped out go back to the
// pending pods. Resource arithmetic proposes, Filter decides each placement on a fork.

const (
	exchangeRounds = 6
	// exchangeMinGain: a swap must gain this share of the value it removes, so rounding noise
	// in the prices does not make pods circle.
	exchangeMinGain = 0.02
	// exchangeMaxOut bounds the pods of one class a swap takes out.
	exchangeMaxOut = 4
)

func (s *solver) exchangeExisting() error {
	if len(s.existing) == 0 || s.hurry() {
		return nil
	}
	swappable := make([]bool, len(s.classes))
	for ci, c := range s.classes {
		a := c.pods[0].Spec.Affinity
		if a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil) {
			if a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
				// Taking a pod out could pull the ground from under another's affinity.
				return nil
			}
			continue
		}
		swappable[ci] = !c.dependsOnOthers && !c.selfHostnameLimited && !c.selfAntiAffinity
	}
	for round := 0; round < exchangeRounds; round++ {
		counts := make([]int, len(s.classes))
		anyLeft := false
		for ci, c := range s.classes {
			left := len(c.pods) - s.next[ci]
			anyLeft = anyLeft || (left > 0 && swappable[ci])
			// Classes all placed are priced as if one pod were left.
			counts[ci] = max(left, 1)
		}
		if !anyLeft {
			return nil
		}
		res, err := s.cover(counts, false)
		if err != nil {
			return nil
		}
		value := res.Value
		swapped := false
		for ei, name := range s.existing {
			ok, err := s.exchangeOn(ei, name, value, swappable)
			if err != nil {
				return err
			}
			swapped = swapped || ok
		}
		if !swapped {
			return nil
		}
	}
	return nil
}

// exchangeOn makes the best swap on existing node ei, if any gains.
func (s *solver) exchangeOn(ei int, name string, value []float64, swappable []bool) (bool, error) {
	refs := s.placedOn[name]
	if len(refs) == 0 {
		return false, nil
	}
	onNode := map[int]int{}
	var outClasses []int
	for _, r := range refs {
		if swappable[r.ci] {
			if onNode[r.ci] == 0 {
				outClasses = append(outClasses, r.ci)
			}
			onNode[r.ci]++
		}
	}
	free := freeOf(s.snap.NodeInfo(name))
	bestGain, bestOut, bestM, bestIn, bestK := 0.0, -1, 0, -1, 0
	for _, out := range outClasses {
		ro := s.classes[out].req
		for m := 1; m <= min(onNode[out], exchangeMaxOut); m++ {
			var room [numDims]int64
			for d := 0; d < numDims; d++ {
				room[d] = free[d] + int64(m)*ro[d]
			}
			lost := float64(m) * value[out]
			for in, c := range s.classes {
				left := len(c.pods) - s.next[in]
				if in == out || left == 0 || !swappable[in] || !s.existingOK[in][ei] || value[in] <= 0 {
					continue
				}
				k := int64(left)
				for d := 0; d < numDims; d++ {
					if c.req[d] > 0 {
						k = min(k, room[d]/c.req[d])
					}
				}
				if k <= 0 {
					continue
				}
				gain := float64(k)*value[in] - lost
				if gain > exchangeMinGain*lost && gain > bestGain {
					bestGain, bestOut, bestM, bestIn, bestK = gain, out, m, in, int(k)
				}
			}
		}
	}
	if bestOut < 0 {
		return false, nil
	}
	return s.swap(name, bestOut, bestM, bestIn, bestK)
}

// swap takes m pods of class out off node name and puts k pods of class in there, on a fork
// that is kept only if Filter accepts every placement. The class's placed members stay its
// first next[out]: the member taken off is the last placed one, wherever it was, and a
// member on this node takes its place there.
func (s *solver) swap(name string, out, m, in, k int) (bool, error) {
	where := map[int]string{} // member -> node, for class out
	for node, refs := range s.placedOn {
		for _, r := range refs {
			if r.ci == out {
				where[r.i] = node
			}
		}
	}
	savedNext := s.next[out]
	savedRefs := map[string][]podRef{}
	// keep remembers a node's list before its first change and gives the node a copy to
	// change: saved solver states share the original.
	keep := func(node string) {
		if _, ok := savedRefs[node]; !ok {
			savedRefs[node] = s.placedOn[node]
			s.placedOn[node] = slices.Clone(s.placedOn[node])
		}
	}
	fail := func() (bool, error) {
		s.next[out] = savedNext
		for node, refs := range savedRefs {
			s.placedOn[node] = refs
		}
		return false, s.snap.Revert()
	}
	c := s.classes[out]
	s.snap.Fork()
	for j := 0; j < m; j++ {
		last := s.next[out] - 1
		// A member of the class on this node.
		mine := -1
		for _, r := range s.placedOn[name] {
			if r.ci == out && (mine < 0 || r.i > mine) {
				mine = r.i
			}
		}
		if mine < 0 || last < 0 {
			return fail()
		}
		keep(name)
		if err := s.snap.RemovePod(c.pods[mine], name); err != nil {
			return false, err
		}
		s.placedOn[name] = slices.DeleteFunc(s.placedOn[name], func(r podRef) bool { return r.ci == out && r.i == mine })
		if mine != last {
			// Member last moves off its node; member mine takes its place there.
			other := where[last]
			keep(other)
			if err := s.snap.RemovePod(c.pods[last], other); err != nil {
				return false, err
			}
			if !s.sched.Filter(c.prep, s.snap.NodeInfo(other)).IsSuccess() {
				return fail()
			}
			if err := s.sched.PlaceInfo(c.prep, c.infos[mine], other); err != nil {
				return false, err
			}
			for x, r := range s.placedOn[other] {
				if r.ci == out && r.i == last {
					s.placedOn[other][x] = podRef{ci: out, i: mine}
				}
			}
			where[mine] = other
		}
		delete(where, last)
		s.next[out]--
	}
	savedIn := s.next[in]
	keep(name)
	for j := 0; j < k; j++ {
		if !s.sched.Filter(s.classes[in].prep, s.snap.NodeInfo(name)).IsSuccess() {
			s.next[in] = savedIn
			return fail()
		}
		if err := s.place(in, name); err != nil {
			return false, err
		}
	}
	return true, s.snap.Commit()
}
