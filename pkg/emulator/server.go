package emulator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// maxBodyBytes caps request bodies; VPSie requests are small.
const maxBodyBytes = 1 << 20

// Server is an in-memory VPSie API.
type Server struct {
	cfg     Config
	log     logr.Logger
	clock   clock.WithTicker
	handler http.Handler

	mu              sync.Mutex
	switches        Switches
	initialSwitches Switches
	idRand          *rand.Rand
	errRand         *rand.Rand
	clusters        map[string]*cluster
	groups          map[int]*group
	nextGroupID     int
	workers         map[string]*worker
	vms             map[string]*vm
	tokens          map[string]time.Time // zero expiry = static token
	ipCounter       int
	hostCounter     int
	calls           map[string]int
	statuses        map[string]map[int]int
	rateWindowStart time.Time
	rateCount       int
	pendingDeletes  map[string]nodeRef
	// uninitialized: Nodes created with the uninitialized taint, by name, and when.
	uninitialized map[string]uninitializedNode

	// reconcileMu serialises Reconcile so Node creates and deletes never race each other.
	reconcileMu sync.Mutex
	nudge       chan struct{}

	lifeMu   sync.Mutex
	httpSrv  *http.Server
	url      string
	stopLoop context.CancelFunc
	loopDone chan struct{}
}

// New validates cfg and builds a Server with its initial state.
func New(cfg Config) (*Server, error) {
	if err := cfg.complete(); err != nil {
		return nil, fmt.Errorf("configuring emulator, %w", err)
	}
	s := &Server{
		cfg:             cfg,
		log:             cfg.Logger,
		clock:           cfg.Clock,
		switches:        cfg.Switches.clone(),
		initialSwitches: cfg.Switches.clone(),
		idRand:          rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15)),
		errRand:         rand.New(rand.NewPCG(cfg.Seed, 0x5851f42d4c957f2d)),
		tokens:          map[string]time.Time{},
		pendingDeletes:  map[string]nodeRef{},
		uninitialized:   map[string]uninitializedNode{},
		nudge:           make(chan struct{}, 1),
	}
	for _, t := range cfg.Tokens {
		s.tokens[t] = time.Time{}
	}
	s.resetState()
	s.handler = s.routes()
	return s, nil
}

// Handler serves the API and the admin endpoints (for httptest).
func (s *Server) Handler() http.Handler { return s.handler }

// URL is the base URL after Start ("" before).
func (s *Server) URL() string {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.url
}

// Start listens on the configured address, serves in the background and runs the boot loop until
// Stop or until ctx ends. It returns the base URL.
func (s *Server) Start(ctx context.Context) (string, error) {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if s.httpSrv != nil {
		return "", fmt.Errorf("emulator already started")
	}
	if err := CheckListenAddress(s.cfg.ListenAddress, s.cfg.AllowNonLoopback); err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", s.cfg.ListenAddress)
	if err != nil {
		return "", fmt.Errorf("listening on %s, %w", s.cfg.ListenAddress, err)
	}
	s.httpSrv = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	s.url = "http://" + ln.Addr().String()
	go func() {
		if err := s.httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(err, "emulator http server stopped")
		}
	}()
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.stopLoop = cancel
	s.loopDone = make(chan struct{})
	go s.loop(loopCtx, s.loopDone)
	go func() {
		select {
		case <-ctx.Done():
			shutdownCtx, c := context.WithTimeout(context.Background(), 5*time.Second)
			defer c()
			_ = s.Stop(shutdownCtx)
		case <-loopCtx.Done():
		}
	}()
	s.log.Info("vpsie emulator listening", "url", s.url)
	return s.url, nil
}

// Stop shuts the HTTP server down gracefully and ends the boot loop. It is safe to call twice.
func (s *Server) Stop(ctx context.Context) error {
	s.lifeMu.Lock()
	srv, cancel, done := s.httpSrv, s.stopLoop, s.loopDone
	s.lifeMu.Unlock()
	if srv == nil {
		return nil
	}
	cancel()
	err := srv.Shutdown(ctx)
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the boot loop, %w", ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("shutting down http server, %w", err)
	}
	return nil
}

