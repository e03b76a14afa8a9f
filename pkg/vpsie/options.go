package vpsie

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Version names this build in the User-Agent; set with -ldflags "-X ...vpsie.Version=v1.2.3".
var Version = "dev"

// Defaults of Options.
const (
	DefaultBaseURL          = "https://api.vpsie.com"
	DefaultTimeout          = 30 * time.Second
	DefaultRateLimit        = 100 // requests per minute
	DefaultRateBurst        = 10
	DefaultMaxRetries       = 4
	DefaultBackoffBase      = 500 * time.Millisecond
	DefaultBackoffMax       = 20 * time.Second
	DefaultMaxRetryAfter    = 2 * time.Minute
	DefaultMaxResponseBytes = 8 << 20
	DefaultTokenRefreshSkew = time.Minute
)

// Clock is the time source of the client: rate-limit waits, backoff waits and token expiry all go
// through it, so tests can make them deterministic. k8s.io/utils/clock.Clock satisfies it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Paths are the API paths, relative to BaseURL. Placeholders {cluster}, {group} and {vm} are
// replaced by the path-escaped arguments. Empty fields take the DefaultPaths value.
type Paths struct {
	AuthExchange    string
	Offers          string
	Cluster         string
	NodeGroups      string
	CreateNodeGroup string
	DeleteNodeGroup string
	AddWorker       string
	DeleteWorker    string
	VMs             string
	VM              string
	Plans           string
}

// DefaultPaths returns the paths of the VPSie API (see VPSIE_API.md).
func DefaultPaths() Paths {
	return Paths{
		AuthExchange:    "/apps/v2/auth/from/api",
		Offers:          "/apps/v2/k8s/offers",
		Cluster:         "/apps/v2/k8s/cluster/byId/{cluster}",
		NodeGroups:      "/apps/v2/k8s/node/groups/byClusterId/{cluster}",
		CreateNodeGroup: "/apps/v2/k8s/cluster/add/group",
		DeleteNodeGroup: "/apps/v2/k8s/cluster/delete/group/{group}",
		AddWorker:       "/apps/v2/k8s/cluster/byId/{cluster}/add/slave/group/{group}",
		DeleteWorker:    "/apps/v2/k8s/cluster/byId/{cluster}/delete/slave",
		VMs:             "/api/v2/vm",
		VM:              "/api/v2/vm/{vm}",
		Plans:           "/apps/v2/resources",
	}
}

func (p Paths) withDefaults() Paths {
	d := DefaultPaths()
	set := func(v *string, def string) {
		if strings.TrimSpace(*v) == "" {
			*v = def
		}
	}
	set(&p.AuthExchange, d.AuthExchange)
	set(&p.Offers, d.Offers)
	set(&p.Cluster, d.Cluster)
	set(&p.NodeGroups, d.NodeGroups)
	set(&p.CreateNodeGroup, d.CreateNodeGroup)
	set(&p.DeleteNodeGroup, d.DeleteNodeGroup)
	set(&p.AddWorker, d.AddWorker)
	set(&p.DeleteWorker, d.DeleteWorker)
	set(&p.VMs, d.VMs)
	set(&p.VM, d.VM)
	set(&p.Plans, d.Plans)
	return p
}

