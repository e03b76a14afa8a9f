// Package packing is the optimiser behind the simulator, on an abstract problem: classes of
// identical items with demands and counting constraints, to be put into bins of priced types
// with capacities (bought, within per-group limits) or into existing bins (free). It knows
// nothing of Kubernetes: the simulator translates pods, offerings and nodes into a Problem,
// asks for prices, bounds and node patterns, and lets the scheduler framework confirm every
// placement; consolidation reuses it to re-pack.
//
// What it offers: the covering LP (fractional vector bin packing, a lower bound and the
// classes' marginal prices), column generation of whole-item bin patterns (for new bins, and
// for new and existing bins together), the configuration-LP bound, and the knapsack pricing
// those need, all on a sparse two-phase revised simplex.
package packing

// Dimensions of demands and capacities: cpu millicores, memory bytes, item slots (pods).
const (
	DimCPU = iota
	DimMemory
	DimPods
	NumDims
)

// Vec is an amount in every dimension.
type Vec = [NumDims]int64

// dimUnit scales dimensions to sizes that keep the simplex well conditioned: cores, GiB, pods.
var dimUnit = [NumDims]float64{1000, 1 << 30, 1}

// Unit is a dimension's LP unit (1000 millicores, 1 GiB, one pod).
func Unit(d int) float64 { return dimUnit[d] }

// Class is a set of interchangeable items.
type Class struct {
	Req Vec
	// OnePerBin: never two members in one bin, a hard fact the bounds may use.
	OnePerBin bool
	// Limited: patterns put at most one member in a new bin. It holds whenever OnePerBin does,
	// and also for constraints that allow more per bin later (a spread over bins), so only
	// the packing heuristics, never a bound, may rely on it.
	Limited bool
}

// BinType is a bin that may be bought.
type BinType struct {
	Free  Vec
	Price float64
	// Group indexes the Limits a bin of this type counts against (-1: none).
	Group int
	// Cores and GiB are what one bin counts against its group's cpu and memory limits.
	Cores, GiB float64
}

// Limit is what a group may still buy, where it has a limit of that kind (Has*). The caller
// says what is left: from the start of the plan for a bound, from now while packing.
type Limit struct {
	HasNodes, HasCores, HasGiB bool
	Nodes, Cores, GiB          float64
}

// Problem is the static part of a packing instance: what the classes and bin types are. What
// changes as a plan grows (which classes may go where, existing bins' room, limits) is given
// per call.
type Problem struct {
	Classes []Class
	Types   []BinType
	// Buyable says whether one more bin of type t stays within its group's limits now (nil:
	// always).
	Buyable func(t int) bool
	// Stop, when set, is asked by the simplex every few pivots; true abandons the solve, and
	// every caller then falls back to what it has.
	Stop func() bool

	// covers and coverKeys: the covering LPs solved lately (see Cover), oldest first.
	covers    map[string]CoverResult
	coverKeys []string
}

func (p *Problem) buyable(t int) bool { return p.Buyable == nil || p.Buyable(t) }

func (p *Problem) newLP() *sparseLP { return &sparseLP{stop: p.Stop} }

func (p *Problem) stopped() bool { return p.Stop != nil && p.Stop() }

// Pattern is the content of one bin: Counts per shape. Bin is a type index, or, in
// column generation with existing bins, len(Types)+e for existing bin e.
type Pattern struct {
	Bin    int
	Counts []int
}
