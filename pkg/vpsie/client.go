// Package vpsie is the REST client of the VPSie API (see VPSIE_API.md): managed-Kubernetes node
// groups and workers, plain VMs, and their sizes. It maps answers onto typed errors, retries what
// is safe to retry, limits its own request rate, and never logs credentials. It has no Kubernetes
// dependencies.
package vpsie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
)

// Client talks to the VPSie API. It is safe for concurrent use.
type Client struct {
	opts    Options
	base    *url.URL
	http    *http.Client
	limiter *rate.Limiter // nil when rate limiting is disabled
	tokens  *tokenSource
	metrics *metrics
	log     logr.Logger
	clock   Clock
}

// New builds a Client. It fails on invalid options (bad base URL, plain http to a non-loopback
// host, missing credentials, negative durations) and on metrics that cannot be registered.
func New(opts Options) (*Client, error) {
	opts = opts.withDefaults()
	base, err := opts.validate()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Metrics)
	if err != nil {
		return nil, fmt.Errorf("registering vpsie client metrics, %w", err)
	}
	hc := opts.HTTPClient
	if hc == nil {
		transport, ok := http.DefaultTransport.(*http.Transport)
		if ok {
			hc = &http.Client{Transport: transport.Clone()}
		} else {
			hc = &http.Client{}
		}
	} else {
		copied := *hc
		hc = &copied
	}
	if hc.CheckRedirect == nil {
		// The Vpsie-Auth header is not one net/http drops on a redirect to another host, so
		// following redirects could hand the token to a third party.
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	c := &Client{
		opts:    opts,
		base:    base,
		http:    hc,
		metrics: m,
		log:     opts.Logger.WithName("vpsie"),
		clock:   opts.Clock,
	}
	if opts.RateLimit > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(opts.RateLimit/60), max(opts.RateBurst, 1))
	}
	c.tokens = &tokenSource{
		client:       c,
		token:        opts.Token,
		clientID:     opts.ClientID,
		clientSecret: opts.ClientSecret,
		skew:         opts.TokenRefreshSkew,
	}
	return c, nil
}

// String describes the client without its credentials.
func (c *Client) String() string {
	if c == nil {
		return "vpsie.Client<nil>"
	}
	auth := "token"
	if c.tokens.canExchange() {
		auth = "client credentials"
	}
	return fmt.Sprintf("vpsie.Client{BaseURL: %q, auth: %s}", c.base.String(), auth)
}

// GoString keeps %#v from printing the credentials.
func (c *Client) GoString() string { return c.String() }

// MarshalLog keeps logr sinks from printing the credentials.
func (c *Client) MarshalLog() any { return c.String() }

// request describes one API call.
type request struct {
	call        string // metrics label and error prefix; a fixed name, never an id
	method      string
	path        string
	body        []byte
	contentType string
	// idempotent calls are retried on server and transport errors. Calls that create something
	// (AddWorker, CreateVM, CreateNodeGroup) are not: after a 5xx, a timeout or a connection lost
	// once the request was sent, VPSie may have acted on it, and sending it again could create a
	// second worker or VM that nobody tracks. They are retried only on 429 (VPSie refused the
	// request without acting on it) and when the connection could not even be opened.
	idempotent bool
	noAuth     bool
}

func (c *Client) jsonRequest(call, method, path string, body any, idempotent bool) (request, error) {
	r := request{call: call, method: method, path: path, idempotent: idempotent}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return r, fmt.Errorf("encoding %s request, %w", call, err)
		}
		r.body, r.contentType = b, "application/json"
	}
	return r, nil
}

