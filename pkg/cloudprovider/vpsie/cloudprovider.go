// Package vpsie implements cloudprovider.CloudProvider for VPSie managed Kubernetes: one VPSie
// node group per offering (size), workers added to and deleted from those groups.
//
// VPSie's add-worker call usually answers without saying which worker it builds, so Create
// attributes workers by diffing a group's worker list against the workers already claimed by
// VPSieNodes, one add in flight per group, with the request persisted on the VPSieNode before it
// is sent (see create.go).
package vpsie

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	vpsieapi "github.com/vpsie/vpsie-k8s-autoscaler/pkg/vpsie"
)

// Defaults of Options.
const (
	DefaultGroupNamePrefix   = "vpsie-autoscaler"
	DefaultCatalogTTL        = 5 * time.Minute
	DefaultUnavailableTTL    = 3 * time.Minute
	DefaultAsyncWait         = 30 * time.Second
	DefaultAsyncPollInterval = 2 * time.Second
	DefaultAttributionWindow = 10 * time.Minute

	// maxGroupNameLength is VPSie's limit on node group names.
	maxGroupNameLength = 63
	// maxPrefixLength leaves room in a group name for the offering's name.
	maxPrefixLength = 40
)

// Name is the provider's name in logs and metrics.
const Name = "vpsie"

// Options configure the CloudProvider. Zero durations take the defaults.
type Options struct {
	Client *vpsieapi.Client
	// KubeClient reads VPSieNodes and writes the worker-request annotations on them.
	KubeClient client.Client
	// ClusterID is the VPSie managed cluster identifier.
	ClusterID string
	// GroupNamePrefix starts the names of the VPSie node groups this provider owns (default
	// "vpsie-autoscaler"); groups named otherwise are never touched nor listed.
	GroupNamePrefix string
	// Clock defaults to the real clock.
	Clock  clock.Clock
	Logger logr.Logger
	// CatalogTTL is how long the offerings of a datacenter are cached (default 5m).
	CatalogTTL time.Duration
	// UnavailableTTL is how long an offering refused for capacity or quota stays unavailable
	// (default 3m).
	UnavailableTTL time.Duration
	// AsyncWait is how long one Create waits for an asynchronously built worker to appear
	// (default 30s; negative: do not wait, answer LaunchPending at once).
	AsyncWait time.Duration
	// AsyncPollInterval is the period of that wait and the RetryAfter of LaunchPending errors
	// (default 2s).
	AsyncPollInterval time.Duration
	// AttributionWindow: a VPSieNode whose requested worker was never attributed asks again
	// only after this long (default 10m).
	AttributionWindow time.Duration
	// ListingMaxAge: concurrent callers share one VPSie listing of the cluster's workers (and
	// of its node groups) not older than this (default 1s).
	ListingMaxAge time.Duration
}

// CloudProvider is the VPSie managed-Kubernetes cloud provider.
type CloudProvider struct {
	api       *vpsieapi.Client
	kube      client.Client
	clusterID string
	prefix    string
	clock     clock.Clock
	log       logr.Logger

	catalogTTL        time.Duration
	unavailableTTL    time.Duration
	asyncWait         time.Duration
	pollInterval      time.Duration
	attributionWindow time.Duration
	listingMaxAge     time.Duration

	clusterListing shared[*vpsieapi.Cluster]
	groupListing   shared[[]vpsieapi.NodeGroup]

	// catalogMu serialises catalogue refreshes, so concurrent callers share one ListOffers.
	catalogMu sync.Mutex

	mu sync.Mutex
	// catalog caches the offerings per datacenter.
	catalog map[string]catalogEntry
	// unavailable maps an offering id to the time it becomes available again.
	unavailable map[string]time.Time
	// groups maps an offering (size) id to our VPSie node group of that size.
	groups map[string]nodeGroup
	// groupLocks serialise attribution and adds per offering (= per VPSie node group).
	groupLocks map[string]chan struct{}
	// claims maps a VPSieNode name to the worker handed to it that its status may not show yet.
	claims map[string]claim
	// pending maps a VPSieNode name to the add this process sent for it and has not attributed;
	// it covers the time a cached KubeClient does not show the annotation yet.
	pending map[string]request
}

type nodeGroup struct {
	ID     int
	Name   string
	SizeID int
}

type claim struct {
	instanceID string
	groupID    int
	at         time.Time
}

type request struct {
	at      time.Time
	groupID int
}

var _ cloudprovider.CloudProvider = (*CloudProvider)(nil)

