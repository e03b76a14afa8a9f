package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeGroup describes where the autoscaler may get nodes from (a VPSie datacenter and the
// offerings allowed there), what those nodes look like (labels, taints) and how they may be
// disrupted (consolidation, budgets, expiry).
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=ng;ngs,categories=vpsie
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Min",type=integer,JSONPath=`.spec.minNodes`
// +kubebuilder:printcolumn:name="Max",type=integer,JSONPath=`.spec.maxNodes`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyNodes`
// +kubebuilder:printcolumn:name="Weight",type=integer,JSONPath=`.spec.weight`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NodeGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec NodeGroupSpec `json:"spec"`
	// +optional
	Status NodeGroupStatus `json:"status,omitempty"`
}

// NodeGroupSpec is the desired shape of a NodeGroup.
//
// +kubebuilder:validation:XValidation:rule="!has(self.minNodes) || self.minNodes <= self.maxNodes",message="spec.minNodes must be less than or equal to spec.maxNodes"
type NodeGroupSpec struct {
	// DatacenterID is the VPSie datacenter identifier nodes of this group are launched in; it
	// should be the datacenter of the cluster.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	DatacenterID string `json:"datacenterID"`

	// MinNodes is the number of nodes the group keeps even when they are empty.
	// +kubebuilder:default=0
	// +kubebuilder:validation:XValidation:rule="self >= 0",message="spec.minNodes must be greater than or equal to 0"
	// +optional
	MinNodes int32 `json:"minNodes,omitempty"`

	// MaxNodes caps the number of nodes (launching or running) of the group.
	// +kubebuilder:validation:XValidation:rule="self >= 1",message="spec.maxNodes must be greater than or equal to 1"
	MaxNodes int32 `json:"maxNodes"`

	// Requirements constrain the offerings the group may use, in node-selector style, on the
	// labels an offering is known by before a node exists (see RequirementKeys). All must hold.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Requirements []NodeSelectorRequirement `json:"requirements,omitempty"`

	// OfferingIDs, when set, is an allow-list of VPSie offering (size) ids.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y == x))",message="spec.offeringIDs must not contain duplicates"
	// +optional
	OfferingIDs []string `json:"offeringIDs,omitempty"`

	// MaxHourlyPrice, when set, excludes offerings whose hourly price (USD) is above it. A decimal
	// string such as "0.25", so the value round-trips exactly; parse it with ParseHourlyPrice.
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9]{1,9}([.][0-9]{1,9})?$') && self.matches('[1-9]')",message="spec.maxHourlyPrice must be a positive decimal number such as \"0.25\""
	// +optional
	MaxHourlyPrice string `json:"maxHourlyPrice,omitempty"`

	// Template is applied to every node of the group.
	// +optional
	Template NodeTemplate `json:"template,omitempty"`

	// Weight orders NodeGroups: a new node comes from the highest-weight group that can host the
	// pod; among equal weights the cheaper plan wins.
	// +kubebuilder:validation:XValidation:rule="self >= 0 && self <= 100",message="spec.weight must be between 0 and 100"
	// +optional
	Weight int32 `json:"weight,omitempty"`

	// Limits cap the total capacity (cpu, memory) of the group's nodes.
	// +kubebuilder:validation:MaxProperties=2
	// +kubebuilder:validation:XValidation:rule="self.all(k, k == 'cpu' || k == 'memory')",message="spec.limits may only contain cpu and memory"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !isQuantity(string(self[k])) || !quantity(string(self[k])).isLessThan(quantity('0')))",message="spec.limits must not be negative"
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty"`

	// Disruption says when and how fast nodes of the group may be voluntarily removed.
	// +kubebuilder:default={}
	// +optional
	Disruption Disruption `json:"disruption,omitempty"`

	// ExpireAfter is the age after which a node is replaced, or "Never".
	// +kubebuilder:default="Never"
	// +kubebuilder:validation:XValidation:rule="self == 'Never' || self.matches('^([0-9]+(s|m|h))+$')",message="spec.expireAfter must be a duration of whole hours, minutes and seconds (e.g. \"720h\" or \"1h30m\") or \"Never\""
	// +optional
	ExpireAfter NillableDuration `json:"expireAfter,omitempty"`
}

// NodeSelectorOperator is the operator of a NodeSelectorRequirement (the corev1 set).
// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist;Gt;Lt
type NodeSelectorOperator string

const (
	NodeSelectorOpIn           NodeSelectorOperator = "In"
	NodeSelectorOpNotIn        NodeSelectorOperator = "NotIn"
	NodeSelectorOpExists       NodeSelectorOperator = "Exists"
	NodeSelectorOpDoesNotExist NodeSelectorOperator = "DoesNotExist"
	NodeSelectorOpGt           NodeSelectorOperator = "Gt"
	NodeSelectorOpLt           NodeSelectorOperator = "Lt"
)

