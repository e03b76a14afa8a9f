package operator

import (
	"context"
	"errors"

	"github.com/go-logr/logr"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// ErrDryRun is returned by the dry-run cloud provider instead of launching or deleting a VM.
var ErrDryRun = errors.New("dry run: the cloud provider launches and deletes nothing")

// NewDryRun wraps cp so reads (Get, List, Offerings) pass through while Create and Delete only
// log and fail with ErrDryRun. The controllers honour --dry-run themselves; this makes sure no
// code path can change the cloud.
func NewDryRun(cp cloudprovider.CloudProvider, log logr.Logger) cloudprovider.CloudProvider {
	return &dryRun{CloudProvider: cp, log: log.WithName("dry-run")}
}

type dryRun struct {
	cloudprovider.CloudProvider
	log logr.Logger
}

func (d *dryRun) Create(ctx context.Context, vn *v1alpha1.VPSieNode) (*v1alpha1.VPSieNode, error) {
	d.log.Info("would launch an instance", "VPSieNode", vn.Name, "offering", vn.Spec.OfferingID, "nodeGroup", vn.Spec.NodeGroup)
	return nil, ErrDryRun
}

func (d *dryRun) Delete(ctx context.Context, vn *v1alpha1.VPSieNode) error {
	d.log.Info("would delete an instance", "VPSieNode", vn.Name, "instanceID", vn.Status.InstanceID)
	return ErrDryRun
}
