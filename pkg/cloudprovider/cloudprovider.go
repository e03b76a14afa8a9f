package cloudprovider

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// CloudProvider is everything the controllers need from a cloud. Controllers reach VPSie only
// through it; pkg/cloudprovider/vpsie implements it for VPSie managed Kubernetes and
// pkg/cloudprovider/fake for tests.
type CloudProvider interface {
	// Create launches the VM vn asks for and returns a copy of vn whose status carries what is
	// known of it: instanceID and providerID (always, on success), hostname, IP, capacity,
	// allocatable and hourlyPrice when known. A launch that cannot be attributed yet (the VM is
	// being built asynchronously) returns an error for which IsLaunchPending is true: call
	// Create again later with the same VPSieNode; it never asks the cloud for a second VM while
	// the first may still appear.
	Create(ctx context.Context, vn *v1alpha1.VPSieNode) (*v1alpha1.VPSieNode, error)
	// Delete deletes the VM of vn (found by status.instanceID / providerID). It returns an error
	// for which IsNotFound is true once the VM is gone.
	Delete(ctx context.Context, vn *v1alpha1.VPSieNode) error
	// Get returns the instance with this provider ID (IsNotFound when there is none).
	Get(ctx context.Context, providerID string) (*Instance, error)
	// List returns every instance the autoscaler manages (the workers of its VPSie node groups).
	List(ctx context.Context) ([]*Instance, error)
	// Offerings returns the offerings of the NodeGroup's datacenter with prices, Available false
	// for those recently refused for capacity. It does not apply the NodeGroup's requirements.
	Offerings(ctx context.Context, ng *v1alpha1.NodeGroup) ([]Offering, error)
	// Name names the provider in logs and metrics.
	Name() string
}

// Instance is one VM (worker) as the cloud reports it.
type Instance struct {
	// ID is the cloud's identifier; ProviderID is "vpsie://<ID>", as on the Node.
	ID         string
	ProviderID string
	// OfferingID is the size the VM was built with ("" when unknown).
	OfferingID string
	// Group identifies the cloud-side group the VM belongs to (a VPSie node group id).
	Group    string
	Hostname string
	IP       string
	// Status as the cloud says it (e.g. "running", "provisioning").
	Status string
	// Created is when the cloud says it created the VM; zero when unknown.
	Created time.Time
}

// ProviderIDPrefix starts every VPSie provider ID.
const ProviderIDPrefix = "vpsie://"

// ProviderID returns the provider ID of an instance identifier.
func ProviderID(instanceID string) string { return ProviderIDPrefix + instanceID }

// NotFoundError: the VM (or another cloud object) does not exist (any more).
type NotFoundError struct{ Err error }

func (e *NotFoundError) Error() string { return "not found, " + e.Err.Error() }
func (e *NotFoundError) Unwrap() error { return e.Err }

// NewNotFoundError wraps err as a NotFoundError.
func NewNotFoundError(err error) error { return &NotFoundError{Err: err} }

// IsNotFound reports whether err (or an error it wraps) is a NotFoundError.
func IsNotFound(err error) bool {
	var e *NotFoundError
	return errors.As(err, &e)
}

// InsufficientCapacityError: the cloud refused the launch for capacity or quota; the offering
// should not be planned again for a while.
type InsufficientCapacityError struct {
	// OfferingID is the refused offering ("" when the refusal is not about one offering, e.g.
	// an account quota).
	OfferingID string
	// Quota is true for an account or cluster quota rather than a size without capacity.
	Quota bool
	Err   error
}

func (e *InsufficientCapacityError) Error() string {
	what := "insufficient capacity"
	if e.Quota {
		what = "quota exceeded"
	}
	if e.OfferingID != "" {
		what += fmt.Sprintf(" for offering %s", e.OfferingID)
	}
	return what + ", " + e.Err.Error()
}
func (e *InsufficientCapacityError) Unwrap() error { return e.Err }

// NewInsufficientCapacityError wraps err for an offering.
func NewInsufficientCapacityError(offeringID string, quota bool, err error) error {
	return &InsufficientCapacityError{OfferingID: offeringID, Quota: quota, Err: err}
}

// IsInsufficientCapacity reports whether err is an InsufficientCapacityError.
func IsInsufficientCapacity(err error) bool {
	var e *InsufficientCapacityError
	return errors.As(err, &e)
}

// AsInsufficientCapacity returns the InsufficientCapacityError err wraps, if any.
func AsInsufficientCapacity(err error) (*InsufficientCapacityError, bool) {
	var e *InsufficientCapacityError
	ok := errors.As(err, &e)
	return e, ok
}

// NodeGroupNotReadyError: the NodeGroup cannot launch now (no offering left, a bad spec, the
// catalogue unavailable).
type NodeGroupNotReadyError struct{ Err error }

func (e *NodeGroupNotReadyError) Error() string { return "nodegroup not ready, " + e.Err.Error() }
func (e *NodeGroupNotReadyError) Unwrap() error { return e.Err }

// NewNodeGroupNotReadyError wraps err.
func NewNodeGroupNotReadyError(err error) error { return &NodeGroupNotReadyError{Err: err} }

// IsNodeGroupNotReady reports whether err is a NodeGroupNotReadyError.
func IsNodeGroupNotReady(err error) bool {
	var e *NodeGroupNotReadyError
	return errors.As(err, &e)
}

// LaunchPendingError: the launch was requested and the VM is being built, but the cloud has not
// said yet which VM it is. Retry Create after RetryAfter.
type LaunchPendingError struct {
	RetryAfter time.Duration
	Reason     string
}

func (e *LaunchPendingError) Error() string { return "launch pending, " + e.Reason }

// NewLaunchPendingError returns a LaunchPendingError.
func NewLaunchPendingError(retryAfter time.Duration, reason string) error {
	return &LaunchPendingError{RetryAfter: retryAfter, Reason: reason}
}

// IsLaunchPending reports whether err is a LaunchPendingError.
func IsLaunchPending(err error) bool {
	var e *LaunchPendingError
	return errors.As(err, &e)
}

// AsLaunchPending returns the LaunchPendingError err wraps, if any.
func AsLaunchPending(err error) (*LaunchPendingError, bool) {
	var e *LaunchPendingError
	ok := errors.As(err, &e)
	return e, ok
}

// ErrorReason maps an error onto the VPSieNode condition reason that describes it.
func ErrorReason(err error) string {
	if e, ok := AsInsufficientCapacity(err); ok {
		if e.Quota {
			return v1alpha1.ReasonInsufficientQuota
		}
		return v1alpha1.ReasonOfferingUnavailable
	}
	if IsNotFound(err) {
		return v1alpha1.ReasonInstanceNotFound
	}
	if IsLaunchPending(err) {
		return v1alpha1.ReasonLaunching
	}
	return v1alpha1.ReasonLaunchFailed
}
