package scheduling

import (
	"testing"

	. "github.com/onsi/gomega"
)

func TestRequirementMatches(t *testing.T) {
	labels := map[string]string{
		"autoscaling.vpsie.com/category": "standard",
		"autoscaling.vpsie.com/cpu":      "8",
		"weird":                          "eight",
	}
	cases := []struct {
		name string
		req  Requirement
		want bool
	}{
		{"in hit", Requirement{"autoscaling.vpsie.com/category", OpIn, []string{"memory-optimized", "standard"}}, true},
		{"in miss", Requirement{"autoscaling.vpsie.com/category", OpIn, []string{"memory-optimized"}}, false},
		{"in on absent key", Requirement{"absent", OpIn, []string{"x"}}, false},
		{"notin hit", Requirement{"autoscaling.vpsie.com/category", OpNotIn, []string{"standard"}}, false},
		{"notin miss", Requirement{"autoscaling.vpsie.com/category", OpNotIn, []string{"cpu-optimized"}}, true},
		{"notin on absent key", Requirement{"absent", OpNotIn, []string{"x"}}, true},
		{"exists", Requirement{"autoscaling.vpsie.com/cpu", OpExists, nil}, true},
		{"exists absent", Requirement{"absent", OpExists, nil}, false},
		{"doesnotexist", Requirement{"absent", OpDoesNotExist, nil}, true},
		{"doesnotexist present", Requirement{"autoscaling.vpsie.com/cpu", OpDoesNotExist, nil}, false},
		{"gt true", Requirement{"autoscaling.vpsie.com/cpu", OpGt, []string{"4"}}, true},
		{"gt equal is false", Requirement{"autoscaling.vpsie.com/cpu", OpGt, []string{"8"}}, false},
		{"lt true", Requirement{"autoscaling.vpsie.com/cpu", OpLt, []string{"16"}}, true},
		{"lt equal is false", Requirement{"autoscaling.vpsie.com/cpu", OpLt, []string{"8"}}, false},
		{"gt negative bound", Requirement{"autoscaling.vpsie.com/cpu", OpGt, []string{"-1"}}, true},
		{"gt on absent key", Requirement{"absent", OpGt, []string{"1"}}, false},
		{"gt on non-integer label", Requirement{"weird", OpGt, []string{"1"}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			got, err := tc.req.Matches(labels)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestRequirementValidate(t *testing.T) {
	cases := []struct {
		name    string
		req     Requirement
		wantErr string
	}{
		{"unknown operator", Requirement{"k", "Like", []string{"x"}}, `unknown operator "Like"`},
		{"empty key", Requirement{"", OpExists, nil}, "empty key"},
		{"in without values", Requirement{"k", OpIn, nil}, "at least one value"},
		{"exists with values", Requirement{"k", OpExists, []string{"x"}}, "takes no values"},
		{"gt two values", Requirement{"k", OpGt, []string{"1", "2"}}, "exactly one value"},
		{"lt not integer", Requirement{"k", OpLt, []string{"1.5"}}, "integer value"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			g.Expect(tc.req.Validate()).To(MatchError(ContainSubstring(tc.wantErr)))
			ok, err := tc.req.Matches(map[string]string{"k": "1"})
			g.Expect(err).To(HaveOccurred())
			g.Expect(ok).To(BeFalse())
		})
	}
}

func TestRequirementsMatchesReportsFirstUnmet(t *testing.T) {
	g := NewWithT(t)
	rs := Requirements{
		{"autoscaling.vpsie.com/category", OpIn, []string{"standard"}},
		{"autoscaling.vpsie.com/cpu", OpLt, []string{"8"}},
		{"autoscaling.vpsie.com/cpu", OpGt, []string{"100"}},
	}
	ok, unmet, err := rs.Matches(map[string]string{"autoscaling.vpsie.com/category": "standard", "autoscaling.vpsie.com/cpu": "8"})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeFalse())
	g.Expect(unmet.String()).To(Equal("autoscaling.vpsie.com/cpu Lt [8]"))

	ok, unmet, err = Requirements{}.Matches(nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ok).To(BeTrue())
	g.Expect(unmet).To(BeNil())

	g.Expect(Requirements{{"k", OpExists, nil}, {"k", "Bad", nil}}.Validate()).To(HaveOccurred())
}
