// Package fake is an in-memory CloudProvider for controller tests: it records calls, launches
// instances instantly and lets a test inject errors per method.
package fake

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
)

// CloudProvider is a fake cloudprovider.CloudProvider. The zero value is not usable: use New.
type CloudProvider struct {
	mu sync.Mutex
	// Catalogue returned by Offerings (for every NodeGroup).
	Catalogue []cloudprovider.Offering
	// Instances by ID.
	Instances map[string]*cloudprovider.Instance
	// NextErrors: the next call of a method ("Create", "Delete", "Get", "List", "Offerings")
	// returns the first queued error and drops it.
	NextErrors map[string][]error
	// AlwaysErrors: every call of the method returns this error while set.
	AlwaysErrors map[string]error
	// Calls records the VPSieNode name (Create, Delete), provider ID (Get) or "" per call.
	Calls map[string][]string
	seq   int
	Now   func() time.Time
}

var _ cloudprovider.CloudProvider = (*CloudProvider)(nil)

// New returns a fake with the given catalogue (DefaultCatalogue when none is given).
func New(catalogue ...cloudprovider.Offering) *CloudProvider {
	if len(catalogue) == 0 {
		catalogue = DefaultCatalogue()
	}
	return &CloudProvider{
		Catalogue:    catalogue,
		Instances:    map[string]*cloudprovider.Instance{},
		NextErrors:   map[string][]error{},
		AlwaysErrors: map[string]error{},
		Calls:        map[string][]string{},
		Now:          time.Now,
	}
}

// DefaultCatalogue is a small standard-category catalogue (ids 1..4: 1, 2, 4, 8 vCPU with 2 GiB
// per vCPU).
func DefaultCatalogue() []cloudprovider.Offering {
	var out []cloudprovider.Offering
	for i, cpu := range []int64{1, 2, 4, 8} {
		out = append(out, cloudprovider.Offering{
			ID: fmt.Sprint(i + 1), Name: fmt.Sprintf("s-%dvcpu-%dgb", cpu, cpu*2), Category: "standard",
			CPU: cpu, MemoryMiB: cpu * 2048, DiskGB: 25 * cpu, HourlyPrice: 0.01 * float64(cpu), MonthlyPrice: 7.3 * float64(cpu),
			Available: true,
		})
	}
	return out
}

// Reset forgets instances, errors and calls.
func (f *CloudProvider) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Instances = map[string]*cloudprovider.Instance{}
	f.NextErrors = map[string][]error{}
	f.AlwaysErrors = map[string]error{}
	f.Calls = map[string][]string{}
}

// InjectError queues err for the next call of method.
func (f *CloudProvider) InjectError(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.NextErrors[method] = append(f.NextErrors[method], err)
}

// CallCount returns how often method was called.
func (f *CloudProvider) CallCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Calls[method])
}

// InstanceCount returns the number of instances that exist.
func (f *CloudProvider) InstanceCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.Instances)
}

// AddInstance makes an instance exist without a Create (an orphan, for garbage collection tests).
func (f *CloudProvider) AddInstance(in cloudprovider.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.ProviderID == "" {
		in.ProviderID = cloudprovider.ProviderID(in.ID)
	}
	f.Instances[in.ID] = &in
}

func (f *CloudProvider) record(method, arg string) error {
	f.Calls[method] = append(f.Calls[method], arg)
	if err := f.AlwaysErrors[method]; err != nil {
		return err
	}
	if q := f.NextErrors[method]; len(q) > 0 {
		f.NextErrors[method] = q[1:]
		return q[0]
	}
	return nil
}

func (f *CloudProvider) offering(id string) (cloudprovider.Offering, bool) {
	for _, o := range f.Catalogue {
		if o.ID == id {
			return o, true
		}
	}
	return cloudprovider.Offering{}, false
}

// Create launches an instance named after the VPSieNode at once.
func (f *CloudProvider) Create(_ context.Context, vn *v1alpha1.VPSieNode) (*v1alpha1.VPSieNode, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Create", vn.Name); err != nil {
		return nil, err
	}
	o, ok := f.offering(vn.Spec.OfferingID)
	if !ok {
		return nil, cloudprovider.NewInsufficientCapacityError(vn.Spec.OfferingID, false, fmt.Errorf("offering %s not in the catalogue", vn.Spec.OfferingID))
	}
	f.seq++
	id := fmt.Sprintf("fake-%d", f.seq)
	in := &cloudprovider.Instance{
		ID: id, ProviderID: cloudprovider.ProviderID(id), OfferingID: o.ID, Group: "group-" + o.ID,
		Hostname: vn.Name, IP: fmt.Sprintf("10.0.%d.%d", f.seq/250, f.seq%250+1), Status: "running", Created: f.Now(),
	}
	f.Instances[id] = in
	out := vn.DeepCopy()
	out.Status.InstanceID = id
	out.Status.ProviderID = in.ProviderID
	out.Status.Hostname = in.Hostname
	out.Status.IP = in.IP
	capacity := scheduling.Capacity(o.CPU, o.MemoryMiB, o.DiskGB, 110)
	out.Status.Capacity = capacity
	out.Status.Allocatable = scheduling.Allocatable(capacity, scheduling.DefaultReservation())
	out.Status.HourlyPrice = fmt.Sprintf("%g", o.HourlyPrice)
	return out, nil
}

// Delete deletes the instance of vn; NotFound when there is none.
func (f *CloudProvider) Delete(_ context.Context, vn *v1alpha1.VPSieNode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Delete", vn.Name); err != nil {
		return err
	}
	if _, ok := f.Instances[vn.Status.InstanceID]; !ok || vn.Status.InstanceID == "" {
		return cloudprovider.NewNotFoundError(fmt.Errorf("instance %q", vn.Status.InstanceID))
	}
	delete(f.Instances, vn.Status.InstanceID)
	return nil
}

// Get returns the instance with the provider ID.
func (f *CloudProvider) Get(_ context.Context, providerID string) (*cloudprovider.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Get", providerID); err != nil {
		return nil, err
	}
	for _, in := range f.Instances {
		if in.ProviderID == providerID {
			c := *in
			return &c, nil
		}
	}
	return nil, cloudprovider.NewNotFoundError(fmt.Errorf("instance %q", providerID))
}

// List returns every instance.
func (f *CloudProvider) List(context.Context) ([]*cloudprovider.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("List", ""); err != nil {
		return nil, err
	}
	out := make([]*cloudprovider.Instance, 0, len(f.Instances))
	for _, in := range f.Instances {
		c := *in
		out = append(out, &c)
	}
	return out, nil
}

// Offerings returns the catalogue.
func (f *CloudProvider) Offerings(_ context.Context, ng *v1alpha1.NodeGroup) ([]cloudprovider.Offering, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.record("Offerings", ng.Name); err != nil {
		return nil, err
	}
	return append([]cloudprovider.Offering(nil), f.Catalogue...), nil
}

// Name is "fake".
func (f *CloudProvider) Name() string { return "fake" }