// New validates opts and returns a CloudProvider.
func New(opts Options) (*CloudProvider, error) {
	if opts.Client == nil {
		return nil, fmt.Errorf("vpsie cloud provider: a VPSie API client is required")
	}
	if opts.KubeClient == nil {
		return nil, fmt.Errorf("vpsie cloud provider: a Kubernetes client is required (VPSieNodes are read and annotated)")
	}
	if strings.TrimSpace(opts.ClusterID) == "" {
		return nil, fmt.Errorf("vpsie cloud provider: the VPSie cluster identifier is required")
	}
	if opts.GroupNamePrefix == "" {
		opts.GroupNamePrefix = DefaultGroupNamePrefix
	}
	prefix := sanitize(opts.GroupNamePrefix)
	if prefix == "" || prefix != opts.GroupNamePrefix || len(prefix) > maxPrefixLength {
		return nil, fmt.Errorf("vpsie cloud provider: group name prefix %q must be 1-%d lower-case letters, digits and dashes, starting and ending with a letter or digit", opts.GroupNamePrefix, maxPrefixLength)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"catalog TTL", &opts.CatalogTTL, DefaultCatalogTTL},
		{"unavailable TTL", &opts.UnavailableTTL, DefaultUnavailableTTL},
		{"async poll interval", &opts.AsyncPollInterval, DefaultAsyncPollInterval},
		{"attribution window", &opts.AttributionWindow, DefaultAttributionWindow},
		{"listing max age", &opts.ListingMaxAge, DefaultListingMaxAge},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("vpsie cloud provider: %s must not be negative, got %s", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if opts.AsyncWait == 0 {
		opts.AsyncWait = DefaultAsyncWait
	}
	if opts.AsyncWait > 0 && opts.AttributionWindow <= opts.AsyncWait {
		return nil, fmt.Errorf("vpsie cloud provider: attribution window (%s) must be longer than the async wait (%s)", opts.AttributionWindow, opts.AsyncWait)
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	return &CloudProvider{
		clusterListing:    shared[*vpsieapi.Cluster]{clock: opts.Clock},
		groupListing:      shared[[]vpsieapi.NodeGroup]{clock: opts.Clock},
		listingMaxAge:     opts.ListingMaxAge,
		api:               opts.Client,
		kube:              opts.KubeClient,
		clusterID:         opts.ClusterID,
		prefix:            prefix,
		clock:             opts.Clock,
		log:               opts.Logger.WithName("vpsie"),
		catalogTTL:        opts.CatalogTTL,
		unavailableTTL:    opts.UnavailableTTL,
		asyncWait:         opts.AsyncWait,
		pollInterval:      opts.AsyncPollInterval,
		attributionWindow: opts.AttributionWindow,
		catalog:           map[string]catalogEntry{},
		unavailable:       map[string]time.Time{},
		groups:            map[string]nodeGroup{},
		groupLocks:        map[string]chan struct{}{},
		claims:            map[string]claim{},
		pending:           map[string]request{},
	}, nil
}

// Name implements cloudprovider.CloudProvider.
func (c *CloudProvider) Name() string { return Name }

func (c *CloudProvider) logger(ctx context.Context) logr.Logger {
	if l, err := logr.FromContext(ctx); err == nil {
		return l
	}
	return c.log
}

// Delete deletes the worker of vn. A VPSieNode without an instance, or whose worker is gone,
// answers NotFound; a worker in transition (409) answers a plain error to retry later.
func (c *CloudProvider) Delete(ctx context.Context, vn *v1alpha1.VPSieNode) error {
	c.mu.Lock()
	delete(c.pending, vn.Name)
	instanceID := vn.Status.InstanceID
	// A claim whose status never got persisted still names the worker. The claim itself stays
	// until its group's attribution drops it (see observe): dropping it here, outside the group
	// lock, could free the worker for another VPSieNode just before it is deleted.
	if cl, ok := c.claims[vn.Name]; ok && instanceID == "" {
		instanceID = cl.instanceID
	}
	c.mu.Unlock()
	if instanceID == "" {
		return cloudprovider.NewNotFoundError(fmt.Errorf("vpsienode %s has no instance", vn.Name))
	}
	err := c.api.DeleteWorker(ctx, c.clusterID, instanceID)
	// A listing from before the delete may still show the worker.
	c.clusterListing.invalidate()
	if err != nil {
		if vpsieapi.IsNotFound(err) {
			return cloudprovider.NewNotFoundError(fmt.Errorf("deleting worker %s, %w", instanceID, err))
		}
		return fmt.Errorf("deleting worker %s, %w", instanceID, err)
	}
	c.logger(ctx).Info("deleted worker", "VPSieNode", vn.Name, "instance", instanceID)
	return nil
}

// Get returns the worker with this provider ID, if it belongs to one of our node groups.
func (c *CloudProvider) Get(ctx context.Context, providerID string) (*cloudprovider.Instance, error) {
	id, ok := strings.CutPrefix(providerID, cloudprovider.ProviderIDPrefix)
	if !ok || id == "" {
		return nil, cloudprovider.NewNotFoundError(fmt.Errorf("provider id %q is not a vpsie provider id", providerID))
	}
	instances, err := c.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, in := range instances {
		if in.ID == id {
			return in, nil
		}
	}
	return nil, cloudprovider.NewNotFoundError(fmt.Errorf("worker %s not found in our node groups", id))
}

// List returns the workers of our node groups.
func (c *CloudProvider) List(ctx context.Context) ([]*cloudprovider.Instance, error) {
	groups, err := c.refreshGroups(ctx)
	if err != nil {
		return nil, err
	}
	cluster, err := c.cluster(ctx, c.listingMaxAge)
	if err != nil {
		return nil, fmt.Errorf("listing workers, %w", err)
	}
	byID := map[int]nodeGroup{}
	for _, g := range groups {
		byID[g.ID] = g
	}
	var out []*cloudprovider.Instance
	for _, n := range cluster.Nodes {
		g, ours := byID[n.GroupID]
		if !n.IsWorker() || !ours || n.Identifier == "" {
			continue
		}
		out = append(out, instanceOf(n, g))
	}
	return out, nil
}

func instanceOf(n vpsieapi.ClusterNode, g nodeGroup) *cloudprovider.Instance {
	size := g.SizeID
	if size == 0 {
		size = n.SizeID
	}
	offering := ""
	if size > 0 {
		offering = strconv.Itoa(size)
	}
	return &cloudprovider.Instance{
		ID:         n.Identifier,
		ProviderID: cloudprovider.ProviderID(n.Identifier),
		OfferingID: offering,
		Group:      strconv.Itoa(n.GroupID),
		Hostname:   n.Hostname,
		IP:         ipOf(n),
		Status:     n.Status,
		Created:    n.Created,
	}
}

func ipOf(n vpsieapi.ClusterNode) string {
	if n.PrivateIP != "" {
		return n.PrivateIP
	}
	return n.PublicIP
}
