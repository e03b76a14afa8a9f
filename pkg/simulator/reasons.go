package simulator

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	fwk "k8s.io/kube-scheduler/framework"
)

// reasonFor explains why a pod cannot run on a template node of a NodeGroup: the framework's
// verdict, plus what it leaves unsaid (the scheduler's NodeAffinity and TaintToleration
// messages name neither the selector nor the taint).
func reasonFor(st *fwk.Status, pod *corev1.Pod, node *corev1.Node) string {
	msg := StatusError(st).Error()
	switch st.Plugin() {
	case "NodeAffinity":
		if want := nodeSelection(pod); want != "" {
			msg += "; pod requires " + want
		}
	case "TaintToleration":
		var taints []string
		for _, t := range node.Spec.Taints {
			taints = append(taints, t.ToString())
		}
		if len(taints) > 0 {
			msg += "; the group's nodes are tainted " + strings.Join(taints, ", ")
		}
	}
	return msg
}

// nodeSelection renders a pod's node selector and required node affinity, e.g.
// "nodeSelector workload=gpu; node affinity topology.kubernetes.io/zone In [a b]".
func nodeSelection(pod *corev1.Pod) string {
	var parts []string
	if len(pod.Spec.NodeSelector) > 0 {
		var kv []string
		for k, v := range pod.Spec.NodeSelector {
			kv = append(kv, k+"="+v)
		}
		slices.Sort(kv)
		parts = append(parts, "nodeSelector "+strings.Join(kv, ","))
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		var terms []string
		for _, t := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			var exprs []string
			for _, e := range t.MatchExpressions {
				exprs = append(exprs, requirementString(e))
			}
			for _, e := range t.MatchFields {
				exprs = append(exprs, "field "+requirementString(e))
			}
			terms = append(terms, strings.Join(exprs, " and "))
		}
		parts = append(parts, "node affinity "+strings.Join(terms, " or "))
	}
	return strings.Join(parts, "; ")
}

func requirementString(r corev1.NodeSelectorRequirement) string {
	switch r.Operator {
	case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
		return fmt.Sprintf("%s %s", r.Key, r.Operator)
	default:
		return fmt.Sprintf("%s %s %v", r.Key, r.Operator, r.Values)
	}
}
