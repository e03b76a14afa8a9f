// Package scheduling holds pure helpers shared by the simulator and the controllers: matching
// node-selector style requirements against labels, and turning offering capacity into node
// allocatable. Nothing here talks to a cluster or to the cloud.
package scheduling

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Operators of a Requirement; the same set and meaning as corev1.NodeSelectorOperator.
const (
	OpIn           = "In"
	OpNotIn        = "NotIn"
	OpExists       = "Exists"
	OpDoesNotExist = "DoesNotExist"
	OpGt           = "Gt"
	OpLt           = "Lt"
)

// Requirement is one node-selector style constraint on a label. It is deliberately free of API
// types so that NodeGroup requirements, node affinity terms and tests can all be turned into it.
type Requirement struct {
	Key      string
	Operator string
	Values   []string
}

// String renders the requirement the way a user wrote it, for messages such as
// "autoscaling.vpsie.com/category In [standard]".
func (r Requirement) String() string {
	switch r.Operator {
	case OpExists, OpDoesNotExist:
		return r.Key + " " + r.Operator
	default:
		return fmt.Sprintf("%s %s [%s]", r.Key, r.Operator, strings.Join(r.Values, ","))
	}
}

// Validate reports a requirement that can never be evaluated meaningfully: unknown operator,
// missing values for In/NotIn, values for Exists/DoesNotExist, or a non-integer bound for Gt/Lt.
func (r Requirement) Validate() error {
	if r.Key == "" {
		return fmt.Errorf("requirement has an empty key")
	}
	switch r.Operator {
	case OpIn, OpNotIn:
		if len(r.Values) == 0 {
			return fmt.Errorf("requirement %q: operator %s needs at least one value", r.Key, r.Operator)
		}
	case OpExists, OpDoesNotExist:
		if len(r.Values) != 0 {
			return fmt.Errorf("requirement %q: operator %s takes no values, got %d", r.Key, r.Operator, len(r.Values))
		}
	case OpGt, OpLt:
		if len(r.Values) != 1 {
			return fmt.Errorf("requirement %q: operator %s needs exactly one value, got %d", r.Key, r.Operator, len(r.Values))
		}
		if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
			return fmt.Errorf("requirement %q: operator %s needs an integer value, got %q", r.Key, r.Operator, r.Values[0])
		}
	default:
		return fmt.Errorf("requirement %q: unknown operator %q", r.Key, r.Operator)
	}
	return nil
}

// Matches says whether labels satisfy the requirement. An invalid requirement returns an error
// and never matches. Gt/Lt compare integers; a label that is absent or not an integer does not
// satisfy them (as in the kube-scheduler).
func (r Requirement) Matches(labels map[string]string) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	value, has := labels[r.Key]
	switch r.Operator {
	case OpIn:
		return has && slices.Contains(r.Values, value), nil
	case OpNotIn:
		return !has || !slices.Contains(r.Values, value), nil
	case OpExists:
		return has, nil
	case OpDoesNotExist:
		return !has, nil
	case OpGt, OpLt:
		if !has {
			return false, nil
		}
		got, err := strconv.ParseInt(value, 10, 64)
		if err != nil {
			return false, nil
		}
		bound, _ := strconv.ParseInt(r.Values[0], 10, 64) // validated above
		if r.Operator == OpGt {
			return got > bound, nil
		}
		return got < bound, nil
	}
	return false, nil
}

// Requirements are ANDed.
type Requirements []Requirement

// Validate returns the first invalid requirement's error.
func (rs Requirements) Validate() error {
	for _, r := range rs {
		if err := r.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// Matches says whether labels satisfy every requirement. When they do not, unmet is the first
// requirement that failed, so callers can say why an offering was excluded.
func (rs Requirements) Matches(labels map[string]string) (ok bool, unmet *Requirement, err error) {
	for i := range rs {
		m, err := rs[i].Matches(labels)
		if err != nil {
			return false, &rs[i], err
		}
		if !m {
			return false, &rs[i], nil
		}
	}
	return true, nil, nil
}
