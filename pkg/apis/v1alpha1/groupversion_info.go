// Package v1alpha1 holds the autoscaling.vpsie.com/v1alpha1 API: NodeGroup (where nodes may come
// from and how they may be disrupted) and VPSieNode (one requested or running VM).
//
// It imports apimachinery and core API types only, so every other package may depend on it.
//
// +kubebuilder:object:generate=true
// +groupName=autoscaling.vpsie.com
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is the API group of every kind in this package.
const Group = "autoscaling.vpsie.com"

var (
	// GroupVersion is the group and version used to register these objects.
	GroupVersion = schema.GroupVersion{Group: Group, Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(scheme *runtime.Scheme) error {
	scheme.AddKnownTypes(GroupVersion,
		&NodeGroup{}, &NodeGroupList{},
		&VPSieNode{}, &VPSieNodeList{},
	)
	metav1.AddToGroupVersion(scheme, GroupVersion)
	return nil
}