// CheckListenAddress refuses addresses that are not loopback unless allowed: the emulator accepts
// any client with a static token and must not be reachable from the network by accident.
func CheckListenAddress(addr string, allowNonLoopback bool) error {
	if allowNonLoopback {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("parsing listen address %q, %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q is not loopback; pass --allow-non-loopback to serve on it", addr)
	}
	return nil
}

// envelope is the VPSie answer shape.
type envelope struct {
	Error   bool   `json:"error"`
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data"`
	Total   *int   `json:"total,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func writeData(w http.ResponseWriter, message string, data any) {
	writeJSON(w, http.StatusOK, envelope{Code: http.StatusOK, Message: message, Data: data})
}

func writeList[T any](w http.ResponseWriter, items []T) {
	if items == nil {
		items = []T{}
	}
	n := len(items)
	writeJSON(w, http.StatusOK, envelope{Code: http.StatusOK, Message: "ok", Data: items, Total: &n})
}

func writeError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSON(w, status, envelope{Error: true, Code: status, Message: fmt.Sprintf(format, args...), Data: nil})
}

// decodeBody reads a JSON body into v. An empty body is allowed only when optional.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", tooBig.Limit)
			return false
		}
		writeError(w, http.StatusBadRequest, "reading request body: %v", err)
		return false
	}
	if len(b) == 0 {
		if optional {
			return true
		}
		writeError(w, http.StatusBadRequest, "request body is required")
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: %v", err)
		return false
	}
	return true
}

// statusRecorder remembers the status written, for the per-call counters.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// api wraps a handler with what every VPSie call goes through, in this order: call counter,
// injected latency, rate limit (429), auth (401), injected error (500).
func (s *Server) api(call string, authenticated bool, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		defer s.recordStatus(call, rec)
		defer s.recoverPanic(rec, call)
		s.mu.Lock()
		s.calls[call]++
		latency := s.lookupLatency(call)
		s.mu.Unlock()

		if latency > 0 {
			t := s.clock.NewTimer(latency)
			select {
			case <-t.C():
			case <-r.Context().Done():
				t.Stop()
				writeError(rec, http.StatusServiceUnavailable, "request cancelled")
				return
			}
		}
		if retryAfter, limited := s.rateLimited(); limited {
			rec.Header().Set("Retry-After", strconv.Itoa(retryAfter))
			writeError(rec, http.StatusTooManyRequests, "rate limit exceeded, retry after %d seconds", retryAfter)
			return
		}
		if authenticated && !s.authorized(r) {
			writeError(rec, http.StatusUnauthorized, "unauthorized: missing, invalid or expired Vpsie-Auth token")
			return
		}
		if s.injectError(call) {
			writeError(rec, http.StatusInternalServerError, "internal server error (injected by the emulator for %s)", call)
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, maxBodyBytes)
		h(rec, r)
	}
}

func (s *Server) recoverPanic(w *statusRecorder, call string) {
	if v := recover(); v != nil {
		s.log.Error(fmt.Errorf("panic: %v", v), "handler panicked", "call", call)
		if w.status == 0 {
			writeError(w, http.StatusInternalServerError, "internal error")
		}
	}
}

func (s *Server) recordStatus(call string, rec *statusRecorder) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.statuses[call]
	if m == nil {
		m = map[int]int{}
		s.statuses[call] = m
	}
	m[status]++
}

// lookupLatency returns the latency switch of a call, falling back to "*". Callers hold s.mu.
func (s *Server) lookupLatency(call string) time.Duration {
	if d, ok := s.switches.Latencies[call]; ok {
		return time.Duration(d)
	}
	return time.Duration(s.switches.Latencies[CallAll])
}

// rateLimited counts the call in a fixed window and reports the seconds until the window ends
// when the call is over the limit.
func (s *Server) rateLimited() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.switches.RateLimit <= 0 {
		return 0, false
	}
	now := s.clock.Now()
	window := time.Duration(s.switches.RateLimitWindow)
	if s.rateWindowStart.IsZero() || !now.Before(s.rateWindowStart.Add(window)) {
		s.rateWindowStart = now
		s.rateCount = 0
	}
	s.rateCount++
	if s.rateCount <= s.switches.RateLimit {
		return 0, false
	}
	left := s.rateWindowStart.Add(window).Sub(now)
	return max(1, int(math.Ceil(left.Seconds()))), true
}

func (s *Server) authorized(r *http.Request) bool {
	token := r.Header.Get("Vpsie-Auth")
	if token == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	expiry, ok := s.tokens[token]
	if !ok {
		return false
	}
	if !expiry.IsZero() && !s.clock.Now().Before(expiry) {
		delete(s.tokens, token)
		return false
	}
	return true
}

func (s *Server) injectError(call string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rate, ok := s.switches.ErrorRates[call]
	if !ok {
		rate = s.switches.ErrorRates[CallAll]
	}
	if rate <= 0 {
		return false
	}
	// Always draw, so the sequence of decisions depends only on the seed and the call order.
	return s.errRand.Float64() < rate
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /apps/v2/auth/from/api", s.api(CallAuth, false, s.handleAuth))
	mux.HandleFunc("POST /apps/v2/k8s/offers", s.api(CallOffers, true, s.handleOffers))
	mux.HandleFunc("GET /apps/v2/k8s/cluster/byId/{cluster}", s.api(CallGetCluster, true, s.handleGetCluster))
	mux.HandleFunc("GET /apps/v2/k8s/node/groups/byClusterId/{cluster}", s.api(CallListGroups, true, s.handleListGroups))
	mux.HandleFunc("POST /apps/v2/k8s/cluster/add/group", s.api(CallCreateGroup, true, s.handleCreateGroup))
	mux.HandleFunc("DELETE /apps/v2/k8s/cluster/delete/group/{group}", s.api(CallDeleteGroup, true, s.handleDeleteGroup))
	mux.HandleFunc("POST /apps/v2/k8s/cluster/byId/{cluster}/add/slave/group/{group}", s.api(CallAddWorker, true, s.handleAddWorker))
	mux.HandleFunc("DELETE /apps/v2/k8s/cluster/byId/{cluster}/delete/slave", s.api(CallDeleteWorker, true, s.handleDeleteWorker))
	mux.HandleFunc("POST /api/v2/vm", s.api(CallCreateVM, true, s.handleCreateVM))
	mux.HandleFunc("GET /api/v2/vm", s.api(CallListVMs, true, s.handleListVMs))
	mux.HandleFunc("GET /api/v2/vm/{vm}", s.api(CallGetVM, true, s.handleGetVM))
	mux.HandleFunc("DELETE /api/v2/vm", s.api(CallDeleteVM, true, s.handleDeleteVM))
	mux.HandleFunc("POST /apps/v2/resources", s.api(CallPlans, true, s.handlePlans))

	mux.HandleFunc("GET /admin/workers", s.admin(s.handleAdminWorkers))
	mux.HandleFunc("GET /admin/vms", s.admin(s.handleAdminVMs))
	mux.HandleFunc("GET /admin/groups", s.admin(s.handleAdminGroups))
	mux.HandleFunc("GET /admin/config", s.admin(s.handleAdminGetConfig))
	mux.HandleFunc("PUT /admin/config", s.admin(s.handleAdminPutConfig))
	mux.HandleFunc("GET /admin/calls", s.admin(s.handleAdminCalls))
	mux.HandleFunc("POST /admin/reset", s.admin(s.handleAdminReset))
	mux.HandleFunc("POST /admin/reconcile", s.admin(s.handleAdminReconcile))

	// Anything else (unknown path or wrong method) still gets an envelope.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	})
	return mux
}
