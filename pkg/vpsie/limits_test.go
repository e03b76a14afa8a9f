package vpsie

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// envelopeOfSize builds a valid success envelope of exactly n bytes.
func envelopeOfSize(n int) string {
	head, tail := `{"error":false,"data":[],"message":"`, `"}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

func TestResponseBodyCap(t *testing.T) {
	const limit = 1024
	cases := []struct {
		name    string
		handler http.HandlerFunc
		check   func(g *WithT, err error)
	}{
		{name: "exactly at the limit", handler: func(w http.ResponseWriter, _ *http.Request) { writeRaw(w, 200, envelopeOfSize(limit)) },
			check: func(g *WithT, err error) { g.Expect(err).NotTo(HaveOccurred()) }},
		{name: "one byte over, with content length", handler: func(w http.ResponseWriter, _ *http.Request) {
			body := envelopeOfSize(limit + 1)
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			writeRaw(w, 200, body)
		}, check: func(g *WithT, err error) {
			g.Expect(IsResponseTooLarge(err)).To(BeTrue())
			g.Expect(err).To(MatchError(ContainSubstring("limit 1024 bytes")))
		}},
		{name: "over, chunked", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(200)
			for range 4 {
				_, _ = w.Write([]byte(strings.Repeat(" ", 512)))
				w.(http.Flusher).Flush()
			}
		}, check: func(g *WithT, err error) { g.Expect(IsResponseTooLarge(err)).To(BeTrue()) }},
		{name: "oversized error answer keeps its status", handler: func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 404, `{"error":true,"code":404,"message":"`+strings.Repeat("y", 4*limit)+`"}`)
		}, check: func(g *WithT, err error) {
			g.Expect(IsNotFound(err)).To(BeTrue())
			g.Expect(IsResponseTooLarge(err)).To(BeFalse())
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := newAPIServer(t)
			srv.handle("GET", "/api/v2/vm", tc.handler)
			c, _ := newTestClient(t, srv.URL, func(o *Options) { o.MaxResponseBytes = limit })
			_, err := c.ListVMs(context.Background())
			tc.check(g, err)
			g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(1))
		})
	}
}

func TestHugeBodyIsNotReadToTheEnd(t *testing.T) {
	g := NewWithT(t)
	const total = 256 << 20
	var written atomic.Int64
	finished := make(chan struct{})
	srv := newAPIServer(t)
	srv.handle("GET", "/api/v2/vm", func(w http.ResponseWriter, _ *http.Request) {
		defer close(finished)
		w.WriteHeader(200)
		chunk := []byte(strings.Repeat("[", 64<<10))
		for written.Load() < total {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.MaxResponseBytes = 1 << 20 })
	_, err := c.ListVMs(context.Background())
	g.Expect(IsResponseTooLarge(err)).To(BeTrue())
	// The client hung up after its limit, so the server could not push the whole body.
	g.Eventually(finished).WithTimeout(10 * time.Second).Should(BeClosed())
	g.Expect(written.Load()).To(BeNumerically("<", total))
}

func TestMetrics(t *testing.T) {
	g := NewWithT(t)
	reg := prometheus.NewRegistry()
	srv := newAPIServer(t)
	srv.handleSeq("GET", "/api/v2/vm", fail(503, 503, "busy", "Retry-After", "1"), ok([]any{}))
	srv.handle("GET", "/api/v2/vm/vm-1", func(w http.ResponseWriter, _ *http.Request) {
		writeRaw(w, 200, `{"error":true,"code":404,"message":"vm not found"}`)
	})
	srv.handle("POST", "/api/v2/vm", hangUp)
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.Metrics, o.RateLimit, o.RateBurst = reg, 60, 1 })
	ctx := context.Background()

	_, err := c.ListVMs(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = c.GetVM(ctx, "vm-1")
	g.Expect(IsNotFound(err)).To(BeTrue())
	err = c.CreateVM(ctx, CreateVMRequest{ResourceIdentifier: "p", OSIdentifier: "o", DCIdentifier: "d", Hostname: "h"})
	g.Expect(err).To(HaveOccurred())

	m := c.metrics
	g.Expect(testutil.ToFloat64(m.requests.WithLabelValues("list_vms", "503"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.requests.WithLabelValues("list_vms", "200"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.requests.WithLabelValues("get_vm", "404"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.requests.WithLabelValues("create_vm", "error"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.retries.WithLabelValues("list_vms"))).To(Equal(1.0))
	g.Expect(testutil.ToFloat64(m.retries.WithLabelValues("create_vm"))).To(BeZero())
	g.Expect(testutil.CollectAndCount(m.duration)).To(Equal(3), "one duration series per call")

	// Four attempts through a 60/min, burst-1 bucket: the 503's Retry-After (1s) refilled the
	// bucket for the retry, the next two calls waited a second each.
	waits, err := reg.Gather()
	g.Expect(err).NotTo(HaveOccurred())
	var count uint64
	var sum float64
	for _, mf := range waits {
		if mf.GetName() == "vpsie_api_rate_limit_wait_seconds" {
			count, sum = mf.GetMetric()[0].GetHistogram().GetSampleCount(), mf.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	g.Expect(count).To(BeEquivalentTo(4))
	g.Expect(sum).To(BeNumerically("~", 2.0, 0.01))

	// Labels carry no ids: the VM identifier is nowhere in the exposition.
	problems, err := testutil.GatherAndLint(reg)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(problems).To(BeEmpty())
	families, _ := reg.Gather()
	for _, mf := range families {
		for _, metric := range mf.GetMetric() {
			for _, l := range metric.GetLabel() {
				g.Expect(l.GetValue()).NotTo(ContainSubstring("vm-1"))
			}
		}
	}
}