// do runs a call: rate limit, auth, retries, and decoding of the envelope.
func (c *Client) do(ctx context.Context, r request) (envelope, error) {
	var (
		retries   int
		refreshed bool
		stale     string
	)
	for {
		token := ""
		if !r.noAuth {
			t, err := c.tokens.get(ctx, stale)
			if err != nil {
				return envelope{}, fmt.Errorf("vpsie api %s: authenticating, %w", r.call, err)
			}
			token = t
		}
		env, err := c.attempt(ctx, r, token)
		if err == nil {
			return env, nil
		}
		if ctx.Err() != nil {
			return envelope{}, err
		}
		if IsUnauthorized(err) && !r.noAuth && !refreshed && c.tokens.canExchange() {
			// Once per call: a token revoked or expired early gets one new exchange; a second 401
			// means the credentials themselves are refused.
			refreshed, stale = true, token
			c.log.V(1).Info("access token refused, exchanging credentials again", "call", r.call)
			continue
		}
		wait, ok := c.retryWait(r, err, retries)
		if !ok {
			return envelope{}, err
		}
		if dl, has := ctx.Deadline(); has && time.Until(dl) < wait {
			return envelope{}, err
		}
		retries++
		c.metrics.observeRetry(r.call)
		c.log.V(1).Info("retrying vpsie api call", "call", r.call, "retry", retries, "wait", wait, "reason", err.Error())
		if werr := c.sleep(ctx, wait); werr != nil {
			return envelope{}, fmt.Errorf("vpsie api %s: waiting to retry after %q, %w", r.call, err.Error(), werr)
		}
	}
}

// retryWait decides whether a failed attempt is retried and after how long.
func (c *Client) retryWait(r request, err error, retries int) (time.Duration, bool) {
	if retries >= c.opts.MaxRetries {
		return 0, false
	}
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr):
		switch {
		case apiErr.HTTPStatus == http.StatusTooManyRequests:
		case apiErr.HTTPStatus >= 500 && apiErr.HTTPStatus <= 599 && r.idempotent:
		default:
			return 0, false
		}
		if apiErr.RetryAfter > 0 {
			if apiErr.RetryAfter > c.opts.MaxRetryAfter {
				return 0, false
			}
			return apiErr.RetryAfter, true
		}
	default:
		var te *transportError
		if !errors.As(err, &te) || (!r.idempotent && te.sent) {
			return 0, false
		}
	}
	return c.backoff(retries), true
}

// backoff is exponential with full jitter: uniform in [0, min(max, base*2^retries)).
func (c *Client) backoff(retries int) time.Duration {
	ceiling := c.opts.BackoffBase
	for i := 0; i < retries && ceiling < c.opts.BackoffMax; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, c.opts.BackoffMax)
	f := c.opts.Rand()
	if f < 0 || f >= 1 || math.IsNaN(f) {
		f = 0.5
	}
	return time.Duration(f * float64(ceiling))
}

// sleep waits d on the client clock, returning ctx.Err() as soon as ctx ends.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d <= 0 {
		return nil
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-c.clock.After(d):
		return nil
	}
}

func (c *Client) waitRateLimit(ctx context.Context) error {
	if c.limiter == nil {
		return ctx.Err()
	}
	now := c.clock.Now()
	res := c.limiter.ReserveN(now, 1)
	if !res.OK() {
		return fmt.Errorf("client-side rate limit cannot grant a request")
	}
	d := res.DelayFrom(now)
	c.metrics.observeRateLimitWait(d)
	if d <= 0 {
		return ctx.Err()
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		res.CancelAt(now)
		return fmt.Errorf("client-side rate limit needs a wait of %s, beyond the deadline, %w", d, context.DeadlineExceeded)
	}
	c.log.V(1).Info("waiting for client-side rate limit", "wait", d)
	if err := c.sleep(ctx, d); err != nil {
		res.CancelAt(c.clock.Now())
		return err
	}
	return nil
}

// transportError is a failure to get an answer at all.
type transportError struct {
	call string
	err  error
	// sent is false only when the connection could not be opened, so VPSie never saw the request.
	sent bool
}

