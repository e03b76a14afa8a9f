package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VPSieNode is one requested or running VPSie VM: the provisioner creates it with the offering it
// chose, the lifecycle controller launches the VM and follows the Node that registers for it, and
// its termination finalizer drains the node and deletes the VM before the object goes away.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=vn;vns,categories=vpsie
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="NodeGroup",type=string,JSONPath=`.spec.nodeGroup`
// +kubebuilder:printcolumn:name="Offering",type=string,JSONPath=`.spec.offeringID`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Price",type=string,JSONPath=`.status.hourlyPrice`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="OfferingName",type=string,JSONPath=`.spec.offeringName`,priority=1
// +kubebuilder:printcolumn:name="ProviderID",type=string,JSONPath=`.status.providerID`,priority=1
type VPSieNode struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is fixed at creation: a different offering or group is a different VPSieNode.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: spec.nodeGroup, spec.offeringID, spec.datacenterID, spec.taints, spec.startupTaints and spec.resources cannot change after creation"
	Spec VPSieNodeSpec `json:"spec"`
	// +optional
	Status VPSieNodeStatus `json:"status,omitempty"`
}

// VPSieNodeSpec is what was asked for.
type VPSieNodeSpec struct {
	// NodeGroup is the name of the NodeGroup the node belongs to.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	NodeGroup string `json:"nodeGroup"`

	// OfferingID is the VPSie offering (size) id to launch, e.g. "105".
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	OfferingID string `json:"offeringID"`

	// OfferingName is the offering's human name (e.g. "s-4vcpu-8gb"), for display.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	OfferingName string `json:"offeringName,omitempty"`

	// DatacenterID is the VPSie datacenter the VM is launched in.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	DatacenterID string `json:"datacenterID"`

	// Taints the Node gets (copied from the NodeGroup template when created).
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.exists_one(u, u.key == t.key && u.effect == t.effect))",message="spec.taints must not repeat a key with the same effect"
	// +optional
	Taints []Taint `json:"taints,omitempty"`

	// StartupTaints expected on the Node until something else removes them.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.exists_one(u, u.key == t.key && u.effect == t.effect))",message="spec.startupTaints must not repeat a key with the same effect"
	// +optional
	StartupTaints []Taint `json:"startupTaints,omitempty"`

	// Resources is the allocatable capacity the simulator expected the node to have, so a
	// mismatch with status.allocatable is visible.
	// +kubebuilder:validation:MaxProperties=8
	// +kubebuilder:validation:XValidation:rule="self.all(k, !quantity(string(self[k])).isLessThan(quantity('0')))",message="spec.resources must not be negative"
	// +optional
	Resources corev1.ResourceList `json:"resources,omitempty"`
}

// VPSieNodePhase is a coarse summary of the conditions.
// +kubebuilder:validation:Enum=Pending;Launching;Registering;Ready;Terminating;Failed
type VPSieNodePhase string

const (
	// VPSieNodePending: created, VM not requested yet.
	VPSieNodePending VPSieNodePhase = "Pending"
	// VPSieNodeLaunching: VM requested, instance not known yet.
	VPSieNodeLaunching VPSieNodePhase = "Launching"
	// VPSieNodeRegistering: VM exists, waiting for its Node to join and become initialized.
	VPSieNodeRegistering VPSieNodePhase = "Registering"
	// VPSieNodeReady: Node registered, Ready and without startup taints.
	VPSieNodeReady VPSieNodePhase = "Ready"
	// VPSieNodeTerminating: deletion requested; draining and deleting the VM.
	VPSieNodeTerminating VPSieNodePhase = "Terminating"
	// VPSieNodeFailed: launch or registration failed for good; the object will be deleted.
	VPSieNodeFailed VPSieNodePhase = "Failed"
)

// VPSieNodeStatus is what was observed.
type VPSieNodeStatus struct {
	// +optional
	Phase VPSieNodePhase `json:"phase,omitempty"`
	// ProviderID is "vpsie://<identifier>", as on the Node.
	// +optional
	ProviderID string `json:"providerID,omitempty"`
	// InstanceID is the VPSie identifier of the VM or managed-Kubernetes worker.
	// +optional
	InstanceID string `json:"instanceID,omitempty"`
	// NodeName is the name of the Node that registered for this VM.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// Hostname given to the VM.
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// IP is the VM's private (or only) address.
	// +optional
	IP string `json:"ip,omitempty"`
	// Capacity of the Node (or of the offering until the Node registers).
	// +optional
	Capacity corev1.ResourceList `json:"capacity,omitempty"`
	// Allocatable of the Node (or the expected value until it registers).
	// +optional
	Allocatable corev1.ResourceList `json:"allocatable,omitempty"`
	// HourlyPrice in USD of the offering at launch, a decimal string such as "0.06575".
	// +optional
	HourlyPrice string `json:"hourlyPrice,omitempty"`
	// Conditions: Launched, Registered, Initialized, Consolidatable, Disrupting.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastError is the last launch or termination error, for humans.
	// +kubebuilder:validation:MaxLength=4096
	// +optional
	LastError string `json:"lastError,omitempty"`
	// LaunchAttempts counts calls to create the VM.
	// +optional
	LaunchAttempts int32 `json:"launchAttempts,omitempty"`
}

// VPSieNodeList is a list of VPSieNodes.
//
// +kubebuilder:object:root=true
type VPSieNodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VPSieNode `json:"items"`
}
