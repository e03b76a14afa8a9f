package scheduling

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestAllocatableDefaultReservation(t *testing.T) {
	g := NewWithT(t)
	// s-4vcpu-8gb: 4 cores, 8192 MiB.
	alloc := Allocatable(Capacity(4, 8192, 160, 0), DefaultReservation())
	cpu := alloc[corev1.ResourceCPU]
	g.Expect(cpu.MilliValue()).To(Equal(int64(3900)))
	// 8192 - 256 - 5% of 8192 (409.6 MiB) - 100 = 7426.4 MiB, rounded down to whole MiB.
	mem := alloc[corev1.ResourceMemory]
	g.Expect(mem.Value()).To(Equal(int64(7426) * 1024 * 1024))
	// A capacity without a pods entry gets the reservation's MaxPods.
	pods := alloc[corev1.ResourcePods]
	g.Expect(pods.Value()).To(Equal(int64(110)))
	disk := alloc[corev1.ResourceEphemeralStorage]
	g.Expect(disk.Value()).To(Equal(int64(160_000_000_000)))
}

func TestAllocatableFloorsAtZeroAndCapsPods(t *testing.T) {
	g := NewWithT(t)
	r := Reservation{CPU: resource.MustParse("2"), Memory: resource.MustParse("4Gi"), MaxPods: 50}
	alloc := Allocatable(Capacity(1, 1024, 0, 30), r)
	cpu := alloc[corev1.ResourceCPU]
	mem := alloc[corev1.ResourceMemory]
	pods := alloc[corev1.ResourcePods]
	g.Expect(cpu.IsZero()).To(BeTrue())
	g.Expect(mem.IsZero()).To(BeTrue())
	g.Expect(pods.Value()).To(Equal(int64(30)))
	_, hasDisk := alloc[corev1.ResourceEphemeralStorage]
	g.Expect(hasDisk).To(BeFalse())
}

func TestReservationValidate(t *testing.T) {
	g := NewWithT(t)
	g.Expect(DefaultReservation().Validate()).To(Succeed())
	bad := DefaultReservation()
	bad.MaxPods = 0
	g.Expect(bad.Validate()).To(MatchError(ContainSubstring("max pods")))
	bad = DefaultReservation()
	bad.MemoryPercent = 100
	g.Expect(bad.Validate()).To(MatchError(ContainSubstring("percent")))
	bad = DefaultReservation()
	bad.CPU = resource.MustParse("-1")
	g.Expect(bad.Validate()).To(MatchError(ContainSubstring("negative")))
}
