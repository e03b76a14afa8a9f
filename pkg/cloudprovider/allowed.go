package cloudprovider

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
)

// AllowedOfferings returns the offerings the NodeGroup may launch: available, in spec.offeringIDs
// when set, at most spec.maxHourlyPrice, and satisfying spec.requirements on OfferingLabels. They
// are sorted by hourly price, then ID, so allowed[0] is the cheapest. excluded says, per offering
// left out, why (the same wording as the simulator's unplaceable reasons). err is a spec the
// NodeGroup cannot be evaluated with (a bad requirement or price); then nothing is allowed.
func AllowedOfferings(ng *v1alpha1.NodeGroup, offerings []Offering) (allowed []Offering, excluded []string, err error) {
	var reqs scheduling.Requirements
	for _, r := range ng.Spec.Requirements {
		reqs = append(reqs, scheduling.Requirement{Key: r.Key, Operator: string(r.Operator), Values: r.Values})
	}
	if err := reqs.Validate(); err != nil {
		return nil, nil, fmt.Errorf("nodegroup %s: %w", ng.Name, err)
	}
	priceCap, capped, err := ng.Spec.HourlyPriceCap()
	if err != nil {
		return nil, nil, fmt.Errorf("nodegroup %s: maxHourlyPrice: %w", ng.Name, err)
	}
	var ids map[string]bool
	if len(ng.Spec.OfferingIDs) > 0 {
		ids = map[string]bool{}
		for _, id := range ng.Spec.OfferingIDs {
			ids[id] = true
		}
	}
	for _, o := range offerings {
		reason := ""
		switch {
		case !o.Available:
			reason = fmt.Sprintf("%s unavailable", o.Name)
		case ids != nil && !ids[o.ID]:
			reason = fmt.Sprintf("%s not in offeringIDs", o.Name)
		case capped && o.HourlyPrice > priceCap:
			reason = fmt.Sprintf("%s costs %.5f/h > maxHourlyPrice %g", o.Name, o.HourlyPrice, priceCap)
		default:
			ok, unmet, err := reqs.Matches(OfferingLabels(o, ng.Spec.DatacenterID))
			switch {
			case err != nil:
				reason = fmt.Sprintf("%s: %v", o.Name, err)
			case !ok:
				reason = fmt.Sprintf("%s does not satisfy %s", o.Name, unmet)
			}
		}
		if reason != "" {
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
