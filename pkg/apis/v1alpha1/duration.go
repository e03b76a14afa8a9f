package v1alpha1

import (
	"fmt"
	"regexp"
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
