package vpsie

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestRetriesOfIdempotentCalls(t *testing.T) {
	// Backoff with jitter fixed at 0.5 and base 500ms: 250ms, 500ms, 1s, ...
	cases := []struct {
		name       string
		answers    []http.HandlerFunc
		wantSleeps []time.Duration
		wantErr    func(error) bool
	}{
		{name: "429 with Retry-After seconds", answers: []http.HandlerFunc{fail(429, 429, "too many requests", "Retry-After", "3"), ok([]any{})},
			wantSleeps: []time.Duration{3 * time.Second}},
		{name: "503 with Retry-After date", answers: []http.HandlerFunc{
			func(w http.ResponseWriter, r *http.Request) {
				// The fake clock starts at 12:00:00 UTC.
				fail(503, 503, "maintenance", "Retry-After", "Thu, 26 Nov 2026 12:00:07 GMT")(w, r)
			}, ok([]any{})},
			wantSleeps: []time.Duration{7 * time.Second}},
		{name: "429 without Retry-After backs off", answers: []http.HandlerFunc{fail(429, 429, "slow down"), ok([]any{})},
			wantSleeps: []time.Duration{250 * time.Millisecond}},
		{name: "500 twice, exponential backoff", answers: []http.HandlerFunc{fail(500, 500, "boom"), fail(502, 502, "bad gateway"), ok([]any{})},
			wantSleeps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond}},
		{name: "Retry-After ignored on 500", answers: []http.HandlerFunc{fail(500, 500, "boom", "Retry-After", "30"), ok([]any{})},
			wantSleeps: []time.Duration{250 * time.Millisecond}},
		{name: "200 with error true and code 429", answers: []http.HandlerFunc{func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "2")
			writeRaw(w, 200, `{"error":true,"code":429,"message":"rate limited"}`)
		}, ok([]any{})}, wantSleeps: []time.Duration{2 * time.Second}},
		{name: "transport error", answers: []http.HandlerFunc{hangUp, ok([]any{})},
			wantSleeps: []time.Duration{250 * time.Millisecond}},
		{name: "gives up after MaxRetries", answers: []http.HandlerFunc{fail(500, 500, "boom")},
			wantSleeps: []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second},
			wantErr:    IsServerError},
		{name: "4xx not retried", answers: []http.HandlerFunc{fail(400, 400, "bad request")},
			wantErr: func(err error) bool { var e *Error; return errors.As(err, &e) && e.HTTPStatus == 400 }},
		{name: "409 not retried", answers: []http.HandlerFunc{fail(409, 409, "in transition")}, wantErr: IsConflict},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := newAPIServer(t)
			srv.handleSeq("GET", "/api/v2/vm", tc.answers...)
			c, clk := newTestClient(t, srv.URL)

			_, err := c.ListVMs(context.Background())
			if tc.wantErr != nil {
				g.Expect(tc.wantErr(err)).To(BeTrue(), "unexpected error %v", err)
			} else {
				g.Expect(err).NotTo(HaveOccurred())
			}
			g.Expect(clk.Sleeps()).To(Equal(tc.wantSleeps))
			g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(len(tc.wantSleeps) + 1))
		})
	}
}

func TestBackoffIsCappedFullJitter(t *testing.T) {
	g := NewWithT(t)
	jitter := 0.0
	c, _ := newTestClient(t, "http://127.0.0.1:1", func(o *Options) {
		o.BackoffBase, o.BackoffMax = time.Second, 4*time.Second
		o.Rand = func() float64 { return jitter }
	})
	jitter = 0.999
	var got []time.Duration
	for i := range 6 {
		got = append(got, c.backoff(i).Round(10*time.Millisecond))
	}
	g.Expect(got).To(Equal([]time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second, 4 * time.Second}))
	jitter = 0
	g.Expect(c.backoff(3)).To(BeZero())
	jitter = 7 // a broken random source does not escape the ceiling
	g.Expect(c.backoff(0)).To(Equal(500 * time.Millisecond))
	g.Expect(c.backoff(1000)).To(Equal(2 * time.Second))
}

func TestNonIdempotentCallsAreNotRetriedOnAmbiguousFailures(t *testing.T) {
	calls := []struct {
		name, method, path string
		call               func(*Client) error
	}{
		{"add worker", "POST", "/apps/v2/k8s/cluster/byId/c1/add/slave/group/9", func(c *Client) error {
			_, err := c.AddWorker(context.Background(), "c1", 9)
			return err
		}},
		{"create vm", "POST", "/api/v2/vm", func(c *Client) error {
			return c.CreateVM(context.Background(), CreateVMRequest{ResourceIdentifier: "p", OSIdentifier: "o", DCIdentifier: "d", Hostname: "h"})
		}},
		{"create node group", "POST", "/apps/v2/k8s/cluster/add/group", func(c *Client) error {
			_, err := c.CreateNodeGroup(context.Background(), "c1", "ng", 3)
			return err
		}},
	}
	failures := []struct {
		name   string
		answer http.HandlerFunc
	}{
		{"500", fail(500, 500, "internal error")},
		{"503 with Retry-After", fail(503, 503, "unavailable", "Retry-After", "1")},
		{"200 with error true and code 502", func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 200, `{"error":true,"code":502,"message":"upstream"}`)
		}},
		{"connection dropped after the request was sent", hangUp},
	}
	for _, call := range calls {
		for _, f := range failures {
			t.Run(call.name+" "+f.name, func(t *testing.T) {
				g := NewWithT(t)
				srv := newAPIServer(t)
				srv.handle(call.method, call.path, f.answer)
				c, clk := newTestClient(t, srv.URL)
				g.Expect(call.call(c)).To(HaveOccurred())
				g.Expect(srv.count(call.method, call.path)).To(Equal(1))
				g.Expect(clk.Sleeps()).To(BeEmpty())
			})
		}
	}
}