// NodeSelectorRequirement is a corev1.NodeSelectorRequirement restricted to the labels an
// offering has before a node exists. Its own type (not corev1's) so the CRD can validate it.
//
// +kubebuilder:validation:XValidation:rule="self.key in ['autoscaling.vpsie.com/offering', 'autoscaling.vpsie.com/category', 'autoscaling.vpsie.com/cpu', 'autoscaling.vpsie.com/memory-mib', 'node.kubernetes.io/instance-type', 'topology.kubernetes.io/zone', 'kubernetes.io/arch', 'kubernetes.io/os']",message="spec.requirements.key must be one of autoscaling.vpsie.com/offering, autoscaling.vpsie.com/category, autoscaling.vpsie.com/cpu, autoscaling.vpsie.com/memory-mib, node.kubernetes.io/instance-type, topology.kubernetes.io/zone, kubernetes.io/arch, kubernetes.io/os"
// +kubebuilder:validation:XValidation:rule="!(self.operator in ['In', 'NotIn']) || (has(self.values) && size(self.values) > 0)",message="spec.requirements.values must not be empty when operator is In or NotIn"
// +kubebuilder:validation:XValidation:rule="!(self.operator in ['Exists', 'DoesNotExist']) || !has(self.values) || size(self.values) == 0",message="spec.requirements.values must be empty when operator is Exists or DoesNotExist"
// +kubebuilder:validation:XValidation:rule="!(self.operator in ['Gt', 'Lt']) || (has(self.values) && size(self.values) == 1 && self.values[0].matches('^[0-9]{1,18}$'))",message="spec.requirements.values must hold exactly one non-negative integer when operator is Gt or Lt"
type NodeSelectorRequirement struct {
	// Key is the label key the requirement is about.
	// +kubebuilder:validation:MaxLength=63
	Key string `json:"key"`
	// Operator relates the key to the values.
	Operator NodeSelectorOperator `json:"operator"`
	// Values: one or more for In/NotIn, exactly one non-negative integer for Gt/Lt (the numeric
	// labels are counts), none for Exists/DoesNotExist.
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.all(v, v.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$'))",message="spec.requirements.values must be valid label values (alphanumerics, '-', '_', '.'; at most 63 characters)"
	// +optional
	Values []string `json:"values,omitempty"`
}

// NodeTemplate is what every node of a group gets.
//
// A Node may not carry two taints with the same key and effect, so the lists may not overlap.
// +kubebuilder:validation:XValidation:rule="!has(self.taints) || !has(self.startupTaints) || self.taints.all(t, !self.startupTaints.exists(s, s.key == t.key && s.effect == t.effect))",message="spec.template.taints and spec.template.startupTaints must not both hold a taint with the same key and effect"
type NodeTemplate struct {
	// Labels added to every node. Keys the autoscaler sets itself (autoscaling.vpsie.com/*,
	// kubernetes.io/hostname, node.kubernetes.io/instance-type, topology.kubernetes.io/zone,
	// kubernetes.io/arch, kubernetes.io/os) are rejected.
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(k) <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="spec.template.labels keys must be qualified names ([prefix/]name, name at most 63 alphanumerics, '-', '_', '.')"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 63)",message="spec.template.labels values must be at most 63 characters"
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('autoscaling.vpsie.com/') && !(k in ['kubernetes.io/hostname', 'node.kubernetes.io/instance-type', 'topology.kubernetes.io/zone', 'kubernetes.io/arch', 'kubernetes.io/os']))",message="spec.template.labels must not set labels the autoscaler owns (autoscaling.vpsie.com/*, kubernetes.io/hostname, node.kubernetes.io/instance-type, topology.kubernetes.io/zone, kubernetes.io/arch, kubernetes.io/os)"
	// +optional
	Labels map[string]string `json:"labels,omitempty"`

	// Taints put on every node for its whole life.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.exists_one(u, u.key == t.key && u.effect == t.effect))",message="spec.template.taints must not repeat a key with the same effect"
	// +optional
	Taints []Taint `json:"taints,omitempty"`

	// StartupTaints are expected on a new node until something (a CNI, a device plugin) removes
	// them; the autoscaler treats pods as schedulable despite them and waits for them to go before
	// calling the node initialized.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(t, self.exists_one(u, u.key == t.key && u.effect == t.effect))",message="spec.template.startupTaints must not repeat a key with the same effect"
	// +optional
	StartupTaints []Taint `json:"startupTaints,omitempty"`
}

// ConsolidationPolicy says which nodes consolidation may remove or replace.
// +kubebuilder:validation:Enum=WhenEmpty;WhenEmptyOrUnderutilized
type ConsolidationPolicy string

const (
	// ConsolidationPolicyWhenEmpty only removes nodes without (non-daemonset) pods.
	ConsolidationPolicyWhenEmpty ConsolidationPolicy = "WhenEmpty"
	// ConsolidationPolicyWhenEmptyOrUnderutilized also removes or replaces nodes whose pods fit
	// elsewhere or on a cheaper node.
	ConsolidationPolicyWhenEmptyOrUnderutilized ConsolidationPolicy = "WhenEmptyOrUnderutilized"
)

// Disruption controls voluntary disruption of a group's nodes.
type Disruption struct {
	// ConsolidationPolicy picks the nodes consolidation may act on.
	// +kubebuilder:default=WhenEmptyOrUnderutilized
	// +optional
	ConsolidationPolicy ConsolidationPolicy `json:"consolidationPolicy,omitempty"`

	// ConsolidateAfter is how long a node must have been a consolidation candidate (empty, or
	// underutilized) before it is acted on; "Never" disables consolidation for the group.
	// +kubebuilder:default="0s"
	// +kubebuilder:validation:XValidation:rule="self == 'Never' || self.matches('^([0-9]+(s|m|h))+$')",message="spec.disruption.consolidateAfter must be a duration of whole hours, minutes and seconds (e.g. \"30s\" or \"1h30m\") or \"Never\""
	// +optional
	ConsolidateAfter NillableDuration `json:"consolidateAfter,omitempty"`

	// Budgets cap how many of the group's nodes may be disrupted at once; when several budgets are
	// active the most restrictive wins. Defaults to one budget of 10%.
	// +kubebuilder:default={{nodes: "10%"}}
	// +kubebuilder:validation:MaxItems=50
	// +optional
	Budgets []Budget `json:"budgets,omitempty"`
}

// DisruptionReason is why a node is voluntarily disrupted.
// +kubebuilder:validation:Enum=Empty;Underutilized;Drifted;Expired
type DisruptionReason string

const (
	DisruptionReasonEmpty         DisruptionReason = "Empty"
	DisruptionReasonUnderutilized DisruptionReason = "Underutilized"
	DisruptionReasonDrifted       DisruptionReason = "Drifted"
	DisruptionReasonExpired       DisruptionReason = "Expired"
)

// Budget limits concurrent voluntary disruptions, optionally only during a cron-scheduled window
// and only for some reasons.
//
// +kubebuilder:validation:XValidation:rule="has(self.schedule) == has(self.duration)",message="spec.disruption.budgets.schedule and spec.disruption.budgets.duration must be set together"
type Budget struct {
	// Nodes is the number ("3") or percentage ("10%") of the group's nodes that may be disrupted
	// at the same time. Percentages round up (see AllowedDisruptions). "0" blocks disruption.
	// +kubebuilder:default="10%"
	// +kubebuilder:validation:MaxLength=11
	// +kubebuilder:validation:XValidation:rule="self.matches('^((100|[0-9]{1,2})%|[0-9]+)$')",message="spec.disruption.budgets.nodes must be a non-negative integer (\"3\") or a percentage from 0% to 100% (\"10%\")"
	// +optional
	Nodes string `json:"nodes,omitempty"`

	// Schedule is a cron expression (5 fields: minute hour day-of-month month day-of-week, or a
	// macro such as @daily), in UTC, at which the budget becomes active for Duration.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$') || self.matches('^[0-9A-Za-z*?/,-]+( +[0-9A-Za-z*?/,-]+){4}$')",message="spec.disruption.budgets.schedule must be a cron expression with 5 fields (e.g. \"0 9 * * 1-5\") or a macro such as @daily"
	// +optional
	Schedule *string `json:"schedule,omitempty"`

	// Duration is how long the budget stays active after each Schedule tick, e.g. "8h" or "1h30m".
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(s|m|h))+$')",message="spec.disruption.budgets.duration must be a duration of whole hours, minutes and seconds (e.g. \"8h\" or \"1h30m\")"
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`

	// Reasons restrict the budget to these disruption reasons; empty means all reasons.
	// +kubebuilder:validation:MaxItems=4
	// +listType=set
	// +optional
	Reasons []DisruptionReason `json:"reasons,omitempty"`
}

// NodeGroupStatus is the observed state of a NodeGroup.
type NodeGroupStatus struct {
	// Nodes is the number of VPSieNodes of the group that are not terminating.
	// +optional
	Nodes int32 `json:"nodes,omitempty"`
	// ReadyNodes is the number of those whose Node is Ready and initialized.
	// +optional
	ReadyNodes int32 `json:"readyNodes,omitempty"`
	// Resources is the total capacity of the group's nodes (compared against spec.limits).
	// +optional
	Resources corev1.ResourceList `json:"resources,omitempty"`
	// Conditions: Ready, OfferingsResolved, LimitsExceeded.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// ObservedGeneration is the spec generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// NodeGroupList is a list of NodeGroups.
//
// +kubebuilder:object:root=true
type NodeGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeGroup `json:"items"`
}
