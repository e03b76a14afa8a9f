package cloudprovider

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
)

// OfferingFilter is a NodeGroup's offering constraints (offeringIDs, maxHourlyPrice,
// requirements), parsed once; the simulator and the controllers judge offerings with it.
type OfferingFilter struct {
	reqs       scheduling.Requirements
	ids        map[string]bool
	priceCap   float64
	capped     bool
	datacenter string
}

// NewOfferingFilter parses the NodeGroup's constraints; the error is a spec the NodeGroup cannot
// be evaluated with (a bad requirement or price).
func NewOfferingFilter(ng *v1alpha1.NodeGroup) (*OfferingFilter, error) {
	f := &OfferingFilter{datacenter: ng.Spec.DatacenterID}
	for _, r := range ng.Spec.Requirements {
		f.reqs = append(f.reqs, scheduling.Requirement{Key: r.Key, Operator: string(r.Operator), Values: r.Values})
	}
	if err := f.reqs.Validate(); err != nil {
		return nil, fmt.Errorf("nodegroup %s: %w", ng.Name, err)
	}
	var err error
	if f.priceCap, f.capped, err = ng.Spec.HourlyPriceCap(); err != nil {
		return nil, fmt.Errorf("nodegroup %s: maxHourlyPrice: %w", ng.Name, err)
	}
	if len(ng.Spec.OfferingIDs) > 0 {
		f.ids = map[string]bool{}
		for _, id := range ng.Spec.OfferingIDs {
			f.ids[id] = true
		}
	}
	return f, nil
}

// Excludes says why the NodeGroup may not use the offering, or "" when it may: unavailable, not
// in offeringIDs, above maxHourlyPrice, or not satisfying the requirements on OfferingLabels.
func (f *OfferingFilter) Excludes(o Offering) string {
	switch {
	case !o.Available:
		return fmt.Sprintf("%s unavailable", o.Name)
	case f.ids != nil && !f.ids[o.ID]:
		return fmt.Sprintf("%s not in offeringIDs", o.Name)
	case f.capped && o.HourlyPrice > f.priceCap:
		return fmt.Sprintf("%s costs %.5f/h > maxHourlyPrice %g", o.Name, o.HourlyPrice, f.priceCap)
	}
	ok, unmet, err := f.reqs.Matches(OfferingLabels(o, f.datacenter))
	switch {
	case err != nil:
		return fmt.Sprintf("%s: %v", o.Name, err)
	case !ok:
		return fmt.Sprintf("%s does not satisfy %s", o.Name, unmet)
	}
	return ""
}

// AllowedOfferings returns the offerings the NodeGroup may launch (see OfferingFilter). They
// are sorted by hourly price, then ID, so allowed[0] is the cheapest. excluded says, per offering
// left out, why (the same wording as the simulator's unplaceable reasons). err is a spec the
// NodeGroup cannot be evaluated with (a bad requirement or price); then nothing is allowed.
func AllowedOfferings(ng *v1alpha1.NodeGroup, offerings []Offering) (allowed []Offering, excluded []string, err error) {
	f, err := NewOfferingFilter(ng)
	if err != nil {
		return nil, nil, err
	}
	for _, o := range offerings {
		if reason := f.Excludes(o); reason != "" {
			excluded = append(excluded, reason)
			continue
		}
		allowed = append(allowed, o)
	}
	slices.SortStableFunc(allowed, func(a, b Offering) int {
		if c := cmp.Compare(a.HourlyPrice, b.HourlyPrice); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return allowed, excluded, nil
}
