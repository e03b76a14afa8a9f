package vpsie

import (
	"errors"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics label only by call name (a fixed set) and status code: never by ids or tokens.
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	retries       *prometheus.CounterVec
	rateLimitWait prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpsie_api_requests_total",
			Help: "VPSie API HTTP attempts by call and status (HTTP status code, or \"error\" when no answer came).",
		}, []string{"call", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vpsie_api_request_duration_seconds",
			Help:    "Duration of VPSie API HTTP attempts by call.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"call"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vpsie_api_retries_total",
			Help: "VPSie API attempts repeated after a rate limit, server error or transport error, by call.",
		}, []string{"call"}),
		rateLimitWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vpsie_api_rate_limit_wait_seconds",
			Help:    "Time VPSie API calls waited for the client-side rate limit.",
			Buckets: []float64{0, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60},
		}),
	}
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		return nil, err
	}
	if m.retries, err = register(reg, m.retries); err != nil {
		return nil, err
	}
	if m.rateLimitWait, err = register(reg, m.rateLimitWait); err != nil {
		return nil, err
	}
	return m, nil
}

// register reuses the collector already registered by another client sharing the registry.
func register[T prometheus.Collector](reg prometheus.Registerer, c T) (T, error) {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing, nil
			}
		}
		return c, err
	}
	return c, nil
}

func (m *metrics) observeAttempt(call string, status int, d time.Duration) {
	if m == nil {
		return
	}
	label := "error"
	if status > 0 {
		label = strconv.Itoa(status)
	}
	m.requests.WithLabelValues(call, label).Inc()
	m.duration.WithLabelValues(call).Observe(d.Seconds())
}

func (m *metrics) observeRetry(call string) {
	if m == nil {
		return
	}
	m.retries.WithLabelValues(call).Inc()
}

func (m *metrics) observeRateLimitWait(d time.Duration) {
	if m == nil {
		return
	}
	m.rateLimitWait.Observe(d.Seconds())
}
