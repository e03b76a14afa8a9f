package vpsie

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	vpsieapi "github.com/vpsie/vpsie-k8s-autoscaler/pkg/vpsie"
)

// groupName is the name of our VPSie node group for an offering.
func (c *CloudProvider) groupName(o cloudprovider.Offering) string {
	suffix := sanitize(o.Name)
	if suffix == "" {
		suffix = sanitize(o.ID)
	}
	name := c.prefix + "-" + suffix
	if len(name) > maxGroupNameLength {
		name = strings.TrimRight(name[:maxGroupNameLength], "-")
	}
	return name
}

// ours reports whether a VPSie node group name belongs to this provider.
func (c *CloudProvider) ours(name string) bool { return strings.HasPrefix(name, c.prefix+"-") }

// sanitize lower-cases s and replaces every run of characters other than [a-z0-9] by one dash,
// trimming dashes at both ends.
func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			continue
		}
		dash = true
	}
	return b.String()
}

// refreshGroups lists our node groups and caches them by size.
func (c *CloudProvider) refreshGroups(ctx context.Context) ([]nodeGroup, error) {
	all, err := c.nodeGroups(ctx, c.listingMaxAge)
	if err != nil {
		return nil, fmt.Errorf("listing node groups, %w", err)
	}
	var out []nodeGroup
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, g := range all {
		if !c.ours(g.Name) || g.ID <= 0 {
			continue
		}
		ng := nodeGroup{ID: g.ID, Name: g.Name, SizeID: g.SizeID}
		out = append(out, ng)
		if g.SizeID > 0 {
			c.groups[strconv.Itoa(g.SizeID)] = ng
		}
	}
	return out, nil
}

// ensureGroup returns our node group of the offering, creating it on first use. Callers hold
// the offering's group lock, so one offering never gets two create calls at once.
func (c *CloudProvider) ensureGroup(ctx context.Context, o cloudprovider.Offering) (nodeGroup, error) {
	c.mu.Lock()
	g, ok := c.groups[o.ID]
	c.mu.Unlock()
	if ok {
		return g, nil
	}
	sizeID, err := strconv.Atoi(o.ID)
	if err != nil || sizeID <= 0 {
		return nodeGroup{}, fmt.Errorf("offering id %q is not a VPSie size id", o.ID)
	}
	if g, found, err := c.findGroup(ctx, sizeID); err != nil || found {
		return g, err
	}
	name := c.groupName(o)
	created, err := c.api.CreateNodeGroup(ctx, c.clusterID, name, sizeID)
	c.groupListing.invalidate()
	switch {
	case err == nil:
		g = nodeGroup{ID: created.ID, Name: created.Name, SizeID: sizeID}
	case vpsieapi.IsConflict(err) || errors.Is(err, vpsieapi.ErrNotFoundAfterCreate):
		// Created meanwhile by someone else, or created by us and not listed yet: look again
		// rather than create it twice.
		if g, found, ferr := c.findGroup(ctx, sizeID); ferr != nil || found {
			return g, ferr
		}
		return nodeGroup{}, fmt.Errorf("creating node group %s, %w", name, err)
	default:
		if vpsieapi.IsQuotaExceeded(err) {
			c.MarkUnavailable(o.ID)
			return nodeGroup{}, cloudprovider.NewInsufficientCapacityError(o.ID, true, fmt.Errorf("creating node group %s, %w", name, err))
		}
		return nodeGroup{}, fmt.Errorf("creating node group %s, %w", name, err)
	}
	c.mu.Lock()
	c.groups[o.ID] = g
	c.mu.Unlock()
	c.logger(ctx).Info("created vpsie node group", "group", g.Name, "groupID", g.ID, "offering", o.ID)
	return g, nil
}

// findGroup looks our group of a size up in a fresh listing. A group of that size that is not
// ours is an error: VPSie allows one group per size, so the offering cannot be used.
func (c *CloudProvider) findGroup(ctx context.Context, sizeID int) (nodeGroup, bool, error) {
	all, err := c.nodeGroups(ctx, 0)
	if err != nil {
		return nodeGroup{}, false, fmt.Errorf("listing node groups, %w", err)
	}
	for _, g := range all {
		if g.SizeID != sizeID {
			continue
		}
		if !c.ours(g.Name) {
			return nodeGroup{}, false, fmt.Errorf("size %d already has node group %q, which is not managed by the autoscaler (prefix %q); VPSie allows one node group per size", sizeID, g.Name, c.prefix)
		}
		ng := nodeGroup{ID: g.ID, Name: g.Name, SizeID: sizeID}
		c.mu.Lock()
		c.groups[strconv.Itoa(sizeID)] = ng
		c.mu.Unlock()
		return ng, true, nil
	}
	return nodeGroup{}, false, nil
}

// forgetGroup drops a cached group (VPSie said it does not exist).
func (c *CloudProvider) forgetGroup(offeringID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.groups, offeringID)
}
