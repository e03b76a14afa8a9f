package emulator

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"
)

// Defaults used when the Config leaves a field empty.
const (
	DefaultListenAddress     = "127.0.0.1:0"
	DefaultClusterID         = "c0000000-0000-4000-8000-000000000001"
	DefaultDatacenter        = "dc-hel1"
	DefaultKubeVersion       = "v1.37.2"
	DefaultTokenTTL          = time.Hour
	DefaultReconcileInterval = 250 * time.Millisecond
	DefaultRateLimitWindow   = time.Minute
	DefaultHostnamePrefix    = "vpsie-w"
)

// Add-worker answer modes.
const (
	// AddWorkerSync answers with data {identifier, hostname, status}.
	AddWorkerSync = "sync"
	// AddWorkerAsync answers with data true; the worker only shows up in the cluster's node list.
	AddWorkerAsync = "async"
)

// Call names, used for counters, error rates and latencies. "*" in ErrorRates or Latencies applies
// to every call without an entry of its own.
const (
	CallAuth         = "auth"
	CallOffers       = "offers"
	CallGetCluster   = "get-cluster"
	CallListGroups   = "list-groups"
	CallCreateGroup  = "create-group"
	CallDeleteGroup  = "delete-group"
	CallAddWorker    = "add-worker"
	CallDeleteWorker = "delete-worker"
	CallCreateVM     = "create-vm"
	CallListVMs      = "list-vms"
	CallGetVM        = "get-vm"
	CallDeleteVM     = "delete-vm"
	CallPlans        = "plans"
	CallAll          = "*"
)

// AllCalls lists every call name the emulator serves.
var AllCalls = []string{
	CallAuth, CallOffers, CallGetCluster, CallListGroups, CallCreateGroup, CallDeleteGroup,
	CallAddWorker, CallDeleteWorker, CallCreateVM, CallListVMs, CallGetVM, CallDeleteVM, CallPlans,
}

// Offering is one VPSie size, in the shape of the catalogue file.
type Offering struct {
	ID          int     `json:"id"`
	Name        string  `json:"name"`
	Category    string  `json:"category,omitempty"`
	CPU         int     `json:"cpu"`
	RAM         int     `json:"ram"`  // MiB
	Disk        int     `json:"disk"` // GB
	Price       float64 `json:"price"`
	HourlyPrice float64 `json:"hourly_price,omitempty"`
}

// ClusterConfig describes one managed-Kubernetes cluster the emulator serves.
type ClusterConfig struct {
	Identifier  string `json:"identifier"`
	Name        string `json:"name,omitempty"`
	Datacenter  string `json:"datacenter,omitempty"`
	KubeVersion string `json:"kubeVersion,omitempty"`
}

