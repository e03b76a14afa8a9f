package v1alpha1

import corev1 "k8s.io/api/core/v1"

// Taint is a node taint as in corev1.Taint, minus timeAdded. The API has its own type, rather than
// corev1.Taint, because the CRD must bound the lengths of key and value: without maxLength the
// apiserver's CEL cost estimator rejects any rule that inspects them. Convert with ToCore.
type Taint struct {
	// Key is a qualified name: an optional DNS-subdomain prefix and "/", then a name of at most 63
	// alphanumerics, '-', '_' or '.'.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:XValidation:rule="self.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$')",message="taint key must be a qualified name ([prefix/]name, name at most 63 alphanumerics, '-', '_', '.')"
	Key string `json:"key"`
	// Value is a label value: at most 63 alphanumerics, '-', '_' or '.', may be empty.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$')",message="taint value must be a valid label value (alphanumerics, '-', '_', '.', starting and ending with an alphanumeric)"
	// +optional
	Value string `json:"value,omitempty"`
	// Effect on pods that do not tolerate the taint.
	// +kubebuilder:validation:Enum=NoSchedule;PreferNoSchedule;NoExecute
	Effect corev1.TaintEffect `json:"effect"`
}

// ToCore returns the taint as a corev1.Taint.
func (t Taint) ToCore() corev1.Taint {
	return corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect}
}

// CoreTaints converts a list of taints to corev1 taints; nil stays nil.
func CoreTaints(ts []Taint) []corev1.Taint {
	if ts == nil {
		return nil
	}
	out := make([]corev1.Taint, len(ts))
	for i, t := range ts {
		out[i] = t.ToCore()
	}
	return out
}

// TaintFromCore drops timeAdded, which a template taint has no use for.
func TaintFromCore(t corev1.Taint) Taint {
	return Taint{Key: t.Key, Value: t.Value, Effect: t.Effect}
}