// Options configure a Client. Zero values take the documented defaults.
type Options struct {
	// BaseURL of the API (default DefaultBaseURL). Plain http is accepted only for loopback hosts.
	BaseURL string
	// Paths override single API paths (e.g. to follow an API change without a rebuild).
	Paths Paths

	// Token is the static access token sent as the Vpsie-Auth header.
	Token string
	// ClientID and ClientSecret, when both set, are exchanged for an access token (refreshed before
	// it expires and once on a 401). Token, if also set, is used until the first exchange.
	ClientID     string
	ClientSecret string
	// TokenRefreshSkew refreshes an exchanged token this long before it expires (default 1m).
	TokenRefreshSkew time.Duration

	// HTTPClient sends the requests (default: a client cloned from http.DefaultTransport). Redirects
	// are never followed when the client does not set its own CheckRedirect: the auth header is not
	// one net/http strips on a cross-host redirect.
	HTTPClient *http.Client
	// Timeout bounds each HTTP attempt (default 30s); the caller's context bounds the whole call.
	Timeout time.Duration

	// RateLimit is the client-side limit in requests per minute (default 100; negative disables).
	RateLimit float64
	// RateBurst is the token-bucket size (default 10).
	RateBurst int

	// MaxRetries is the number of retries after the first attempt (default 4; negative disables).
	MaxRetries int
	// BackoffBase and BackoffMax bound the full-jitter exponential backoff (defaults 500ms, 20s).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// MaxRetryAfter is the longest Retry-After the client waits for itself (default 2m); a longer
	// one is returned to the caller in Error.RetryAfter.
	MaxRetryAfter time.Duration

	// MaxResponseBytes caps how much of an answer is read (default 8 MiB).
	MaxResponseBytes int64
	// UserAgent defaults to "vpsie-autoscaler/<Version>".
	UserAgent string

	// Logger receives structured, secret-free logs (default: discard).
	Logger logr.Logger
	// Metrics, when set, receives the vpsie_api_* metrics.
	Metrics prometheus.Registerer

	// Clock and Rand (returning [0,1)) make waits and jitter deterministic in tests.
	Clock Clock
	Rand  func() float64
}

func (o Options) withDefaults() Options {
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	o.Paths = o.Paths.withDefaults()
	if o.TokenRefreshSkew == 0 {
		o.TokenRefreshSkew = DefaultTokenRefreshSkew
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.RateLimit == 0 {
		o.RateLimit = DefaultRateLimit
	}
	if o.RateBurst == 0 {
		o.RateBurst = DefaultRateBurst
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = DefaultMaxRetries
	} else if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.BackoffBase == 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.MaxRetryAfter == 0 {
		o.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if o.MaxResponseBytes == 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.UserAgent == "" {
		o.UserAgent = "vpsie-autoscaler/" + Version
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return o
}

func (o Options) validate() (*url.URL, error) {
	var errs []error
	base, err := parseBaseURL(o.BaseURL)
	if err != nil {
		errs = append(errs, err)
	}
	if (o.ClientID == "") != (o.ClientSecret == "") {
		errs = append(errs, errors.New("clientId and clientSecret must be set together"))
	}
	if o.Token == "" && o.ClientID == "" {
		errs = append(errs, errors.New("no credentials: set a token or a clientId and clientSecret"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", o.Timeout}, {"backoff base", o.BackoffBase}, {"backoff max", o.BackoffMax}, {"token refresh skew", o.TokenRefreshSkew}, {"max retry-after", o.MaxRetryAfter}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %s", d.name, d.v))
		}
	}
	if o.BackoffMax < o.BackoffBase {
		errs = append(errs, fmt.Errorf("backoff max %s is below backoff base %s", o.BackoffMax, o.BackoffBase))
	}
	if o.RateBurst < 0 {
		errs = append(errs, fmt.Errorf("rate burst must not be negative, got %d", o.RateBurst))
	}
	if o.MaxResponseBytes < 0 {
		errs = append(errs, fmt.Errorf("max response bytes must not be negative, got %d", o.MaxResponseBytes))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("invalid vpsie client options, %w", err)
	}
	return base, nil
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, fmt.Errorf("base url %q does not parse, %w", raw, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("base url %q has no host", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("base url must not carry credentials")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("base url %q uses plain http, which is allowed only for loopback hosts (localhost, 127.0.0.0/8, ::1); use https", raw)
		}
	default:
		return nil, fmt.Errorf("base url %q must use https (or http on a loopback host)", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment, u.RawPath = "", "", ""
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func redact(s string) string {
	if s == "" {
		return `""`
	}
	return "<redacted>"
}

// String prints the options with the credentials redacted.
func (o Options) String() string {
	return fmt.Sprintf("vpsie.Options{BaseURL: %q, Token: %s, ClientID: %s, ClientSecret: %s, Timeout: %s, RateLimit: %g/min, RateBurst: %d, MaxRetries: %d, UserAgent: %q}",
		o.BaseURL, redact(o.Token), redact(o.ClientID), redact(o.ClientSecret), o.Timeout, o.RateLimit, o.RateBurst, o.MaxRetries, o.UserAgent)
}

// GoString keeps %#v from printing the credentials.
func (o Options) GoString() string { return o.String() }

// MarshalLog keeps logr sinks from printing the credentials.
func (o Options) MarshalLog() any { return o.String() }
