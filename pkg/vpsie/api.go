package vpsie

import "context"

// API is the set of calls Client makes, for consumers that want to substitute a fake at this
// seam. Errors follow the Client's conventions: *Error for VPSie answers (see the Is*
// predicates), ErrInvalidResponse, ErrResponseTooLarge and ErrNotFoundAfterCreate otherwise.
type API interface {
	ListOffers(ctx context.Context, dcIdentifier string) ([]Offering, error)
	GetCluster(ctx context.Context, clusterID string) (*Cluster, error)
	ListNodeGroups(ctx context.Context, clusterID string) ([]NodeGroup, error)
	CreateNodeGroup(ctx context.Context, clusterID, groupName string, sizeID int) (*NodeGroup, error)
	DeleteNodeGroup(ctx context.Context, groupID int) error
	AddWorker(ctx context.Context, clusterID string, groupID int) (*AddWorkerResult, error)
	DeleteWorker(ctx context.Context, clusterID, identifier string) error

	CreateVM(ctx context.Context, req CreateVMRequest) error
	ListVMs(ctx context.Context) ([]VM, error)
	GetVM(ctx context.Context, identifier string) (*VM, error)
	DeleteVM(ctx context.Context, identifier string) error
	ListPlans(ctx context.Context, dcIdentifier, osIdentifier, categoryIdentifier string) ([]Plan, error)
}

var _ API = (*Client)(nil)