// Duration is a time.Duration that reads and writes as a Go duration string ("1.5s") in JSON.
// Plain numbers are accepted as seconds.
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var secs float64
		if err2 := json.Unmarshal(b, &secs); err2 != nil {
			return fmt.Errorf("duration must be a string like \"1s\" or a number of seconds")
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("parsing duration %q, %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// Switches are the behaviours tests and operators change at run time (flags and PUT /admin/config).
type Switches struct {
	// BootDelay is how long a new worker or VM stays "provisioning" before it runs and its Node appears.
	BootDelay Duration `json:"bootDelay"`
	// AddWorkerMode is "sync" or "async" (see AddWorkerSync / AddWorkerAsync).
	AddWorkerMode string `json:"addWorkerMode"`
	// ErrorRates maps a call name (or "*") to the probability 0..1 of a 500 answer.
	ErrorRates map[string]float64 `json:"errorRates,omitempty"`
	// Latencies maps a call name (or "*") to an added delay before the answer.
	Latencies map[string]Duration `json:"latencies,omitempty"`
	// RateLimit is the number of API calls allowed per RateLimitWindow; later calls get 429. 0 = off.
	RateLimit int `json:"rateLimit"`
	// RateLimitWindow is the fixed window of RateLimit (default one minute).
	RateLimitWindow Duration `json:"rateLimitWindow"`
	// MaxWorkers is the quota of workers per cluster; 0 = unlimited.
	MaxWorkers int `json:"maxWorkers"`
	// MaxVMs is the quota of plain VMs; 0 = unlimited.
	MaxVMs int `json:"maxVMs"`
	// UnavailableSizes lists size names or ids that have no capacity: adding one answers 403.
	UnavailableSizes []string `json:"unavailableSizes,omitempty"`
	// TokenTTL is the lifetime of access tokens issued by the auth call (applies to new tokens).
	TokenTTL Duration `json:"tokenTTL"`
	// AsyncListDelay hides a worker added in async mode from the cluster's node list and the
	// group's nodes_count for this long, as the real API does while it builds the worker. The
	// worker still counts against the quota.
	AsyncListDelay Duration `json:"asyncListDelay"`
	// DeleteProvisioningConflict answers 409 (resource in transition) to deleting a worker that
	// is still provisioning.
	DeleteProvisioningConflict bool `json:"deleteProvisioningConflict"`
	// RegisterUninitialized creates Nodes with the NoSchedule taint
	// node.cloudprovider.kubernetes.io/uninitialized, as a kubelet run with an external cloud
	// provider registers, and removes it UninitializedDelay after the Node was created (on the
	// injected clock), as the cloud controller manager would. Nodes already carrying the taint
	// lose it after the delay even if the switch is turned off meanwhile.
	RegisterUninitialized bool `json:"registerUninitialized"`
	// UninitializedDelay is how long a Node keeps the uninitialized taint (0: until the next
	// Reconcile).
	UninitializedDelay Duration `json:"uninitializedDelay"`
}

// MarshalLog shows durations as strings in logs.
func (s Switches) MarshalLog() any {
	b, err := json.Marshal(s)
	if err != nil {
		return err.Error()
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return err.Error()
	}
	return m
}

func (s Switches) clone() Switches {
	out := s
	out.ErrorRates = cloneMap(s.ErrorRates)
	out.Latencies = cloneMap(s.Latencies)
	out.UnavailableSizes = slices.Clone(s.UnavailableSizes)
	return out
}

func cloneMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (s *Switches) defaults() {
	if s.AddWorkerMode == "" {
		s.AddWorkerMode = AddWorkerSync
	}
	if s.RateLimitWindow <= 0 {
		s.RateLimitWindow = Duration(DefaultRateLimitWindow)
	}
	if s.TokenTTL <= 0 {
		s.TokenTTL = Duration(DefaultTokenTTL)
	}
}

// Validate reports the first invalid switch.
func (s Switches) Validate() error {
	if s.AddWorkerMode != AddWorkerSync && s.AddWorkerMode != AddWorkerAsync {
		return fmt.Errorf("addWorkerMode must be %q or %q, got %q", AddWorkerSync, AddWorkerAsync, s.AddWorkerMode)
	}
	if s.BootDelay < 0 || s.AsyncListDelay < 0 || s.UninitializedDelay < 0 {
		return fmt.Errorf("bootDelay, asyncListDelay and uninitializedDelay must not be negative")
	}
	for call, rate := range s.ErrorRates {
		if err := validCall(call); err != nil {
			return fmt.Errorf("errorRates, %w", err)
		}
		if rate < 0 || rate > 1 {
			return fmt.Errorf("errorRates[%s] must be between 0 and 1, got %v", call, rate)
		}
	}
	for call, l := range s.Latencies {
		if err := validCall(call); err != nil {
			return fmt.Errorf("latencies, %w", err)
		}
		if l < 0 {
			return fmt.Errorf("latencies[%s] must not be negative", call)
		}
	}
	if s.RateLimit < 0 || s.MaxWorkers < 0 || s.MaxVMs < 0 {
		return fmt.Errorf("rateLimit, maxWorkers and maxVMs must not be negative")
	}
	if s.RateLimitWindow <= 0 || s.TokenTTL <= 0 {
		return fmt.Errorf("rateLimitWindow and tokenTTL must be positive")
	}
	return nil
}

func validCall(call string) error {
	if call == CallAll || slices.Contains(AllCalls, call) {
		return nil
	}
	return fmt.Errorf("unknown call %q (known: %s, or *)", call, strings.Join(AllCalls, ", "))
}

// Config configures a Server.
type Config struct {
	// ListenAddress for Start; default 127.0.0.1:0. Non-loopback addresses need AllowNonLoopback.
	ListenAddress    string
	AllowNonLoopback bool

	// Offerings is the catalogue; when empty, OfferingsFile is read.
	Offerings     []Offering
	OfferingsFile string

	// Clusters served; when empty, one cluster DefaultClusterID in DefaultDatacenter.
	Clusters []ClusterConfig

	// Tokens are static access tokens that never expire.
	Tokens []string
	// ClientID and ClientSecret are accepted by the auth call, which issues expiring tokens.
	ClientID     string
	ClientSecret string
	// AdminToken, when set, must be sent as header X-Admin-Token to /admin/ endpoints.
	AdminToken string

	// KubeClient, when set, receives a Node per booted worker or VM.
	KubeClient kubernetes.Interface

	// Clock drives boots, token expiry, rate-limit windows and latency; default the real clock.
	Clock clock.WithTicker
	// ReconcileInterval is the period of the boot loop started by Start.
	ReconcileInterval time.Duration
	// Seed makes identifiers, tokens and injected errors reproducible.
	Seed uint64
	// HostnamePrefix starts every worker hostname; pick distinct ones when several emulators share
	// one Kubernetes cluster.
	HostnamePrefix string

	Switches Switches
	Logger   logr.Logger
}

func (c *Config) complete() error {
	if c.ListenAddress == "" {
		c.ListenAddress = DefaultListenAddress
	}
	if len(c.Offerings) == 0 {
		if c.OfferingsFile == "" {
			return fmt.Errorf("no offerings: set Offerings or OfferingsFile")
		}
		offs, err := LoadOfferings(c.OfferingsFile)
		if err != nil {
			return err
		}
		c.Offerings = offs
	}
	if err := validateOfferings(c.Offerings); err != nil {
		return err
	}
	if len(c.Clusters) == 0 {
		c.Clusters = []ClusterConfig{{Identifier: DefaultClusterID}}
	}
	seen := map[string]bool{}
	for i := range c.Clusters {
		cl := &c.Clusters[i]
		if cl.Identifier == "" {
			return fmt.Errorf("cluster %d has no identifier", i)
		}
		if seen[cl.Identifier] {
			return fmt.Errorf("cluster %q configured twice", cl.Identifier)
		}
		seen[cl.Identifier] = true
		if cl.Name == "" {
			cl.Name = "emulated-" + strconv.Itoa(i+1)
		}
		if cl.Datacenter == "" {
			cl.Datacenter = DefaultDatacenter
		}
		if cl.KubeVersion == "" {
			cl.KubeVersion = DefaultKubeVersion
		}
	}
	if len(c.Tokens) == 0 && (c.ClientID == "" || c.ClientSecret == "") {
		return fmt.Errorf("no credentials: set a static token or a client id and secret")
	}
	for _, t := range c.Tokens {
		if t == "" {
			return fmt.Errorf("empty static token")
		}
	}
	if c.Clock == nil {
		c.Clock = clock.RealClock{}
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = DefaultReconcileInterval
	}
	if c.HostnamePrefix == "" {
		c.HostnamePrefix = DefaultHostnamePrefix
	}
	if c.Logger.GetSink() == nil {
		c.Logger = logr.Discard()
	}
	c.Switches = c.Switches.clone()
	c.Switches.defaults()
	if err := c.Switches.Validate(); err != nil {
		return fmt.Errorf("invalid switches, %w", err)
	}
	return nil
}

// LoadOfferings reads a catalogue file: a JSON array of offerings.
func LoadOfferings(path string) ([]Offering, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading offerings, %w", err)
	}
	var offs []Offering
	if err := json.Unmarshal(b, &offs); err != nil {
		return nil, fmt.Errorf("parsing offerings %s, %w", path, err)
	}
	if err := validateOfferings(offs); err != nil {
		return nil, fmt.Errorf("offerings %s, %w", path, err)
	}
	return offs, nil
}

func validateOfferings(offs []Offering) error {
	if len(offs) == 0 {
		return fmt.Errorf("catalogue is empty")
	}
	ids := map[int]bool{}
	names := map[string]bool{}
	for _, o := range offs {
		switch {
		case o.ID <= 0:
			return fmt.Errorf("offering %q has no positive id", o.Name)
		case o.Name == "":
			return fmt.Errorf("offering %d has no name", o.ID)
		case o.CPU <= 0 || o.RAM <= 0 || o.Disk <= 0:
			return fmt.Errorf("offering %s needs positive cpu, ram and disk", o.Name)
		case o.Price < 0 || o.HourlyPrice < 0:
			return fmt.Errorf("offering %s has a negative price", o.Name)
		case ids[o.ID]:
			return fmt.Errorf("offering id %d appears twice", o.ID)
		case names[o.Name]:
			return fmt.Errorf("offering name %s appears twice", o.Name)
		}
		ids[o.ID] = true
		names[o.Name] = true
	}
	return nil
}
