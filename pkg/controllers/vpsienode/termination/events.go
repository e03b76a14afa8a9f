package termination

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// Event reasons on the VPSieNode.
const (
	EventDraining        = v1alpha1.ReasonDraining
	EventEvictionBlocked = "EvictionBlocked"
	EventDoNotDisrupt    = "DoNotDisruptBlocked"
	EventInstanceDeleted = v1alpha1.ReasonInstanceDeleted
	EventDeleteFailed    = "InstanceDeleteFailed"
	EventNodeDeleted     = "NodeDeleted"
)

func draining(r record.EventRecorder, vn *v1alpha1.VPSieNode, node string) {
	r.Eventf(vn, corev1.EventTypeNormal, EventDraining, "Draining node %s", node)
}

func evictionBlocked(r record.EventRecorder, vn *v1alpha1.VPSieNode, pod *corev1.Pod, msg string) {
	r.Eventf(vn, corev1.EventTypeWarning, EventEvictionBlocked, "Evicting pod %s/%s is blocked by a PodDisruptionBudget, retrying: %s", pod.Namespace, pod.Name, msg)
}

func doNotDisrupt(r record.EventRecorder, vn *v1alpha1.VPSieNode, pod *corev1.Pod, until string) {
	r.Eventf(vn, corev1.EventTypeWarning, EventDoNotDisrupt, "Pod %s/%s has %s, not evicting it before %s", pod.Namespace, pod.Name, v1alpha1.AnnotationDoNotDisrupt, until)
}

func instanceDeleted(r record.EventRecorder, vn *v1alpha1.VPSieNode) {
	r.Eventf(vn, corev1.EventTypeNormal, EventInstanceDeleted, "Instance %s is deleted", instanceName(vn))
}

func deleteFailed(r record.EventRecorder, vn *v1alpha1.VPSieNode, err error) {
	r.Eventf(vn, corev1.EventTypeWarning, EventDeleteFailed, "Deleting instance %s failed, retrying: %s", instanceName(vn), truncate(err.Error()))
}

func nodeDeleted(r record.EventRecorder, vn *v1alpha1.VPSieNode, node string) {
	r.Eventf(vn, corev1.EventTypeNormal, EventNodeDeleted, "Node %s is being deleted, terminating its VPSieNode", node)
}

func instanceName(vn *v1alpha1.VPSieNode) string {
	if vn.Status.InstanceID == "" {
		return fmt.Sprintf("(requested, not attributed) of %s", vn.Name)
	}
	return vn.Status.InstanceID
}

func truncate(s string) string {
	const maxLen = 1024
	if len(s) > maxLen {
		return s[:maxLen-3] + "..."
	}
	return s
}
