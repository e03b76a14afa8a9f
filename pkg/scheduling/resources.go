package scheduling

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Reservation is what the kubelet, the system daemons and the eviction threshold keep for
// themselves on a node; the rest of the capacity is allocatable to pods.
type Reservation struct {
	// CPU reserved on every node.
	CPU resource.Quantity
	// Memory reserved on every node, before MemoryPercent.
	Memory resource.Quantity
	// MemoryPercent of the node's memory capacity reserved in addition to Memory.
	MemoryPercent int64
	// EvictionMemory is the kubelet's hard eviction threshold (memory.available).
	EvictionMemory resource.Quantity
	// MaxPods is the kubelet's pod limit.
	MaxPods int64
}

// DefaultReservation is the reservation used unless configured otherwise: cpu 100m, memory
// 256Mi + 5% of capacity + 100Mi eviction threshold, 110 pods.
func DefaultReservation() Reservation {
	return Reservation{
		CPU:            resource.MustParse("100m"),
		Memory:         resource.MustParse("256Mi"),
		MemoryPercent:  5,
		EvictionMemory: resource.MustParse("100Mi"),
		MaxPods:        110,
	}
}

// Validate rejects negative reservations and a non-positive pod limit.
func (r Reservation) Validate() error {
	if r.CPU.Sign() < 0 || r.Memory.Sign() < 0 || r.EvictionMemory.Sign() < 0 {
		return fmt.Errorf("reservation must not be negative")
	}
	if r.MemoryPercent < 0 || r.MemoryPercent >= 100 {
		return fmt.Errorf("reservation memory percent must be in [0, 100), got %d", r.MemoryPercent)
	}
	if r.MaxPods <= 0 {
		return fmt.Errorf("reservation max pods must be positive, got %d", r.MaxPods)
	}
	return nil
}

// Capacity builds a node capacity from an offering's size; maxPods <= 0 leaves the pod count to
// the reservation.
func Capacity(cpuCores int64, memoryMiB int64, diskGB int64, maxPods int64) corev1.ResourceList {
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(cpuCores, resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memoryMiB*1024*1024, resource.BinarySI),
	}
	if maxPods > 0 {
		rl[corev1.ResourcePods] = *resource.NewQuantity(maxPods, resource.DecimalSI)
	}
	if diskGB > 0 {
		rl[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(diskGB*1000*1000*1000, resource.DecimalSI)
	}
	return rl
}

// Allocatable is capacity minus the reservation, floored at zero; pods are capped by MaxPods.
// Memory is rounded down to whole MiB so the numbers shown to users stay readable.
func Allocatable(capacity corev1.ResourceList, r Reservation) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range capacity {
		out[name] = q.DeepCopy()
	}
	if cpu, ok := capacity[corev1.ResourceCPU]; ok {
		milli := cpu.MilliValue() - r.CPU.MilliValue()
		out[corev1.ResourceCPU] = *resource.NewMilliQuantity(max(milli, 0), resource.DecimalSI)
	}
	if mem, ok := capacity[corev1.ResourceMemory]; ok {
		total := mem.Value()
		reserved := r.Memory.Value() + total*r.MemoryPercent/100 + r.EvictionMemory.Value()
		left := max(total-reserved, 0)
		left -= left % (1024 * 1024)
		out[corev1.ResourceMemory] = *resource.NewQuantity(left, resource.BinarySI)
	}
	pods := r.MaxPods
	if p, ok := capacity[corev1.ResourcePods]; ok && p.Value() < pods {
		pods = p.Value()
	}
	out[corev1.ResourcePods] = *resource.NewQuantity(pods, resource.DecimalSI)
	return out
}
