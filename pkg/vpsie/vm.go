package vpsie

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// CreateVM creates a plain VM. VPSie's answer carries no id: find the VM by its hostname with
// ListVMs.
//
// Never retried after VPSie may have acted on the request (5xx, timeout, connection lost after
// sending): a blind retry could create a second VM. Retried on 429 only.
func (c *Client) CreateVM(ctx context.Context, req CreateVMRequest) error {
	if err := req.validate(); err != nil {
		return fmt.Errorf("creating vm, %w", err)
	}
	r, err := c.jsonRequest("create_vm", http.MethodPost, c.opts.Paths.VMs, req, false)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, r); err != nil {
		return fmt.Errorf("creating vm %s, %w", req.Hostname, err)
	}
	return nil
}

// ListVMs lists the account's VMs.
func (c *Client) ListVMs(ctx context.Context) ([]VM, error) {
	env, err := c.do(ctx, request{call: "list_vms", method: http.MethodGet, path: c.opts.Paths.VMs, idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("listing vms, %w", err)
	}
	out, err := decodeList[VM](env.Data)
	if err != nil {
		return nil, fmt.Errorf("listing vms, %w", err)
	}
	return out, nil
}

// GetVM returns one VM.
func (c *Client) GetVM(ctx context.Context, identifier string) (*VM, error) {
	if err := requireID("vm identifier", identifier); err != nil {
		return nil, fmt.Errorf("getting vm, %w", err)
	}
	env, err := c.do(ctx, request{call: "get_vm", method: http.MethodGet, path: pathFor(c.opts.Paths.VM, "vm", identifier), idempotent: true})
	if err != nil {
		return nil, fmt.Errorf("getting vm %s, %w", identifier, err)
	}
	vm, err := decodeVMAnswer(env.Data)
	if err != nil {
		return nil, fmt.Errorf("getting vm %s, %w", identifier, err)
	}
	return vm, nil
}

// decodeVMAnswer reads {vmData: {...}}, or the VM itself when it comes unwrapped.
func decodeVMAnswer(raw json.RawMessage) (*VM, error) {
	if isNull(raw) {
		return nil, fmt.Errorf("%w: answer without data", ErrInvalidResponse)
	}
	var wrapped struct {
		VMData *VM `json:"vmData"`
	}
	if err := decodeData(raw, &wrapped); err != nil {
		return nil, err
	}
	if wrapped.VMData != nil {
		return wrapped.VMData, nil
	}
	var vm VM
	if err := decodeData(raw, &vm); err != nil {
		return nil, err
	}
	if vm.Identifier == "" {
		return nil, fmt.Errorf("%w: answer without vm data", ErrInvalidResponse)
	}
	return &vm, nil
}

// DeleteVM deletes a VM. A 404 (already gone) is returned as the typed not-found error.
func (c *Client) DeleteVM(ctx context.Context, identifier string) error {
	if err := requireID("vm identifier", identifier); err != nil {
		return fmt.Errorf("deleting vm, %w", err)
	}
	body := struct {
		VMIdentifier    string          `json:"vmIdentifier"`
		DeleteStatistic DeleteStatistic `json:"deleteStatistic"`
	}{identifier, defaultDeleteStatistic}
	r, err := c.jsonRequest("delete_vm", http.MethodDelete, c.opts.Paths.VMs, body, true)
	if err != nil {
		return err
	}
	if _, err := c.do(ctx, r); err != nil {
		return fmt.Errorf("deleting vm %s, %w", identifier, err)
	}
	return nil
}

// ListPlans lists the plain-VM plans of a datacenter for an OS and a plan category.
func (c *Client) ListPlans(ctx context.Context, dcIdentifier, osIdentifier, categoryIdentifier string) ([]Plan, error) {
	if err := errors.Join(requireID("datacenter identifier", dcIdentifier), requireID("os identifier", osIdentifier)); err != nil {
		return nil, fmt.Errorf("listing plans, %w", err)
	}
	body := struct {
		DCIdentifier      string `json:"dcIdentifier"`
		OSIdentifier      string `json:"osIdentifier"`
		PlanCatIdentifier string `json:"planCatIdentifier,omitempty"`
	}{dcIdentifier, osIdentifier, categoryIdentifier}
	// A POST, but a read: safe to retry.
	r, err := c.jsonRequest("list_plans", http.MethodPost, c.opts.Paths.Plans, body, true)
	if err != nil {
		return nil, err
	}
	env, err := c.do(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("listing plans, %w", err)
	}
	out, err := decodeList[Plan](env.Data)
	if err != nil {
		return nil, fmt.Errorf("listing plans, %w", err)
	}
	return out, nil
}
