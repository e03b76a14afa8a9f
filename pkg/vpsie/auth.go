package vpsie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// tokenSource hands out the access token, exchanging client credentials when there are some.
// Concurrent callers that need a new token share one exchange.
type tokenSource struct {
	client       *Client
	clientID     string
	clientSecret string
	skew         time.Duration

	mu      sync.Mutex
	token   string
	expires time.Time // zero: unknown, the token is used until VPSie refuses it
	// refreshToken is kept for completeness; VPSIE_API.md documents no refresh endpoint, so a
	// refresh is a new exchange of the client credentials.
	refreshToken string
	inflight     *exchangeCall
	// waiting counts callers blocked on another caller's exchange (observed by tests).
	waiting atomic.Int32
}

type exchangeCall struct {
	done  chan struct{}
	token string
	err   error
}

// String keeps fmt from printing the tokens.
func (ts *tokenSource) String() string { return "vpsie.tokenSource<redacted>" }

func (ts *tokenSource) canExchange() bool { return ts.clientID != "" && ts.clientSecret != "" }

// get returns a usable token. stale is a token VPSie refused: it is replaced by a new exchange
// unless another caller has already done so.
func (ts *tokenSource) get(ctx context.Context, stale string) (string, error) {
	for {
		ts.mu.Lock()
		if !ts.canExchange() {
			t := ts.token
			ts.mu.Unlock()
			return t, nil
		}
		if ts.token != "" && ts.token != stale && ts.fresh() {
			t := ts.token
			ts.mu.Unlock()
			return t, nil
		}
		call := ts.inflight
		leader := call == nil
		if leader {
			call = &exchangeCall{done: make(chan struct{})}
			ts.inflight = call
		}
		ts.mu.Unlock()

		if leader {
			tok, err := ts.exchange(ctx)
			ts.mu.Lock()
			ts.inflight = nil
			ts.mu.Unlock()
			call.token, call.err = tok, err
			close(call.done)
			return tok, err
		}
		ts.waiting.Add(1)
		select {
		case <-ctx.Done():
			ts.waiting.Add(-1)
			return "", ctx.Err()
		case <-call.done:
			ts.waiting.Add(-1)
		}
		if call.err != nil {
			// The leader's own context ended: this caller may still have time to exchange.
			if isContextError(call.err) && ctx.Err() == nil {
				continue
			}
			return "", call.err
		}
		return call.token, nil
	}
}

// fresh reports whether the token is still good for at least the refresh skew; ts.mu is held.
func (ts *tokenSource) fresh() bool {
	return ts.expires.IsZero() || ts.client.clock.Now().Add(ts.skew).Before(ts.expires)
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// exchange trades the client credentials for an access token and stores it.
func (ts *tokenSource) exchange(ctx context.Context) (string, error) {
	c := ts.client
	form := url.Values{"clientId": {ts.clientID}, "clientSecret": {ts.clientSecret}}
	env, err := c.do(ctx, request{
		call:        "auth_exchange",
		method:      http.MethodPost,
		path:        c.opts.Paths.AuthExchange,
		body:        []byte(form.Encode()),
		contentType: "application/x-www-form-urlencoded",
		idempotent:  true,
		noAuth:      true,
	})
	if err != nil {
		return "", fmt.Errorf("exchanging client credentials, %w", err)
	}
	auth, err := decodeAuthAnswer(env)
	if err != nil {
		return "", fmt.Errorf("exchanging client credentials, %w", err)
	}
	ts.mu.Lock()
	ts.token, ts.expires = auth.access, auth.accessExpires
	ts.refreshToken = auth.refresh
	ts.mu.Unlock()
	if auth.accessExpires.IsZero() {
		c.log.Info("exchanged api credentials for an access token with no known expiry; it is renewed when refused")
	} else {
		c.log.V(1).Info("exchanged api credentials for an access token", "expires", auth.accessExpires)
	}
	return auth.access, nil
}

type authAnswer struct {
	access, refresh string
	accessExpires   time.Time
}

type wireToken struct {
	Token   flexString
	Expires flexString
}

// UnmarshalJSON accepts {"token","expires"} or a bare token string.
func (w *wireToken) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &w.Token)
	}
	var v struct {
		Token   flexString `json:"token"`
		Expires flexString `json:"expires"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	w.Token, w.Expires = v.Token, v.Expires
	return nil
}

type wireAuth struct {
	AccessToken  *wireToken `json:"accessToken"`
	RefreshToken *wireToken `json:"refreshToken"`
}

// decodeAuthAnswer reads the exchange answer, inside the usual envelope's data or bare.
func decodeAuthAnswer(env envelope) (authAnswer, error) {
	var w wireAuth
	if !isNull(env.Data) {
		if err := decodeData(env.Data, &w); err != nil {
			return authAnswer{}, err
		}
	}
	if w.AccessToken == nil && len(env.Raw) > 0 {
		if err := decodeData(env.Raw, &w); err != nil {
			return authAnswer{}, err
		}
	}
	if w.AccessToken == nil || strings.TrimSpace(string(w.AccessToken.Token)) == "" {
		return authAnswer{}, fmt.Errorf("%w: no access token in the answer", ErrInvalidResponse)
	}
	a := authAnswer{access: string(w.AccessToken.Token), accessExpires: parseExpiry(string(w.AccessToken.Expires))}
	if w.RefreshToken != nil {
		a.refresh = string(w.RefreshToken.Token)
	}
	return a, nil
}

// parseExpiry reads an RFC3339 time (or another known layout, or Unix seconds); zero if unknown.
func parseExpiry(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	if t := parseTime(s); !t.IsZero() {
		return t
	}
	if secs, err := strconv.ParseInt(s, 10, 64); err == nil && secs > 0 && secs < 1<<40 {
		return time.Unix(secs, 0)
	}
	return time.Time{}
}
