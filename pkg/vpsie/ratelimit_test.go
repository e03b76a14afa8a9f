package vpsie

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestClientSideRateLimit(t *testing.T) {
	cases := []struct {
		name       string
		perMinute  float64
		burst      int
		calls      int
		wantSleeps []time.Duration
	}{
		{name: "60/min burst 1: one call a second", perMinute: 60, burst: 1, calls: 3, wantSleeps: []time.Duration{time.Second, time.Second}},
		{name: "60/min burst 3: the fourth call waits", perMinute: 60, burst: 3, calls: 4, wantSleeps: []time.Duration{time.Second}},
		{name: "120/min burst 1", perMinute: 120, burst: 1, calls: 2, wantSleeps: []time.Duration{500 * time.Millisecond}},
		{name: "disabled", perMinute: -1, calls: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := newAPIServer(t)
			srv.handle("GET", "/api/v2/vm", ok([]any{}))
			c, clk := newTestClient(t, srv.URL, func(o *Options) { o.RateLimit, o.RateBurst = tc.perMinute, tc.burst })
			for range tc.calls {
				_, err := c.ListVMs(context.Background())
				g.Expect(err).NotTo(HaveOccurred())
			}
			g.Expect(clk.Sleeps()).To(Equal(tc.wantSleeps))
			g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(tc.calls))
		})
	}
}

func TestRateLimitRefillsWithTime(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("GET", "/api/v2/vm", ok([]any{}))
	c, clk := newTestClient(t, srv.URL, func(o *Options) { o.RateLimit, o.RateBurst = 60, 1 })
	_, err := c.ListVMs(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	clk.Step(time.Second)
	_, err = c.ListVMs(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(clk.Sleeps()).To(BeEmpty())
}

func TestRateLimitWaitRespectsContext(t *testing.T) {
	t.Run("cancelled while waiting", func(t *testing.T) {
		g := NewWithT(t)
		srv := newAPIServer(t)
		srv.handle("GET", "/api/v2/vm", ok([]any{}))
		clk := newBlockingClock()
		c, _ := newTestClient(t, srv.URL, func(o *Options) { o.Clock, o.RateLimit, o.RateBurst = clk, 60, 1 })
		_, err := c.ListVMs(context.Background())
		g.Expect(err).NotTo(HaveOccurred())

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := c.ListVMs(ctx)
			done <- err
		}()
		g.Eventually(clk.waiting).Should(Receive(Equal(time.Second)))
		cancel()
		g.Eventually(done).Should(Receive(MatchError(context.Canceled)))
		g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(1))
	})
	t.Run("wait beyond the deadline fails at once", func(t *testing.T) {
		g := NewWithT(t)
		srv := newAPIServer(t)
		srv.handle("GET", "/api/v2/vm", ok([]any{}))
		c, clk := newTestClient(t, srv.URL, func(o *Options) { o.RateLimit, o.RateBurst = 1, 1 }) // one a minute
		_, err := c.ListVMs(context.Background())
		g.Expect(err).NotTo(HaveOccurred())
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err = c.ListVMs(ctx)
		g.Expect(err).To(MatchError(context.DeadlineExceeded))
		g.Expect(err.Error()).To(ContainSubstring("rate limit"))
		g.Expect(clk.Sleeps()).To(BeEmpty())
		// The cancelled reservation is given back: after a minute the next call goes at once.
		clk.Step(time.Minute)
		_, err = c.ListVMs(context.Background())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(clk.Sleeps()).To(BeEmpty())
	})
}
