package cloudprovider

import (
	"fmt"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
)

// OfferingLabels are the labels an offering is known by before a node exists (NodeGroup
// requirements are matched against them) and that every node of it gets.
func OfferingLabels(o Offering, datacenter string) map[string]string {
	l := map[string]string{
		v1alpha1.LabelOffering:     o.ID,
		v1alpha1.LabelCategory:     o.Category,
		v1alpha1.LabelCPU:          strconv.FormatInt(o.CPU, 10),
		v1alpha1.LabelMemoryMiB:    strconv.FormatInt(o.MemoryMiB, 10),
		v1alpha1.LabelInstanceType: o.Name,
		v1alpha1.LabelArch:         "amd64",
		v1alpha1.LabelOS:           "linux",
	}
	if datacenter != "" {
		l[v1alpha1.LabelZone] = datacenter
		l[v1alpha1.LabelDatacenter] = datacenter
	}
	return l
}

// NodeLabels are the labels a node of the NodeGroup with this offering carries: the template's
// labels, the offering's, and the NodeGroup's name.
func NodeLabels(ng *v1alpha1.NodeGroup, o Offering) map[string]string {
	labels := map[string]string{}
	for k, v := range ng.Spec.Template.Labels {
		labels[k] = v
	}
	for k, v := range OfferingLabels(o, ng.Spec.DatacenterID) {
		labels[k] = v
	}
	labels[v1alpha1.LabelNodeGroup] = ng.Name
	return labels
}

// NewVPSieNode builds the VPSieNode that asks for one node of the NodeGroup with the offering:
// generated name (prefix ng.Name), the node labels as its own labels (registration copies them
// onto the Node), the template's taints, and the allocatable the simulator expects.
func NewVPSieNode(ng *v1alpha1.NodeGroup, o Offering, reservation scheduling.Reservation) *v1alpha1.VPSieNode {
	capacity := scheduling.Capacity(o.CPU, o.MemoryMiB, o.DiskGB, 0)
	allocatable := scheduling.Allocatable(capacity, reservation)
	return &v1alpha1.VPSieNode{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: fmt.Sprintf("%s-", ng.Name),
			Labels:       NodeLabels(ng, o),
			Finalizers:   []string{v1alpha1.TerminationFinalizer},
		},
		Spec: v1alpha1.VPSieNodeSpec{
			NodeGroup:     ng.Name,
			OfferingID:    o.ID,
			OfferingName:  o.Name,
			DatacenterID:  ng.Spec.DatacenterID,
			Taints:        ng.Spec.Template.Taints,
			StartupTaints: ng.Spec.Template.StartupTaints,
			Resources: corev1.ResourceList{
				corev1.ResourceCPU:    allocatable[corev1.ResourceCPU],
				corev1.ResourceMemory: allocatable[corev1.ResourceMemory],
				corev1.ResourcePods:   allocatable[corev1.ResourcePods],
			},
		},
	}
}
