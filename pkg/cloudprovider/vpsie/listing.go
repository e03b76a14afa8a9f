package vpsie

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/clock"

	vpsieapi "github.com/vpsie/vpsie-k8s-autoscaler/pkg/vpsie"
)

// DefaultListingMaxAge is Options.ListingMaxAge when unset.
const DefaultListingMaxAge = time.Second

// shared is one VPSie read (the cluster's node list, our node groups) that concurrent callers
// share: a caller takes the last answer when it was fetched at most maxAge before the call, else
// fetches it while the others wait for that answer. A burst of launches, each polling for its
// worker, then costs one listing per maxAge instead of one per VPSieNode, and stays inside
// the API's rate limit.
//
// Fetches are serialised, so the answers callers see are fetched in call order: a caller
// never gets a listing older than one an earlier caller got (attribution relies on that).
type shared[T any] struct {
	clock clock.Clock
	// mu is held across the fetch, so a caller arriving meanwhile waits for its answer.
	mu      sync.Mutex
	value   T
	fetched time.Time
	ok      bool
}

func (s *shared[T]) get(ctx context.Context, maxAge time.Duration, fetch func(context.Context) (T, error)) (T, error) {
	asked := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ok && asked.Sub(s.fetched) <= maxAge {
		return s.value, nil
	}
	start := s.clock.Now()
	v, err := fetch(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	s.value, s.fetched, s.ok = v, start, true
	return v, nil
}

// invalidate makes the next get fetch.
func (s *shared[T]) invalidate() {
	s.mu.Lock()
	s.ok = false
	s.mu.Unlock()
}

// cluster returns the cluster (its node list) as listed at most maxAge before the call.
func (c *CloudProvider) cluster(ctx context.Context, maxAge time.Duration) (*vpsieapi.Cluster, error) {
	return c.clusterListing.get(ctx, maxAge, func(ctx context.Context) (*vpsieapi.Cluster, error) {
		return c.api.GetCluster(ctx, c.clusterID)
	})
}

// nodeGroups returns the cluster's VPSie node groups as listed at most maxAge before the call.
func (c *CloudProvider) nodeGroups(ctx context.Context, maxAge time.Duration) ([]vpsieapi.NodeGroup, error) {
	return c.groupListing.get(ctx, maxAge, func(ctx context.Context) ([]vpsieapi.NodeGroup, error) {
		return c.api.ListNodeGroups(ctx, c.clusterID)
	})
}
