package v1alpha1

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// NillableDuration is a duration written as a Go duration string made of integer hours, minutes
// and seconds ("30s", "1h30m", "720h"), or the word "Never". A plain string, not a struct with
// custom JSON, so it needs no hand-written OpenAPI and stays comparable.
//
// The CRD checks the syntax with a CEL rule on each field that uses the type, so the message
// can name the field.
//
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:MaxLength=32
type NillableDuration string

// Never disables the behaviour the duration controls (consolidation, expiry).
const Never NillableDuration = "Never"

// durationPattern mirrors the CRD rule without the "Never" alternative.
var durationPattern = regexp.MustCompile(`^([0-9]+(s|m|h))+$`)

// NillableDurationOf formats d the way the CRD accepts it (whole seconds, e.g. "1h30m0s");
// negative durations become "0s".
func NillableDurationOf(d time.Duration) NillableDuration {
	d = max(d, 0)
	return NillableDuration(d.Truncate(time.Second).String())
}

// Parse returns the duration and true, or false when the value is "Never". The empty string is an
// error: callers decide what an unset field means (the CRD defaults it before anyone reads it).
func (d NillableDuration) Parse() (time.Duration, bool, error) {
	if d == Never {
		return 0, false, nil
	}
	s := string(d)
	if !durationPattern.MatchString(s) {
		return 0, false, fmt.Errorf("parsing duration %q, want integer hours/minutes/seconds such as \"90s\" or \"1h30m\", or \"Never\"", s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, false, fmt.Errorf("parsing duration %q, %w", s, err)
	}
	return v, true, nil
}

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

var pricePattern = regexp.MustCompile(`^[0-9]{1,9}([.][0-9]{1,9})?$`)

// ParseHourlyPrice parses a NodeGroup maxHourlyPrice ("0.25"): a positive decimal number of USD
// per hour, with the same syntax the CRD enforces.
func ParseHourlyPrice(s string) (float64, error) {
	if !pricePattern.MatchString(s) {
		return 0, fmt.Errorf("parsing hourly price %q, want a positive decimal number such as \"0.25\"", s)
	}
	// big.Rat parses the exact decimal; float64 is precise enough to compare prices.
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, fmt.Errorf("parsing hourly price %q, not a decimal number", s)
	}
	if r.Sign() <= 0 {
		return 0, fmt.Errorf("parsing hourly price %q, must be greater than zero", s)
	}
	f, _ := r.Float64()
	if math.IsInf(f, 0) {
		return 0, fmt.Errorf("parsing hourly price %q, out of range", s)
	}
	return f, nil
}

// HourlyPriceCap returns spec.maxHourlyPrice parsed, and false when it is unset.
func (s *NodeGroupSpec) HourlyPriceCap() (float64, bool, error) {
	if s.MaxHourlyPrice == "" {
		return 0, false, nil
	}
	f, err := ParseHourlyPrice(s.MaxHourlyPrice)
	if err != nil {
		return 0, false, err
	}
	return f, true, nil
}
