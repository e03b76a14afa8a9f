package nodegroup

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// Event reasons.
const (
	EventMinNodesCreated       = "MinNodesCreated"
	EventMinNodesDryRun        = "MinNodesDryRun"
	EventMinNodesBlocked       = "MinNodesBlocked"
	EventInvalidBudgetSchedule = "InvalidBudgetSchedule"
	// Offerings not resolving are reported under the condition's reason (NoMatchingOfferings,
	// CatalogUnavailable, InvalidRequirements).
	EventDeletingVPSieNode = "NodeGroupDeleted"
)

func minNodesCreated(r record.EventRecorder, ng *v1alpha1.NodeGroup, vn *v1alpha1.VPSieNode) {
	r.Eventf(ng, corev1.EventTypeNormal, EventMinNodesCreated, "created VPSieNode %s (offering %s) to keep minNodes %d", vn.Name, vn.Spec.OfferingName, ng.Spec.MinNodes)
}

func minNodesDryRun(r record.EventRecorder, ng *v1alpha1.NodeGroup, count int, offering string) {
	r.Eventf(ng, corev1.EventTypeNormal, EventMinNodesDryRun, "dry run: would create %d VPSieNode(s) of offering %s to keep minNodes %d", count, offering, ng.Spec.MinNodes)
}

func minNodesBlocked(r record.EventRecorder, ng *v1alpha1.NodeGroup, missing int, why string) {
	r.Eventf(ng, corev1.EventTypeWarning, EventMinNodesBlocked, "cannot create %d more node(s) to reach minNodes %d: %s", missing, ng.Spec.MinNodes, why)
}

func invalidBudgetSchedule(r record.EventRecorder, ng *v1alpha1.NodeGroup, message string) {
	r.Event(ng, corev1.EventTypeWarning, EventInvalidBudgetSchedule, message)
}

func offeringsNotResolved(r record.EventRecorder, ng *v1alpha1.NodeGroup, reason, message string) {
	r.Event(ng, corev1.EventTypeWarning, reason, message)
}

func deletingVPSieNode(r record.EventRecorder, vn *v1alpha1.VPSieNode) {
	r.Eventf(vn, corev1.EventTypeNormal, EventDeletingVPSieNode, "deleting, NodeGroup %s is gone or being deleted", vn.Spec.NodeGroup)
}