func (e *transportError) Error() string { return "vpsie api " + e.call + ": " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// attempt sends the request once and decodes the answer.
func (c *Client) attempt(ctx context.Context, r request, token string) (envelope, error) {
	if err := c.waitRateLimit(ctx); err != nil {
		return envelope{}, fmt.Errorf("vpsie api %s: waiting for rate limit, %w", r.call, err)
	}
	actx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, c.base.String()+r.path, body)
	if err != nil {
		return envelope{}, fmt.Errorf("vpsie api %s: building request, %w", r.call, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.opts.UserAgent)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if token != "" {
		req.Header.Set("Vpsie-Auth", token)
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.observeAttempt(r.call, 0, time.Since(start))
		c.log.V(1).Info("vpsie api call failed", "call", r.call, "method", r.method, "error", err.Error())
		return envelope{}, &transportError{call: r.call, err: err, sent: !isDialError(err)}
	}
	defer func() { _ = resp.Body.Close() }()
	raw, tooLarge, err := readCapped(resp, c.opts.MaxResponseBytes)
	if err != nil {
		c.metrics.observeAttempt(r.call, 0, time.Since(start))
		return envelope{}, &transportError{call: r.call, err: fmt.Errorf("reading answer, %w", err), sent: true}
	}
	var env envelope
	switch {
	case tooLarge && resp.StatusCode >= 200 && resp.StatusCode <= 299:
		err = fmt.Errorf("vpsie api %s: %w (limit %d bytes)", r.call, ErrResponseTooLarge, c.opts.MaxResponseBytes)
	case tooLarge:
		// An error answer needs only its status; its oversized body is not worth decoding.
		err = parseAnswer(r.call, resp.StatusCode, resp.Header, nil, c.clock.Now())
	default:
		env, err = parseAnswerEnvelope(r.call, resp.StatusCode, resp.Header, raw, c.clock.Now())
	}
	status := resp.StatusCode
	if e, ok := asError(err); ok {
		status = e.HTTPStatus
	}
	elapsed := time.Since(start)
	c.metrics.observeAttempt(r.call, status, elapsed)
	c.log.V(1).Info("vpsie api call", "call", r.call, "method", r.method, "status", status, "duration", elapsed)
	return env, err
}

// readCapped reads at most limit bytes of the body; tooLarge reports a body beyond the limit
// (which is then not read further).
func readCapped(resp *http.Response, limit int64) (body []byte, tooLarge bool, err error) {
	if resp.ContentLength > limit {
		return nil, true, nil
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, false, err
	}
	if int64(len(body)) > limit {
		return nil, true, nil
	}
	return body, false, nil
}

// parseAnswer maps an answer onto an error, or nil when it is a success.
func parseAnswer(call string, status int, header http.Header, body []byte, now time.Time) error {
	_, err := parseAnswerEnvelope(call, status, header, body, now)
	return err
}

// parseAnswerEnvelope maps an answer onto its envelope or an error. A non-2xx status, and a 2xx
// status with "error": true, are *Error; a 2xx body that does not decode wraps ErrInvalidResponse.
func parseAnswerEnvelope(call string, status int, header http.Header, body []byte, now time.Time) (envelope, error) {
	env, decErr := decodeEnvelope(body)
	if status < 200 || status > 299 {
		e := &Error{Call: call, HTTPStatus: status}
		if decErr == nil {
			e.Code, e.Message = env.Code, env.Message
		} else if len(body) > 0 {
			e.Message = printable(truncate(string(body), 200))
		}
		if e.Message == "" {
			e.Message = strings.ToLower(http.StatusText(status))
		}
		e.RetryAfter = retryAfterOf(status, header, now)
		return envelope{}, e
	}
	if decErr != nil {
		return envelope{}, fmt.Errorf("vpsie api %s: %w", call, decErr)
	}
	if env.Error {
		effective := env.Code
		if effective < 400 || effective > 599 {
			effective = http.StatusBadRequest
		}
		e := &Error{Call: call, HTTPStatus: effective, Code: env.Code, Message: env.Message}
		if e.Message == "" {
			e.Message = "api reported an error"
		}
		e.RetryAfter = retryAfterOf(effective, header, now)
		return envelope{}, e
	}
	env.Raw = body
	return env, nil
}

func retryAfterOf(status int, header http.Header, now time.Time) time.Duration {
	if status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable {
		return 0
	}
	return parseRetryAfter(header.Get("Retry-After"), now)
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		const maxSecs = int64(24 * time.Hour / time.Second)
		return time.Duration(min(secs, maxSecs)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// printable keeps error text from a non-JSON body readable in one log line.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// pathFor fills a path template with path-escaped values, given as placeholder/value pairs.
func pathFor(tmpl string, kv ...string) string {
	for i := 0; i+1 < len(kv); i += 2 {
		tmpl = strings.ReplaceAll(tmpl, "{"+kv[i]+"}", url.PathEscape(kv[i+1]))
	}
	return tmpl
}