func TestAddWorkerRetriedOn429(t *testing.T) {
	g := NewWithT(t)
	const path = "/apps/v2/k8s/cluster/byId/c1/add/slave/group/9"
	srv := newAPIServer(t)
	srv.handleSeq("POST", path, fail(429, 429, "too many requests", "Retry-After", "4"), fail(429, 429, "too many requests"), ok(true))
	c, clk := newTestClient(t, srv.URL)

	res, err := c.AddWorker(context.Background(), "c1", 9)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Async).To(BeTrue())
	g.Expect(srv.count("POST", path)).To(Equal(3))
	g.Expect(clk.Sleeps()).To(Equal([]time.Duration{4 * time.Second, 500 * time.Millisecond}))
}

func TestAddWorkerRetriedWhenConnectionNeverOpened(t *testing.T) {
	g := NewWithT(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens there any more: the dial fails, so VPSie never saw a request
	c, clk := newTestClient(t, closed.URL, func(o *Options) { o.MaxRetries = 2 })

	_, err := c.AddWorker(context.Background(), "c1", 9)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("vpsie api add_worker"))
	g.Expect(clk.Sleeps()).To(HaveLen(2))
}

func TestRetryAfterLimits(t *testing.T) {
	t.Run("longer than MaxRetryAfter is returned to the caller", func(t *testing.T) {
		g := NewWithT(t)
		srv := newAPIServer(t)
		srv.handle("GET", "/api/v2/vm", fail(429, 429, "slow down", "Retry-After", "600"))
		c, clk := newTestClient(t, srv.URL, func(o *Options) { o.MaxRetryAfter = time.Minute })
		_, err := c.ListVMs(context.Background())
		g.Expect(IsRateLimited(err)).To(BeTrue())
		var e *Error
		g.Expect(errors.As(err, &e)).To(BeTrue())
		g.Expect(e.RetryAfter).To(Equal(10 * time.Minute))
		g.Expect(clk.Sleeps()).To(BeEmpty())
		g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(1))
	})
	t.Run("beyond the context deadline returns at once", func(t *testing.T) {
		g := NewWithT(t)
		srv := newAPIServer(t)
		srv.handle("GET", "/api/v2/vm", fail(429, 429, "slow down", "Retry-After", "60"))
		c, clk := newTestClient(t, srv.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := c.ListVMs(ctx)
		g.Expect(IsRateLimited(err)).To(BeTrue())
		g.Expect(clk.Sleeps()).To(BeEmpty())
		g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(1))
	})
}

func TestContextCancelledDuringBackoff(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("GET", "/api/v2/vm", fail(500, 500, "boom"))
	clk := newBlockingClock()
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.Clock = clk })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.ListVMs(ctx)
		done <- err
	}()
	g.Eventually(clk.waiting).Should(Receive(Equal(250 * time.Millisecond)))
	cancel()
	var err error
	g.Eventually(done).Should(Receive(&err))
	g.Expect(err).To(MatchError(context.Canceled))
	g.Expect(err.Error()).To(ContainSubstring("waiting to retry"))
	g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(1))
}

func TestCancelledContextStopsBeforeSending(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("GET", "/api/v2/vm", ok([]any{}))
	c, _ := newTestClient(t, srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.ListVMs(ctx)
	g.Expect(err).To(MatchError(context.Canceled))
	g.Expect(srv.count("GET", "/api/v2/vm")).To(BeZero())
}

func TestPerAttemptTimeout(t *testing.T) {
	stall := func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }

	t.Run("idempotent call retried after a timeout", func(t *testing.T) {
		g := NewWithT(t)
		srv := newAPIServer(t)
		srv.handleSeq("GET", "/api/v2/vm", stall, ok([]any{}))
		c, clk := newTestClient(t, srv.URL, func(o *Options) { o.Timeout = 50 * time.Millisecond })
		_, err := c.ListVMs(context.Background())
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(2))
		g.Expect(clk.Sleeps()).To(HaveLen(1))
	})
	t.Run("add worker not retried after a timeout", func(t *testing.T) {
		g := NewWithT(t)
		srv := newAPIServer(t)
		const path = "/apps/v2/k8s/cluster/byId/c1/add/slave/group/9"
		srv.handleSeq("POST", path, stall, ok(true))
		c, _ := newTestClient(t, srv.URL, func(o *Options) { o.Timeout = 50 * time.Millisecond })
		_, err := c.AddWorker(context.Background(), "c1", 9)
		g.Expect(err).To(MatchError(context.DeadlineExceeded))
		g.Expect(srv.count("POST", path)).To(Equal(1))
	})
}
