package emptiness

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

// EventRemovingEmptyNode (Normal, on the VPSieNode and its NodeGroup): the VPSieNode is deleted
// because its Node has been empty for the group's consolidateAfter.
const EventRemovingEmptyNode = "RemovingEmptyNode"

// EventRemovingEmptyNodeDryRun (Normal, on the VPSieNode and its NodeGroup): with --dry-run,
// the node would have been removed; once per stretch of emptiness.
const EventRemovingEmptyNodeDryRun = "RemovingEmptyNodeDryRun"

func removingEmptyNode(r record.EventRecorder, vn *v1alpha1.VPSieNode, ng *v1alpha1.NodeGroup, node string, emptyFor time.Duration) {
	d := emptyFor.Round(time.Second).String()
	r.Eventf(vn, corev1.EventTypeNormal, EventRemovingEmptyNode, "removing empty node %s, empty for %s", node, d)
	r.Eventf(ng, corev1.EventTypeNormal, EventRemovingEmptyNode, "removing empty node %s (VPSieNode %s), empty for %s", node, vn.Name, d)
}

func removingEmptyNodeDryRun(r record.EventRecorder, vn *v1alpha1.VPSieNode, ng *v1alpha1.NodeGroup, node string, emptyFor time.Duration) {
	d := emptyFor.Round(time.Second).String()
	r.Eventf(vn, corev1.EventTypeNormal, EventRemovingEmptyNodeDryRun, "dry run: would remove empty node %s, empty for %s", node, d)
	r.Eventf(ng, corev1.EventTypeNormal, EventRemovingEmptyNodeDryRun, "dry run: would remove empty node %s (VPSieNode %s), empty for %s", node, vn.Name, d)
}
