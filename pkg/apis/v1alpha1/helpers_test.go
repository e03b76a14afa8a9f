package v1alpha1

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
)

func TestNillableDurationParse(t *testing.T) {
	for _, tc := range []struct {
		in      NillableDuration
		want    time.Duration
		set     bool
		wantErr string
	}{
		{in: "30s", want: 30 * time.Second, set: true},
		{in: "0s", want: 0, set: true},
		{in: "1h30m", want: 90 * time.Minute, set: true},
		{in: "720h", want: 720 * time.Hour, set: true},
		{in: "1h0m0s", want: time.Hour, set: true},
		{in: "Never", set: false},
		{in: "", wantErr: `parsing duration ""`},
		{in: "never", wantErr: `parsing duration "never"`},
		{in: "1.5h", wantErr: "integer hours/minutes/seconds"},
		{in: "500ms", wantErr: "integer hours/minutes/seconds"},
		{in: "-5m", wantErr: "integer hours/minutes/seconds"},
		{in: "1d", wantErr: "integer hours/minutes/seconds"},
		{in: "99999999999999999999h", wantErr: `parsing duration "99999999999999999999h"`},
	} {
		t.Run(string(tc.in), func(t *testing.T) {
			g := NewWithT(t)
			d, set, err := tc.in.Parse()
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(set).To(Equal(tc.set))
			g.Expect(d).To(Equal(tc.want))
		})
	}
}

func TestNillableDurationOfRoundTrips(t *testing.T) {
	g := NewWithT(t)
	for _, d := range []time.Duration{0, time.Second, 90 * time.Minute, 720 * time.Hour} {
		got, set, err := NillableDurationOf(d).Parse()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(set).To(BeTrue())
		g.Expect(got).To(Equal(d))
	}
	g.Expect(NillableDurationOf(1500*time.Millisecond)).To(Equal(NillableDuration("1s")), "sub-second parts are dropped so the CRD pattern accepts it")
	g.Expect(NillableDurationOf(-time.Minute)).To(Equal(NillableDuration("0s")))
}

func TestBudgetAllowedDisruptions(t *testing.T) {
	for _, tc := range []struct {
		nodes   string
		total   int
		want    int
		wantErr string
	}{
		{nodes: "10%", total: 0, want: 0},
		{nodes: "10%", total: 1, want: 1},  // rounds up: small groups still consolidate
		{nodes: "10%", total: 10, want: 1}, // exact
		{nodes: "10%", total: 11, want: 2}, // rounds up
		{nodes: "10%", total: 2000, want: 200},
		{nodes: "0%", total: 50, want: 0},
		{nodes: "100%", total: 7, want: 7},
		{nodes: "0", total: 50, want: 0},
		{nodes: "3", total: 50, want: 3},
		{nodes: "3", total: 2, want: 2}, // never more than there are nodes
		{nodes: "", total: 20, want: 2}, // unset behaves like the CRD default 10%
		{nodes: "99999999999999999999", total: 5, want: 5},
		{nodes: "101%", total: 5, wantErr: "percentage from 0% to 100%"},
		{nodes: "-1", total: 5, wantErr: "non-negative integer"},
		{nodes: "+1%", total: 5, wantErr: "percentage"},
		{nodes: "ten", total: 5, wantErr: "non-negative integer"},
		{nodes: "%", total: 5, wantErr: "percentage"},
		{nodes: "10%", total: -1, wantErr: "negative node count"},
	} {
		t.Run(tc.nodes, func(t *testing.T) {
			g := NewWithT(t)
			got, err := Budget{Nodes: tc.nodes}.AllowedDisruptions(tc.total)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(Equal(tc.want))
		})
	}
}

func TestParseHourlyPrice(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    float64
		wantErr string
	}{
		{in: "0.25", want: 0.25},
		{in: "1", want: 1},
		{in: "0.00822", want: 0.00822},
		{in: "12.5", want: 12.5},
		{in: "0", wantErr: "greater than zero"},
		{in: "0.000", wantErr: "greater than zero"},
		{in: "", wantErr: "positive decimal number"},
		{in: "-0.5", wantErr: "positive decimal number"},
		{in: ".5", wantErr: "positive decimal number"},
		{in: "1e3", wantErr: "positive decimal number"},
		{in: "0,25", wantErr: "positive decimal number"},
		{in: "1.", wantErr: "positive decimal number"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			g := NewWithT(t)
			got, err := ParseHourlyPrice(tc.in)
			if tc.wantErr != "" {
				g.Expect(err).To(MatchError(ContainSubstring(tc.wantErr)))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(got).To(BeNumerically("~", tc.want, 1e-12))
		})
	}
}

func TestHourlyPriceCap(t *testing.T) {
	g := NewWithT(t)
	_, set, err := (&NodeGroupSpec{}).HourlyPriceCap()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(set).To(BeFalse())
	p, set, err := (&NodeGroupSpec{MaxHourlyPrice: "0.5"}).HourlyPriceCap()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(set).To(BeTrue())
	g.Expect(p).To(Equal(0.5))
	_, _, err = (&NodeGroupSpec{MaxHourlyPrice: "cheap"}).HourlyPriceCap()
	g.Expect(err).To(MatchError(ContainSubstring(`"cheap"`)))
}

func TestTaintConversions(t *testing.T) {
	g := NewWithT(t)
	g.Expect(CoreTaints(nil)).To(BeNil())
	in := []Taint{{Key: "dedicated", Value: "compute", Effect: corev1.TaintEffectNoSchedule}, {Key: "k", Effect: corev1.TaintEffectNoExecute}}
	core := CoreTaints(in)
	g.Expect(core).To(Equal([]corev1.Taint{
		{Key: "dedicated", Value: "compute", Effect: corev1.TaintEffectNoSchedule},
		{Key: "k", Effect: corev1.TaintEffectNoExecute},
	}))
	g.Expect(TaintFromCore(core[0])).To(Equal(in[0]))
}

func TestBudgetAppliesTo(t *testing.T) {
	g := NewWithT(t)
	all := Budget{Nodes: "1"}
	for _, r := range []DisruptionReason{DisruptionReasonEmpty, DisruptionReasonUnderutilized, DisruptionReasonDrifted, DisruptionReasonExpired} {
		g.Expect(all.AppliesTo(r)).To(BeTrue(), "a budget without reasons limits %s", r)
	}
	some := Budget{Nodes: "0", Reasons: []DisruptionReason{DisruptionReasonUnderutilized, DisruptionReasonDrifted}}
	g.Expect(some.AppliesTo(DisruptionReasonUnderutilized)).To(BeTrue())
	g.Expect(some.AppliesTo(DisruptionReasonDrifted)).To(BeTrue())
	g.Expect(some.AppliesTo(DisruptionReasonEmpty)).To(BeFalse())
	g.Expect(some.AppliesTo(DisruptionReasonExpired)).To(BeFalse())
}
