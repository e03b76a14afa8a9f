package vpsie

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

const (
	authPath         = "/apps/v2/auth/from/api"
	testClientID     = "client-id-77"
	testClientSecret = "client-secret-9a8b7c"
)

// tokenIssuer is the exchange endpoint of the test peer: it issues access-N / refresh-N tokens
// valid for lifetime on the given clock.
type tokenIssuer struct {
	clock     Clock
	lifetime  time.Duration
	enveloped bool
	issued    atomic.Int32
}

func (ti *tokenIssuer) accessToken(n int32) string  { return fmt.Sprintf("access-tok-%d-d41d8cd9", n) }
func (ti *tokenIssuer) refreshToken(n int32) string { return fmt.Sprintf("refresh-tok-%d-e3b0c442", n) }

func (ti *tokenIssuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("clientId") != testClientID || r.PostForm.Get("clientSecret") != testClientSecret {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": true, "code": 401, "message": "invalid client credentials"})
		return
	}
	n := ti.issued.Add(1)
	exp := ti.clock.Now().Add(ti.lifetime).Format(time.RFC3339)
	tokens := map[string]any{
		"accessToken":  map[string]any{"token": ti.accessToken(n), "expires": exp},
		"refreshToken": map[string]any{"token": ti.refreshToken(n), "expires": ti.clock.Now().Add(24 * time.Hour).Format(time.RFC3339)},
	}
	if ti.enveloped {
		writeJSON(w, 200, map[string]any{"error": false, "code": 200, "data": tokens})
		return
	}
	writeJSON(w, 200, tokens)
}

func withCredentials(o *Options) {
	o.Token = ""
	o.ClientID = testClientID
	o.ClientSecret = testClientSecret
}

// acceptOnly answers the VM list only for the given token, 401 otherwise.
func acceptOnly(token func() string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Vpsie-Auth") != token() {
			fail(401, 401, "token expired or invalid")(w, r)
			return
		}
		ok([]any{})(w, r)
	}
}

