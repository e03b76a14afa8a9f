package lifecycle

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// Event reasons on the VPSieNode. Failures use the condition reason of the error
// (cloudprovider.ErrorReason: OfferingUnavailable, InsufficientQuota, LaunchFailed) or
// RegistrationTimeout.
const (
	EventLaunched            = "Launched"
	EventRegistered          = "Registered"
	EventInitialized         = "Initialized"
	EventRegistrationTimeout = v1alpha1.ReasonRegistrationTimeout
	EventBatchReleased       = "BatchReleased"
)

func launched(r record.EventRecorder, vn *v1alpha1.VPSieNode) {
	r.Eventf(vn, corev1.EventTypeNormal, EventLaunched, "Launched instance %s (%s) for offering %s", vn.Status.InstanceID, vn.Status.ProviderID, vn.Spec.OfferingID)
}

func launchFailed(r record.EventRecorder, vn *v1alpha1.VPSieNode, reason string, err error) {
	r.Eventf(vn, corev1.EventTypeWarning, reason, "Launching offering %s failed: %s", vn.Spec.OfferingID, truncate(err.Error()))
}

func registered(r record.EventRecorder, vn *v1alpha1.VPSieNode, node *corev1.Node) {
	r.Eventf(vn, corev1.EventTypeNormal, EventRegistered, "Node %s registered", node.Name)
}

func initialized(r record.EventRecorder, vn *v1alpha1.VPSieNode, node *corev1.Node) {
	r.Eventf(vn, corev1.EventTypeNormal, EventInitialized, "Node %s is Ready and initialized", node.Name)
}

func registrationTimeout(r record.EventRecorder, vn *v1alpha1.VPSieNode, timeout string) {
	r.Eventf(vn, corev1.EventTypeWarning, EventRegistrationTimeout, "No Node registered for %s within %s, deleting", vn.Status.ProviderID, timeout)
}

// batchReleased is emitted on the VPSieNode whose reconcile released its batch; why says what
// ended the hold.
func batchReleased(r record.EventRecorder, vn *v1alpha1.VPSieNode, batch string, nodes int, why string) {
	r.Eventf(vn, corev1.EventTypeNormal, EventBatchReleased, "Released %d nodes of batch %s: %s", nodes, batch, why)
}

// truncate keeps event messages (and lastError) within what the API accepts.
func truncate(s string) string {
	const maxLen = 1024
	if len(s) > maxLen {
		return s[:maxLen-3] + "..."
	}
	return s
}
