// Package simulator answers "where would the kube-scheduler put these pods, and which new nodes
// should we buy for the rest?" by running the real scheduler framework plugins (PreFilter and
// Filter of the default profile) over an in-memory snapshot. It is the only package of the
// project that imports k8s.io/kubernetes.
package simulator

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	resourceapi "k8s.io/api/resource/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/dynamic-resource-allocation/structured"
	"k8s.io/klog/v2"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/apis/config/latest"
	"k8s.io/kubernetes/pkg/scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework/plugins"
	frameworkruntime "k8s.io/kubernetes/pkg/scheduler/framework/runtime"
	"k8s.io/kubernetes/pkg/scheduler/metrics"
)

var initMetrics sync.Once

// Scheduler is one scheduler framework (default profile, in-tree plugins) bound to a Snapshot.
// It runs only PreFilter and Filter: the question is "may this pod run on that node", never
// "which node would score best".
type Scheduler struct {
	fw   framework.Framework
	snap *Snapshot
	// ctx carries a discarding logger: plugins check logger.V(4) on hot paths and a verbose
	// logger makes Filter several times slower.
	ctx    context.Context
	cancel context.CancelFunc
}

// NewScheduler builds the framework over snap. Close releases its background goroutines.
//
// Scheduler feature gates are process-global and read while the registry, the profile and
// NodeInfos are built: a binary that changes them must do so before the first call. The
// simulator itself runs with the kube-scheduler's defaults.
//
// volumes are the storage objects volume plugins look up (PersistentVolumeClaims,
// PersistentVolumes, StorageClasses); other kinds are an error.
func NewScheduler(snap *Snapshot, volumes ...runtime.Object) (*Scheduler, error) {
	// The framework's plugins record into package-level metric vectors; they are nil (and
	// panic) until initialised. Registration with a registry is not needed.
	initMetrics.Do(metrics.InitMetrics)

	cfg, err := latest.Default()
	if err != nil {
		return nil, fmt.Errorf("building default scheduler configuration, %w", err)
	}
	if len(cfg.Profiles) == 0 {
		return nil, fmt.Errorf("default scheduler configuration has no profile")
	}
	quiet := logr.Discard()
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), quiet))
	// The plugins want a clientset for their informers and for Bind, neither of which the
	// simulator runs, so it points nowhere (.invalid never resolves). The fake clientset
	// would parse the whole API schema for field management first: a third of a steady-state
	// solve.
	client, err := kubernetes.NewForConfig(&rest.Config{Host: "https://simulator.invalid"})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("building scheduler clientset, %w", err)
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	fw, err := frameworkruntime.NewFramework(ctx, plugins.NewInTreeRegistry(), &cfg.Profiles[0],
		frameworkruntime.WithClientSet(client),
		frameworkruntime.WithInformerFactory(factory),
		frameworkruntime.WithSnapshotSharedLister(snap),
		frameworkruntime.WithSharedDRAManager(noDRA{}),
		frameworkruntime.WithSharedCSIManager(noCSI{}),
		frameworkruntime.WithParallelism(1),
		frameworkruntime.WithLogger(quiet),
	)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("building scheduler framework, %w", err)
	}
	// The plugins took their listers from the factory; the informers are never started, so
	// the objects go straight into their indexers.
	for _, obj := range volumes {
		var err error
		switch o := obj.(type) {
		case *corev1.PersistentVolumeClaim:
			err = factory.Core().V1().PersistentVolumeClaims().Informer().GetIndexer().Add(o)
		case *corev1.PersistentVolume:
			err = factory.Core().V1().PersistentVolumes().Informer().GetIndexer().Add(o)
		case *storagev1.StorageClass:
			err = factory.Storage().V1().StorageClasses().Informer().GetIndexer().Add(o)
		default:
			err = fmt.Errorf("unsupported volume object %T", obj)
		}
		if err != nil {
			cancel()
			return nil, fmt.Errorf("adding volume objects, %w", err)
		}
	}
	return &Scheduler{fw: fw, snap: snap, ctx: ctx, cancel: cancel}, nil
}

// Close stops the framework's background work.
func (s *Scheduler) Close() { s.cancel() }

// Snapshot is the snapshot the scheduler reads.
func (s *Scheduler) Snapshot() *Snapshot { return s.snap }

// noDRA is a SharedDRAManager for a cluster without dynamic resources: no claims, slices or
// device classes. Pods that reference resource claims are reported unschedulable by the plugin.
type noDRA struct{}

func (noDRA) ResourceClaims() fwk.ResourceClaimTracker                           { return noClaims{} }
func (noDRA) ResourceSlices() fwk.ResourceSliceLister                            { return noSlices{} }
func (noDRA) DeviceClasses() fwk.DeviceClassLister                               { return noDeviceClasses{} }
func (noDRA) DeviceClassResolver() fwk.DeviceClassResolver                       { return noDeviceClasses{} }
func (noSlices) ListWithDeviceTaintRules() ([]*resourceapi.ResourceSlice, error) { return nil, nil }

type noClaims struct{}
type noSlices struct{}
type noDeviceClasses struct{}

func (noClaims) List() ([]*resourceapi.ResourceClaim, error) { return nil, nil }
func (noClaims) Get(namespace, name string) (*resourceapi.ResourceClaim, error) {
	return nil, apierrors.NewNotFound(resourceapi.Resource("resourceclaims"), namespace+"/"+name)
}
func (noClaims) ListAllAllocatedDevices() (sets.Set[structured.DeviceID], error) {
	return sets.New[structured.DeviceID](), nil
}
func (noClaims) GatherAllocatedState() (*structured.AllocatedState, error) {
	return &structured.AllocatedState{}, nil
}
func (noClaims) SignalClaimPendingAllocation(types.UID, *resourceapi.ResourceClaim) error {
	return fmt.Errorf("the simulator does not allocate resource claims")
}
func (noClaims) GetPendingAllocation(types.UID) *resourceapi.AllocationResult { return nil }
func (noClaims) MaybeRemoveClaimPendingAllocation(types.UID, bool) bool       { return false }
func (noClaims) AssumeClaimAfterAPICall(*resourceapi.ResourceClaim) error {
	return fmt.Errorf("the simulator does not allocate resource claims")
}
func (noClaims) AssumedClaimRestore(string, string) {}

func (noDeviceClasses) List() ([]*resourceapi.DeviceClass, error) { return nil, nil }
func (noDeviceClasses) Get(name string) (*resourceapi.DeviceClass, error) {
	return nil, apierrors.NewNotFound(resourceapi.Resource("deviceclasses"), name)
}
func (noDeviceClasses) GetDeviceClass(corev1.ResourceName) *resourceapi.DeviceClass { return nil }

// noCSI reports no CSINode objects, so volume limits come only from node allocatable.
type noCSI struct{}

func (noCSI) CSINodes() fwk.CSINodeLister { return noCSINodes{} }

type noCSINodes struct{}

func (noCSINodes) List() ([]*storagev1.CSINode, error) { return nil, nil }
func (noCSINodes) Get(name string) (*storagev1.CSINode, error) {
	return nil, apierrors.NewNotFound(storagev1.Resource("csinodes"), name)
}
