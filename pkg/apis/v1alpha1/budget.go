package v1alpha1

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// AllowedDisruptions returns how many of total nodes the budget lets be disrupted at once.
//
// A percentage rounds UP (as Karpenter does): "10%" of 3 nodes allows 1, so small groups can still
// be consolidated; "0%" and "0" allow none. The result never exceeds total.
func (b Budget) AllowedDisruptions(total int) (int, error) {
	if total < 0 {
		return 0, fmt.Errorf("computing budget %q, negative node count %d", b.Nodes, total)
	}
	s := b.Nodes
	if s == "" {
		// The CRD defaults nodes to 10%; an in-memory object built without it gets the same.
		s = "10%"
	}
	if pct, ok := strings.CutSuffix(s, "%"); ok {
		p, err := strconv.Atoi(pct)
		if err != nil || p < 0 || p > 100 || !isDigits(pct) {
			return 0, fmt.Errorf("parsing budget nodes %q, want a percentage from 0%% to 100%%", s)
		}
		return (total*p + 99) / 100, nil
	}
	if !isDigits(s) {
		return 0, fmt.Errorf("parsing budget nodes %q, want a non-negative integer or a percentage", s)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Only overflow gets here: a count that large cannot limit anything.
		return total, nil
	}
	return int(min(n, int64(total))), nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// AppliesTo reports whether the budget limits disruptions for reason: a budget without reasons
// limits all of them.
func (b Budget) AppliesTo(reason DisruptionReason) bool {
	return len(b.Reasons) == 0 || slices.Contains(b.Reasons, reason)
}
