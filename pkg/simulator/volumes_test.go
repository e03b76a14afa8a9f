package simulator

import (
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// A pod whose claim is bound to a volume in another zone cannot run on nodes of this
// datacenter: VolumeBinding (PV node affinity) says so.
func TestBoundVolumeZone(t *testing.T) {
	volume := func(zone string) (*corev1.PersistentVolumeClaim, *corev1.PersistentVolume) {
		pvc := &corev1.PersistentVolumeClaim{
			// A bound claim as the PV controller leaves it (the annotation is what counts).
			ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "default",
				Annotations: map[string]string{"pv.kubernetes.io/bind-completed": "yes"}},
			Spec: corev1.PersistentVolumeClaimSpec{
				VolumeName:  "pv-1",
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
			},
			Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound},
		}
		pv := &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pv-1", Labels: map[string]string{corev1.LabelTopologyZone: zone}},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:               corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")},
				AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				ClaimRef:               &corev1.ObjectReference{Namespace: "default", Name: "data"},
				PersistentVolumeSource: corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: "csi.example.com", VolumeHandle: "vol-1"}},
				NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
					MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{zone}}},
				}}}},
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
		}
		return pvc, pv
	}
	pod := testPod("db", "1", "1Gi")
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"},
	}}}
	for _, tc := range []struct {
		zone string
		fits bool
	}{{"dc-test", true}, {"dc-other", false}} {
		t.Run(tc.zone, func(t *testing.T) {
			g := NewWithT(t)
			pvc, pv := volume(tc.zone)
			plan := solveT(t, Input{
				NodeGroups:             []*v1alpha1.NodeGroup{testNodeGroup("general")},
				Offerings:              standardOfferings(),
				Pods:                   []*corev1.Pod{pod},
				PersistentVolumeClaims: []*corev1.PersistentVolumeClaim{pvc},
				PersistentVolumes:      []*corev1.PersistentVolume{pv},
			})
			if tc.fits {
				g.Expect(plan.Unschedulable).To(BeEmpty())
				g.Expect(plan.NewNodes).To(HaveLen(1))
			} else {
				g.Expect(plan.NewNodes).To(BeEmpty())
				g.Expect(plan.Unschedulable).To(HaveLen(1))
				g.Expect(plan.Unschedulable[0].Reasons[0]).To(ContainSubstring("VolumeBinding: node(s) didn't match PersistentVolume's node affinity"))
			}
		})
	}
}

func TestMissingClaimIsAReason(t *testing.T) {
	g := NewWithT(t)
	pod := testPod("db", "1", "1Gi")
	pod.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "missing"},
	}}}
	plan := solveT(t, Input{
		NodeGroups: []*v1alpha1.NodeGroup{testNodeGroup("general")},
		Offerings:  standardOfferings(),
		Pods:       []*corev1.Pod{pod},
	})
	g.Expect(plan.Unschedulable).To(HaveLen(1))
	g.Expect(plan.Unschedulable[0].Reasons[0]).To(ContainSubstring(`persistentvolumeclaim "missing" not found`))
}

func TestNewSchedulerRejectsUnknownVolumeObjects(t *testing.T) {
	g := NewWithT(t)
	_, err := NewScheduler(NewSnapshot(), &corev1.ConfigMap{})
	g.Expect(err).To(MatchError(ContainSubstring("unsupported volume object")))
}