func TestAuthExchange(t *testing.T) {
	for _, enveloped := range []bool{false, true} {
		t.Run(fmt.Sprintf("enveloped=%v", enveloped), func(t *testing.T) {
			g := NewWithT(t)
			srv := newAPIServer(t)
			c, clk := newTestClient(t, srv.URL, withCredentials)
			ti := &tokenIssuer{clock: clk, lifetime: time.Hour, enveloped: enveloped}
			srv.handle("POST", authPath, ti.ServeHTTP)
			srv.handle("GET", "/api/v2/vm", acceptOnly(func() string { return ti.accessToken(1) }))

			_, err := c.ListVMs(context.Background())
			g.Expect(err).NotTo(HaveOccurred())
			_, err = c.ListVMs(context.Background())
			g.Expect(err).NotTo(HaveOccurred())

			ex := srv.requestsTo("POST", authPath)
			g.Expect(ex).To(HaveLen(1), "the token is reused while valid")
			g.Expect(ex[0].Header.Get("Content-Type")).To(Equal("application/x-www-form-urlencoded"))
			g.Expect(ex[0].Header.Get("Vpsie-Auth")).To(BeEmpty())
			g.Expect(ex[0].Body).To(ContainSubstring("clientId=" + testClientID))
			for _, r := range srv.requestsTo("GET", "/api/v2/vm") {
				g.Expect(r.Header.Get("Vpsie-Auth")).To(Equal(ti.accessToken(1)))
			}
		})
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	c, clk := newTestClient(t, srv.URL, withCredentials, func(o *Options) { o.TokenRefreshSkew = time.Minute })
	ti := &tokenIssuer{clock: clk, lifetime: 10 * time.Minute}
	srv.handle("POST", authPath, ti.ServeHTTP)
	srv.handle("GET", "/api/v2/vm", ok([]any{}))
	ctx := context.Background()

	_, err := c.ListVMs(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	clk.Step(8*time.Minute + 59*time.Second) // 1m01s left: still good
	_, err = c.ListVMs(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ti.issued.Load()).To(BeEquivalentTo(1))

	clk.Step(2 * time.Second) // 59s left: inside the skew, refreshed before VPSie would refuse it
	_, err = c.ListVMs(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ti.issued.Load()).To(BeEquivalentTo(2))

	reqs := srv.requestsTo("GET", "/api/v2/vm")
	g.Expect(reqs).To(HaveLen(3))
	g.Expect(reqs[1].Header.Get("Vpsie-Auth")).To(Equal(ti.accessToken(1)))
	g.Expect(reqs[2].Header.Get("Vpsie-Auth")).To(Equal(ti.accessToken(2)))
}

func TestRefreshOnceOn401(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	c, clk := newTestClient(t, srv.URL, withCredentials)
	ti := &tokenIssuer{clock: clk, lifetime: time.Hour}
	srv.handle("POST", authPath, ti.ServeHTTP)
	// VPSie revoked the first token early: only the second one is accepted.
	srv.handle("GET", "/api/v2/vm", acceptOnly(func() string { return ti.accessToken(2) }))

	_, err := c.ListVMs(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(ti.issued.Load()).To(BeEquivalentTo(2))
	g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(2))
}

func TestRepeated401DoesNotLoop(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	c, clk := newTestClient(t, srv.URL, withCredentials)
	ti := &tokenIssuer{clock: clk, lifetime: time.Hour}
	srv.handle("POST", authPath, ti.ServeHTTP)
	srv.handle("GET", "/api/v2/vm", fail(401, 401, "no access to this resource"))

	_, err := c.ListVMs(context.Background())
	g.Expect(IsUnauthorized(err)).To(BeTrue())
	g.Expect(ti.issued.Load()).To(BeEquivalentTo(2), "one exchange, one refresh after the 401, no more")
	g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(2))
}

func TestStaticToken401IsReturned(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("GET", "/api/v2/vm", fail(401, 401, "invalid token"))
	c, _ := newTestClient(t, srv.URL)

	_, err := c.ListVMs(context.Background())
	g.Expect(IsUnauthorized(err)).To(BeTrue())
	g.Expect(srv.count("GET", "/api/v2/vm")).To(Equal(1))
	g.Expect(srv.count("POST", authPath)).To(BeZero())
}

func TestStaticTokenWithCredentialsFallsBackToExchange(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	c, clk := newTestClient(t, srv.URL, withCredentials, func(o *Options) { o.Token = testToken })
	ti := &tokenIssuer{clock: clk, lifetime: time.Hour}
	srv.handle("POST", authPath, ti.ServeHTTP)
	srv.handle("GET", "/api/v2/vm", acceptOnly(func() string { return ti.accessToken(1) }))

	_, err := c.ListVMs(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	reqs := srv.requestsTo("GET", "/api/v2/vm")
	g.Expect(reqs).To(HaveLen(2))
	g.Expect(reqs[0].Header.Get("Vpsie-Auth")).To(Equal(testToken))
	g.Expect(reqs[1].Header.Get("Vpsie-Auth")).To(Equal(ti.accessToken(1)))
}

func TestExchangeFailures(t *testing.T) {
	cases := []struct {
		name   string
		answer http.HandlerFunc
		check  func(g *WithT, err error)
	}{
		{name: "credentials refused", answer: fail(401, 401, "invalid client credentials"), check: func(g *WithT, err error) {
			g.Expect(IsUnauthorized(err)).To(BeTrue())
			g.Expect(err).To(MatchError(ContainSubstring("exchanging client credentials")))
		}},
		{name: "no access token", answer: ok(map[string]any{"refreshToken": map[string]any{"token": "r"}}), check: func(g *WithT, err error) {
			g.Expect(err).To(MatchError(ErrInvalidResponse))
		}},
		{name: "malformed answer", answer: func(w http.ResponseWriter, _ *http.Request) { writeRaw(w, 200, `{"accessToken":{"token":`) }, check: func(g *WithT, err error) {
			g.Expect(err).To(MatchError(ErrInvalidResponse))
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := newAPIServer(t)
			srv.handle("POST", authPath, tc.answer)
			srv.handle("GET", "/api/v2/vm", ok([]any{}))
			c, _ := newTestClient(t, srv.URL, withCredentials)
			_, err := c.ListVMs(context.Background())
			tc.check(g, err)
			g.Expect(srv.count("POST", authPath)).To(Equal(1))
			g.Expect(srv.count("GET", "/api/v2/vm")).To(BeZero())
		})
	}
}

func TestDecodeAuthAnswerForms(t *testing.T) {
	cases := []struct {
		name, body  string
		wantToken   string
		wantExpires time.Time
	}{
		{name: "bare", body: `{"accessToken":{"token":"a","expires":"2026-11-26T13:00:00Z"}}`, wantToken: "a", wantExpires: time.Date(2026, 11, 26, 13, 0, 0, 0, time.UTC)},
		{name: "enveloped", body: `{"error":false,"data":{"accessToken":{"token":"b","expires":"2026-11-26T13:00:00+01:00"}}}`, wantToken: "b", wantExpires: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)},
		{name: "string token, no expiry", body: `{"accessToken":"c"}`, wantToken: "c"},
		{name: "unix expiry", body: `{"accessToken":{"token":"d","expires":1795000000}}`, wantToken: "d", wantExpires: time.Unix(1795000000, 0)},
		{name: "garbage expiry", body: `{"accessToken":{"token":"e","expires":"soon"}}`, wantToken: "e"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			env, err := parseAnswerEnvelope("auth_exchange", 200, nil, []byte(tc.body), time.Now())
			g.Expect(err).NotTo(HaveOccurred())
			a, err := decodeAuthAnswer(env)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(a.access).To(Equal(tc.wantToken))
			g.Expect(a.accessExpires.Equal(tc.wantExpires)).To(BeTrue(), "expires %v, want %v", a.accessExpires, tc.wantExpires)
		})
	}
}

