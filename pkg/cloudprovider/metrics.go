package cloudprovider

import (
	"context"
	"time"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
)

// WithMetrics decorates a CloudProvider so every call records its duration and, on failure,
// the kind of error (vpsie_autoscaler_cloudprovider_*).
func WithMetrics(cp CloudProvider) CloudProvider { return &metricsDecorator{cp: cp} }

type metricsDecorator struct{ cp CloudProvider }

func (m *metricsDecorator) observe(method string, start time.Time, err error) {
	metrics.CloudProviderDuration.WithLabelValues(m.cp.Name(), method).Observe(time.Since(start).Seconds())
	if err != nil {
		metrics.CloudProviderErrors.WithLabelValues(m.cp.Name(), method, ErrorKind(err)).Inc()
	}
}

// ErrorKind is a short, bounded name for the kind of err (a metric label value).
func ErrorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case IsNotFound(err):
		return "not_found"
	case IsInsufficientCapacity(err):
		return "insufficient_capacity"
	case IsNodeGroupNotReady(err):
		return "nodegroup_not_ready"
	case IsLaunchPending(err):
		return "launch_pending"
	default:
		return "other"
	}
}

func (m *metricsDecorator) Create(ctx context.Context, vn *v1alpha1.VPSieNode) (out *v1alpha1.VPSieNode, err error) {
	start := time.Now()
	defer func() { m.observe("Create", start, err) }()
	return m.cp.Create(ctx, vn)
}

func (m *metricsDecorator) Delete(ctx context.Context, vn *v1alpha1.VPSieNode) (err error) {
	start := time.Now()
	defer func() { m.observe("Delete", start, err) }()
	return m.cp.Delete(ctx, vn)
}

func (m *metricsDecorator) Get(ctx context.Context, providerID string) (out *Instance, err error) {
	start := time.Now()
	defer func() { m.observe("Get", start, err) }()
	return m.cp.Get(ctx, providerID)
}

func (m *metricsDecorator) List(ctx context.Context) (out []*Instance, err error) {
	start := time.Now()
	defer func() { m.observe("List", start, err) }()
	return m.cp.List(ctx)
}

func (m *metricsDecorator) Offerings(ctx context.Context, ng *v1alpha1.NodeGroup) (out []Offering, err error) {
	start := time.Now()
	defer func() { m.observe("Offerings", start, err) }()
	return m.cp.Offerings(ctx, ng)
}

func (m *metricsDecorator) Name() string { return m.cp.Name() }
