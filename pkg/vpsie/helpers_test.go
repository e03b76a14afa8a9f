package vpsie

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

const testToken = "static-token-5f1e2d"

// fakeClock fires every wait at once, advancing its time by the wait and recording it, so tests
// assert how long the client would have waited without ever sleeping.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- f.now
	return ch
}

func (f *fakeClock) Step(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fakeClock) Sleeps() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.sleeps...)
}

// blockingClock never fires; it reports each wait on waiting, so a test can cancel the context
// while the client is known to be waiting.
type blockingClock struct {
	now     time.Time
	waiting chan time.Duration
}

func newBlockingClock() *blockingClock {
	return &blockingClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), waiting: make(chan time.Duration, 16)}
}

func (b *blockingClock) Now() time.Time { return b.now }
func (b *blockingClock) After(d time.Duration) <-chan time.Time {
	b.waiting <- d
	return make(chan time.Time)
}

type recordedRequest struct {
	Method string
	Path   string
	URI    string
	Header http.Header
	Body   string
}

// apiServer is the VPSie peer of the tests: a real HTTP server with one handler per route.
type apiServer struct {
	*httptest.Server
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc
	requests []recordedRequest
}

func newAPIServer(t *testing.T) *apiServer {
	s := &apiServer{handlers: map[string]http.HandlerFunc{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *apiServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	key := r.Method + " " + r.URL.Path
	s.mu.Lock()
	s.requests = append(s.requests, recordedRequest{Method: r.Method, Path: r.URL.Path, URI: r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	h := s.handlers[key]
	s.mu.Unlock()
	if h == nil {
		writeJSON(w, http.StatusNotFound, map[string]any{"error": true, "code": 404, "message": "no route " + key})
		return
	}
	h(w, r)
}

func (s *apiServer) handle(method, path string, h http.HandlerFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[method+" "+path] = h
}

// handleSeq answers the n-th request of a route with the n-th handler, repeating the last one.
func (s *apiServer) handleSeq(method, path string, hs ...http.HandlerFunc) {
	var mu sync.Mutex
	n := 0
	s.handle(method, path, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hs[min(n, len(hs)-1)]
		n++
		mu.Unlock()
		h(w, r)
	})
}

func (s *apiServer) requestsTo(method, path string) []recordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []recordedRequest
	for _, r := range s.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (s *apiServer) count(method, path string) int { return len(s.requestsTo(method, path)) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeRaw(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// ok answers a success envelope with data.
func ok(data any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"error": false, "code": 200, "message": "ok", "data": data})
	}
}

// fail answers an error envelope with the given HTTP status and headers (pairs).
func fail(status, code int, message string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		writeJSON(w, status, map[string]any{"error": true, "code": code, "message": message})
	}
}

// hangUp drops the connection without answering, after the request was received.
func hangUp(w http.ResponseWriter, _ *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		_ = conn.Close()
	}
}

func fixedRand() float64 { return 0.5 }

// newTestClient builds a client against srv with a static token, a fake clock, jitter fixed at
// one half, and no rate limit unless mutate sets one.
func newTestClient(t *testing.T, baseURL string, mutate ...func(*Options)) (*Client, *fakeClock) {
	t.Helper()
	clk := newFakeClock()
	opts := Options{
		BaseURL:   baseURL,
		Token:     testToken,
		Clock:     clk,
		Rand:      fixedRand,
		RateLimit: -1,
	}
	for _, m := range mutate {
		m(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatalf("building client: %v", err)
	}
	return c, clk
}
