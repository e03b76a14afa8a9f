package vpsie

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
)

type catalogEntry struct {
	offerings []cloudprovider.Offering
	fetched   time.Time
}

// Offerings returns the offerings of the NodeGroup's datacenter, cached for CatalogTTL. When a
// refresh fails the stale catalogue is served; without one the error is a NodeGroupNotReady.
func (c *CloudProvider) Offerings(ctx context.Context, ng *v1alpha1.NodeGroup) ([]cloudprovider.Offering, error) {
	offerings, err := c.catalogOf(ctx, ng.Spec.DatacenterID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	out := make([]cloudprovider.Offering, len(offerings))
	for i, o := range offerings {
		o.Available = !c.unavailableLocked(o.ID, now)
		out[i] = o
	}
	metrics.OfferingsUnavailable.Set(float64(c.countUnavailableLocked(now)))
	return out, nil
}

// catalogOf returns the cached offerings of a datacenter (all marked available), refreshing
// them when older than the TTL. The slice is shared: callers copy before changing it.
func (c *CloudProvider) catalogOf(ctx context.Context, datacenter string) ([]cloudprovider.Offering, error) {
	if datacenter == "" {
		return nil, cloudprovider.NewNodeGroupNotReadyError(fmt.Errorf("no datacenter given"))
	}
	if offs, fresh := c.cached(datacenter); fresh {
		return offs, nil
	}
	c.catalogMu.Lock()
	defer c.catalogMu.Unlock()
	// Another caller may have refreshed it while this one waited.
	stale, fresh := c.cached(datacenter)
	if fresh {
		return stale, nil
	}
	offers, err := c.api.ListOffers(ctx, datacenter)
	if err != nil {
		metrics.CatalogRefreshes.WithLabelValues("error").Inc()
		if stale != nil {
			c.logger(ctx).Error(err, "refreshing offerings failed, serving the cached catalogue", "datacenter", datacenter)
			return stale, nil
		}
		return nil, cloudprovider.NewNodeGroupNotReadyError(fmt.Errorf("listing offerings of datacenter %s, %w", datacenter, err))
	}
	metrics.CatalogRefreshes.WithLabelValues("success").Inc()
	offerings := make([]cloudprovider.Offering, 0, len(offers))
	for _, o := range offers {
		off := cloudprovider.Offering{
			ID:           strconv.Itoa(o.ID),
			Name:         o.Name,
			Category:     o.Category,
			CPU:          int64(o.CPU),
			MemoryMiB:    int64(o.RAMMiB),
			DiskGB:       int64(o.DiskGB),
			MonthlyPrice: o.MonthlyUSD,
			HourlyPrice:  o.Hourly(),
			Available:    true,
		}
		// An offering the planner would divide by zero on is left out rather than failing
		// the whole catalogue.
		if err := off.Validate(); err != nil {
			c.logger(ctx).Info("ignoring invalid offering", "datacenter", datacenter, "error", err.Error())
			continue
		}
		offerings = append(offerings, off)
	}
	c.mu.Lock()
	c.catalog[datacenter] = catalogEntry{offerings: offerings, fetched: c.clock.Now()}
	c.mu.Unlock()
	metrics.CatalogOfferings.Set(float64(len(offerings)))
	return offerings, nil
}

// cached returns the cached offerings (nil if none) and whether they are within the TTL.
func (c *CloudProvider) cached(datacenter string) ([]cloudprovider.Offering, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.catalog[datacenter]
	if !ok {
		return nil, false
	}
	return e.offerings, c.clock.Since(e.fetched) < c.catalogTTL
}

// offering finds an offering of a datacenter by id.
func (c *CloudProvider) offering(ctx context.Context, datacenter, id string) (cloudprovider.Offering, error) {
	offs, err := c.catalogOf(ctx, datacenter)
	if err != nil {
		return cloudprovider.Offering{}, err
	}
	for _, o := range offs {
		if o.ID == id {
			return o, nil
		}
	}
	return cloudprovider.Offering{}, cloudprovider.NewInsufficientCapacityError(id, false,
		fmt.Errorf("offering %s is not offered in datacenter %s", id, datacenter))
}

// MarkUnavailable keeps an offering out of plans (Available false) for UnavailableTTL.
func (c *CloudProvider) MarkUnavailable(offeringID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock.Now()
	c.unavailable[offeringID] = now.Add(c.unavailableTTL)
	metrics.OfferingsUnavailable.Set(float64(c.countUnavailableLocked(now)))
	c.log.Info("offering marked unavailable", "offering", offeringID, "for", c.unavailableTTL)
}

func (c *CloudProvider) unavailableLocked(offeringID string, now time.Time) bool {
	until, ok := c.unavailable[offeringID]
	if !ok {
		return false
	}
	if !now.Before(until) {
		delete(c.unavailable, offeringID)
		return false
	}
	return true
}

func (c *CloudProvider) countUnavailableLocked(now time.Time) int {
	n := 0
	for id := range c.unavailable {
		if c.unavailableLocked(id, now) {
			n++
		}
	}
	return n
}