func TestConcurrentCallersShareOneExchange(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	c, clk := newTestClient(t, srv.URL, withCredentials)
	ti := &tokenIssuer{clock: clk, lifetime: time.Hour}
	srv.handle("POST", authPath, ti.ServeHTTP)
	srv.handle("GET", "/api/v2/vm", acceptOnly(func() string { return ti.accessToken(1) }))

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Go(func() {
			_, err := c.ListVMs(context.Background())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(ti.issued.Load()).To(BeEquivalentTo(1))
}

func TestFollowerExchangesWhenLeaderContextEnds(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	c, clk := newTestClient(t, srv.URL, withCredentials)
	ti := &tokenIssuer{clock: clk, lifetime: time.Hour}
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	srv.handleSeq("POST", authPath, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		fail(503, 503, "gone")(w, r)
	}, ti.ServeHTTP)
	srv.handle("GET", "/api/v2/vm", ok([]any{}))

	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	leaderErr := make(chan error, 1)
	go func() {
		_, err := c.ListVMs(leaderCtx)
		leaderErr <- err
	}()
	<-entered // the leader's exchange is in flight
	followerErr := make(chan error, 1)
	go func() {
		_, err := c.ListVMs(context.Background())
		followerErr <- err
	}()
	// The follower joins the in-flight exchange instead of starting its own.
	g.Eventually(c.tokens.waiting.Load).Should(BeEquivalentTo(1))
	g.Expect(entered).NotTo(Receive())
	cancelLeader()
	g.Expect(<-leaderErr).To(MatchError(context.Canceled))
	close(release)
	g.Expect(<-followerErr).NotTo(HaveOccurred())
	g.Expect(ti.issued.Load()).To(BeEquivalentTo(1))
}
