package vpsie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

func requireID(what, v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("%s must not be empty", what)
	}
	return nil
}

func requirePositive(what string, v int) error {
	if v <= 0 {
		return fmt.Errorf("%s must be positive, got %d", what, v)
	}
	return nil
}

// ListOffers lists the managed-Kubernetes sizes of a datacenter.
func (c *Client) ListOffers(ctx context.Context, dcIdentifier string) ([]Offering, error) {
	if err := requireID("datacenter identifier", dcIdentifier); err != nil {
		return nil, fmt.Errorf("listing offers, %w", err)
	}
	// A POST, but a read: safe to retry.
	r, err := c.jsonRequest("list_offers", http.MethodPost, c.opts.Paths.Offers, map[string]string{"dcIdentifier": dcIdentifier}, true)
	if err != nil {
		return nil, err
	}
	env, err := c.do(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("listing offers, %w", err)
	}
	out, err := decodeList[Offering](env.Data)
	if err != nil {
		return nil, fmt.Errorf("listing offers, %w", err)
	}
	return out, nil
}

// GetCluster returns a managed cluster with its nodes.
func (c *Client) GetCluster(ctx context.Context, clusterID string) (*Cluster, error) {
	if err := requireID("cluster identifier", clusterID); err != nil {
		return nil, fmt.Errorf("getting cluster, %w", err)
	}
	env, err := c.do(ctx, request{call: "get_cluster", method: http.MethodGet, path: pathFor(c.opts.Paths.Cluster, "cluster", clusterID), idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("getting cluster, %w", err)
	}
	if isNull(env.Data) {
		return nil, fmt.Errorf("getting cluster, %w: answer without data", ErrInvalidResponse)
	}
	var out Cluster
	if err := decodeData(env.Data, &out); err != nil {
		return nil, fmt.Errorf("getting cluster, %w", err)
	}
	return &out, nil
}

// ListNodeGroups lists the node groups of a managed cluster.
func (c *Client) ListNodeGroups(ctx context.Context, clusterID string) ([]NodeGroup, error) {
	if err := requireID("cluster identifier", clusterID); err != nil {
		return nil, fmt.Errorf("listing node groups, %w", err)
	}
	env, err := c.do(ctx, request{call: "list_node_groups", method: http.MethodGet, path: pathFor(c.opts.Paths.NodeGroups, "cluster", clusterID), idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("listing node groups, %w", err)
	}
	out, err := decodeList[NodeGroup](env.Data)
	if err != nil {
		return nil, fmt.Errorf("listing node groups, %w", err)
	}
	return out, nil
}

// CreateNodeGroup creates a node group of one size in a managed cluster and returns it. VPSie may
// answer without the new group's id; the group is then looked up by name in a fresh listing. If
// the listing does not show it yet, the error wraps ErrNotFoundAfterCreate: the group probably
// exists, so callers should list again later instead of creating it again.
//
// Not retried on server or transport errors (see request.idempotent).
func (c *Client) CreateNodeGroup(ctx context.Context, clusterID, groupName string, sizeID int) (*NodeGroup, error) {
	if err := errors.Join(requireID("cluster identifier", clusterID), requireID("group name", groupName), requirePositive("size id", sizeID)); err != nil {
		return nil, fmt.Errorf("creating node group, %w", err)
	}
	body := struct {
		ClusterIdentifier string `json:"clusterIdentifier"`
		GroupName         string `json:"groupName"`
		KubeSizeID        int    `json:"KubeSizeID"`
	}{clusterID, groupName, sizeID}
	r, err := c.jsonRequest("create_node_group", http.MethodPost, c.opts.Paths.CreateNodeGroup, body, false)
	if err != nil {
		return nil, err
	}
	env, err := c.do(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("creating node group %q, %w", groupName, err)
	}
	if g, ok := nodeGroupFromAnswer(env.Data); ok {
		if g.Name == "" {
			g.Name = groupName
		}
		if g.SizeID == 0 {
			g.SizeID = sizeID
		}
		return g, nil
	}
	groups, err := c.ListNodeGroups(ctx, clusterID)
	if err != nil {
		return nil, fmt.Errorf("finding created node group %q, %w", groupName, err)
	}
	for i := range groups {
		if groups[i].Name == groupName {
			return &groups[i], nil
		}
	}
	return nil, fmt.Errorf("finding created node group %q, %w", groupName, ErrNotFoundAfterCreate)
}

// nodeGroupFromAnswer reads the created group when the answer carries one with an id.
func nodeGroupFromAnswer(raw json.RawMessage) (*NodeGroup, bool) {
	if isNull(raw) {
		return nil, false
	}
	var g NodeGroup
	if err := json.Unmarshal(raw, &g); err != nil || g.ID <= 0 {
		return nil, false
	}
	return &g, true
}

// DeleteNodeGroup deletes a node group. Like every DELETE it is retried on server and transport
// errors, so a 404 can also mean an earlier attempt of this very call succeeded: callers treat
// IsNotFound as "gone".
func (c *Client) DeleteNodeGroup(ctx context.Context, groupID int) error {
	if err := requirePositive("node group id", groupID); err != nil {
		return fmt.Errorf("deleting node group, %w", err)
	}
	body := map[string]DeleteStatistic{"deleteStatistic": defaultDeleteStatistic}
	r, err := c.jsonRequest("delete_node_group", http.MethodDelete, pathFor(c.opts.Paths.DeleteNodeGroup, "group", strconv.Itoa(groupID)), body, true)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, r); err != nil {
		return fmt.Errorf("deleting node group %d, %w", groupID, err)
	}
	return nil
}

// AddWorker asks VPSie for one more worker in a node group. The result says whether VPSie built
// it asynchronously (the worker appears later in GetCluster's node list) or named the new node.
//
// Never retried after VPSie may have acted on the request (5xx, timeout, connection lost after
// sending): a blind retry could create a second worker. Retried on 429 only.
func (c *Client) AddWorker(ctx context.Context, clusterID string, groupID int) (*AddWorkerResult, error) {
	if err := errors.Join(requireID("cluster identifier", clusterID), requirePositive("node group id", groupID)); err != nil {
		return nil, fmt.Errorf("adding worker, %w", err)
	}
	env, err := c.do(ctx, request{
		call:   "add_worker",
		method: http.MethodPost,
		path:   pathFor(c.opts.Paths.AddWorker, "cluster", clusterID, "group", strconv.Itoa(groupID)),
	})
	if err != nil {
		return nil, fmt.Errorf("adding worker to node group %d, %w", groupID, err)
	}
	var out AddWorkerResult
	if err := decodeData(env.Data, &out); err != nil {
		return nil, fmt.Errorf("adding worker to node group %d, %w", groupID, err)
	}
	return &out, nil
}

// DeleteWorker deletes one worker of a managed cluster. When VPSie answers 404 (the worker is
// already gone) the typed not-found error is returned as is, so the caller decides whether that
// counts as success: check it with IsNotFound. (The call is retried on server and transport
// errors, so a 404 may also follow an earlier attempt of this call that VPSie did carry out.)
func (c *Client) DeleteWorker(ctx context.Context, clusterID, identifier string) error {
	if err := errors.Join(requireID("cluster identifier", clusterID), requireID("node identifier", identifier)); err != nil {
		return fmt.Errorf("deleting worker, %w", err)
	}
	r, err := c.jsonRequest("delete_worker", http.MethodDelete, pathFor(c.opts.Paths.DeleteWorker, "cluster", clusterID), map[string]string{"identifier": identifier}, true)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, r); err != nil {
		return fmt.Errorf("deleting worker %s, %w", identifier, err)
	}
	return nil
}
