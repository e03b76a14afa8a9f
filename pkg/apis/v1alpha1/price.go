package v1alpha1

import (
	"fmt"
	"math"
	"math/big"
	"regexp"
)

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
