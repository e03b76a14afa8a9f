package cloudprovider

import (
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

func TestAllowedOfferings(t *testing.T) {
	catalogue := []Offering{
		{ID: "3", Name: "s-4vcpu-8gb", Category: "standard", CPU: 4, MemoryMiB: 8192, HourlyPrice: 0.04, Available: true},
		{ID: "1", Name: "s-1vcpu-2gb", Category: "standard", CPU: 1, MemoryMiB: 2048, HourlyPrice: 0.01, Available: true},
		{ID: "2", Name: "s-2vcpu-4gb", Category: "standard", CPU: 2, MemoryMiB: 4096, HourlyPrice: 0.02, Available: true},
		{ID: "9", Name: "m-2vcpu-16gb", Category: "memory-optimized", CPU: 2, MemoryMiB: 16384, HourlyPrice: 0.02, Available: true},
		{ID: "5", Name: "s-8vcpu-16gb", Category: "standard", CPU: 8, MemoryMiB: 16384, HourlyPrice: 0.08, Available: false},
	}
	in := func(key string, values ...string) v1alpha1.NodeSelectorRequirement {
		return v1alpha1.NodeSelectorRequirement{Key: key, Operator: v1alpha1.NodeSelectorOpIn, Values: values}
	}
	cases := map[string]struct {
		spec     v1alpha1.NodeGroupSpec
		allowed  []string
		excluded []string
		err      string
	}{
		"no constraints: every available offering, by price then id": {
			spec:     v1alpha1.NodeGroupSpec{DatacenterID: "dc1"},
			allowed:  []string{"1", "2", "9", "3"},
			excluded: []string{"s-8vcpu-16gb unavailable"},
		},
		"offeringIDs allow-list": {
			spec:     v1alpha1.NodeGroupSpec{DatacenterID: "dc1", OfferingIDs: []string{"2", "3", "5"}},
			allowed:  []string{"2", "3"},
			excluded: []string{"s-1vcpu-2gb not in offeringIDs", "m-2vcpu-16gb not in offeringIDs", "s-8vcpu-16gb unavailable"},
		},
		"maxHourlyPrice is inclusive": {
			spec:     v1alpha1.NodeGroupSpec{DatacenterID: "dc1", MaxHourlyPrice: "0.02"},
			allowed:  []string{"1", "2", "9"},
			excluded: []string{"s-4vcpu-8gb costs 0.04000/h > maxHourlyPrice 0.02", "s-8vcpu-16gb unavailable"},
		},
		"requirements on category and a numeric Gt": {
			spec: v1alpha1.NodeGroupSpec{DatacenterID: "dc1", Requirements: []v1alpha1.NodeSelectorRequirement{
				in(v1alpha1.LabelCategory, "standard"),
				{Key: v1alpha1.LabelCPU, Operator: v1alpha1.NodeSelectorOpGt, Values: []string{"1"}},
			}},
			allowed: []string{"2", "3"},
			excluded: []string{
				"s-1vcpu-2gb does not satisfy autoscaling.vpsie.com/cpu Gt [1]",
				"m-2vcpu-16gb does not satisfy autoscaling.vpsie.com/category In [standard]",
				"s-8vcpu-16gb unavailable",
			},
		},
		"zone requirement uses the group's datacenter": {
			spec: v1alpha1.NodeGroupSpec{DatacenterID: "dc2", Requirements: []v1alpha1.NodeSelectorRequirement{in(v1alpha1.LabelZone, "dc1")}},
			excluded: []string{
				"s-4vcpu-8gb does not satisfy topology.kubernetes.io/zone In [dc1]",
				"s-1vcpu-2gb does not satisfy topology.kubernetes.io/zone In [dc1]",
				"s-2vcpu-4gb does not satisfy topology.kubernetes.io/zone In [dc1]",
				"m-2vcpu-16gb does not satisfy topology.kubernetes.io/zone In [dc1]",
				"s-8vcpu-16gb unavailable",
			},
		},
		"bad requirement is an error": {
			spec: v1alpha1.NodeGroupSpec{DatacenterID: "dc1", Requirements: []v1alpha1.NodeSelectorRequirement{{Key: v1alpha1.LabelCPU, Operator: "Near", Values: []string{"1"}}}},
			err:  "nodegroup ng",
		},
		"bad price is an error": {
			spec: v1alpha1.NodeGroupSpec{DatacenterID: "dc1", MaxHourlyPrice: "cheap"},
			err:  "maxHourlyPrice",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ng := &v1alpha1.NodeGroup{Spec: tc.spec}
			ng.Name = "ng"
			allowed, excluded, err := AllowedOfferings(ng, catalogue)
			if tc.err != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
				g.Expect(allowed).To(BeEmpty())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			var ids []string
			for _, o := range allowed {
				ids = append(ids, o.ID)
			}
			g.Expect(ids).To(Equal(tc.allowed))
			g.Expect(excluded).To(Equal(tc.excluded))
		})
	}
}
