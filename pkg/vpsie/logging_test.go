package vpsie

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
)

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) write(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(prefix + " " + args + "\n")
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsCarryNoSecrets runs a full flow at the highest verbosity: credential exchange, a 401
// that forces a second exchange, a 503 retried after Retry-After, and a final error answer.
func TestLogsCarryNoSecrets(t *testing.T) {
	g := NewWithT(t)
	var logs logBuffer
	logger := funcr.New(logs.write, funcr.Options{Verbosity: 10, LogCaller: funcr.All})

	srv := newAPIServer(t)
	c, clk := newTestClient(t, srv.URL, withCredentials, func(o *Options) {
		o.Logger = logger
		o.RateLimit, o.RateBurst = 60, 1
	})
	ti := &tokenIssuer{clock: clk, lifetime: time.Hour, enveloped: true}
	srv.handle("POST", authPath, ti.ServeHTTP)
	srv.handleSeq("GET", "/api/v2/vm/vm-1",
		fail(401, 401, "token revoked"),
		fail(503, 503, "maintenance", "Retry-After", "2"),
		func(w http.ResponseWriter, _ *http.Request) {
			writeRaw(w, 200, `{"error":true,"code":404,"message":"vm not found"}`)
		})

	logger.Info("client built", "client", c, "options", c.opts)
	_, err := c.GetVM(context.Background(), "vm-1")
	g.Expect(IsNotFound(err)).To(BeTrue())
	logger.Error(err, "get vm failed")

	g.Expect(ti.issued.Load()).To(BeEquivalentTo(2), "the flow exercised the exchange and the refresh")
	g.Expect(srv.count("GET", "/api/v2/vm/vm-1")).To(Equal(3))
	out := logs.String()
	g.Expect(out).To(ContainSubstring("retrying vpsie api call"))
	g.Expect(out).To(ContainSubstring("access token refused"))
	g.Expect(out).To(ContainSubstring("waiting for client-side rate limit"))
	for _, secret := range []string{
		testClientSecret,
		ti.accessToken(1), ti.accessToken(2),
		ti.refreshToken(1), ti.refreshToken(2),
	} {
		g.Expect(out).NotTo(ContainSubstring(secret))
	}
	// Nor does the error the caller might log.
	g.Expect(err.Error()).NotTo(ContainSubstring(ti.accessToken(2)))
}
