package simulator

import (
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator/packing"
)

// The optimiser works on an abstract problem (package packing): the pending classes' requests
// and counting constraints, the templates' free room and prices, what fits where. This file
// translates the solver's state into it.

// dimUnit is the LP unit of each dimension (cores, GiB, pods).
var dimUnit = [numDims]float64{packing.Unit(dimCPU), packing.Unit(dimMemory), packing.Unit(dimPods)}

// problem is the packing problem of this run: classes and templates do not change once the
// solver is built; which templates are still buyable is asked as it goes.
func (s *solver) problem() *packing.Problem {
	if s.prob != nil {
		return s.prob
	}
	p := &packing.Problem{
		Classes: make([]packing.Class, len(s.classes)),
		Types:   make([]packing.BinType, len(s.templates)),
		Buyable: func(ti int) bool { t := s.templates[ti]; return t.group.allows(t.offering) },
		Stop:    s.hurry,
	}
	for ci, c := range s.classes {
		p.Classes[ci] = packing.Class{Req: c.req, OnePerBin: c.selfAntiAffinity, Limited: c.selfHostnameLimited}
	}
	groupIndex := map[*nodeGroup]int{}
	for gi, g := range s.groups {
		groupIndex[g] = gi
	}
	for ti, t := range s.templates {
		gi, ok := groupIndex[t.group]
		if !ok {
			gi = -1
		}
		p.Types[ti] = packing.BinType{
			Free: t.free, Price: t.offering.HourlyPrice, Group: gi,
			Cores: float64(t.offering.CPU), GiB: float64(t.offering.MemoryMiB<<20) / dimUnit[dimMemory],
		}
	}
	s.prob = p
	return p
}

// limits is what each NodeGroup may still buy: counted from the start of the plan (base, for
// the lower bound) or from now (while packing).
func (s *solver) limits(base bool) []packing.Limit {
	out := make([]packing.Limit, len(s.groups))
	for gi, g := range s.groups {
		nodes, cpu, mem := g.nodes, g.cpu, g.memory
		if base {
			nodes, cpu, mem = g.baseNodes, g.baseCPU, g.baseMemory
		}
		out[gi] = packing.Limit{
			HasNodes: g.maxNodes > 0, Nodes: float64(g.maxNodes - nodes),
			HasCores: g.limitCPU != 0, Cores: float64(g.limitCPU-cpu) / dimUnit[dimCPU],
			HasGiB: g.limitMem != 0, GiB: float64(g.limitMem-mem) / dimUnit[dimMemory],
		}
	}
	return out
}

// coverInput is the covering LP for counts[c] pods of each class on the templates s.allowed
// permits (native rows with s.native). With useExisting, existing nodes' free room (before
// any pending pod was placed) is free supply and limits count from the start of the plan.
func (s *solver) coverInput(counts []int, useExisting bool) packing.CoverInput {
	in := packing.CoverInput{Counts: counts, Allowed: s.allowed, Native: s.native, Limits: s.limits(useExisting)}
	if useExisting {
		in.Compat, in.ExistingFree = s.existingOK, s.existingFree
	}
	return in
}

func (s *solver) cover(counts []int, useExisting bool) (packing.CoverResult, error) {
	return s.problem().Cover(s.coverInput(counts, useExisting))
}

// lowerBound is the LP bound for the pending pods the plan places (on existing or new nodes),
// with existing free room as free supply. Pods the plan leaves out are left out here too:
// NodeGroup limits are not in the LP, so a bound over them could exceed what any plan within
// the limits may spend.
func (s *solver) lowerBound() (float64, error) {
	// The bound must consider every template a pod could use: not only the highest-weight
	// ones (a pod may take spare room on any planned node) nor only those packing still
	// proposes.
	current := s.allowed
	s.allowed, s.native = s.boundFits, s.allowedAtStart
	defer func() { s.allowed, s.native = current, nil }()
	counts := make([]int, len(s.classes))
	copy(counts, s.next)
	in := s.coverInput(counts, true)
	res, err := s.problem().Cover(in)
	if err != nil {
		return 0, err
	}
	return max(res.Cost, s.problem().ConfigBound(in)), nil
}
