package garbagecollection

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// Event reasons.
const (
	EventOrphanInstanceDeleted = "OrphanInstanceDeleted"
	EventInstanceGone          = "InstanceGone"
)

func orphanInstanceDeleted(r record.EventRecorder, node *corev1.Node, in *cloudprovider.Instance, unclaimedFor string) {
	r.Eventf(node, corev1.EventTypeWarning, EventOrphanInstanceDeleted, "deleted instance %s, no VPSieNode claimed it for %s", in.ID, unclaimedFor)
}

func instanceGone(r record.EventRecorder, vn *v1alpha1.VPSieNode) {
	r.Eventf(vn, corev1.EventTypeWarning, EventInstanceGone, "deleting, instance %s no longer exists", vn.Status.InstanceID)
}
