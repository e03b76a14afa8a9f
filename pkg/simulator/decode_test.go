package simulator

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

func TestDecodeWorkloadMixedStream(t *testing.T) {
	g := NewWithT(t)
	in := `# a cluster dump
apiVersion: autoscaling.vpsie.com/v1alpha1
kind: NodeGroup
metadata:
  name: general
spec:
  datacenterID: dc-1
  maxNodes: 10
  requirements:
  - {key: autoscaling.vpsie.com/category, operator: In, values: [standard]}
---
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1","namespace":"default"},"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"1"}}}]}}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Node
  metadata: {name: n1}
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: ds, namespace: kube-system}
- apiVersion: policy/v1
  kind: PodDisruptionBudget
  metadata: {name: pdb, namespace: default}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm}
---
---
# only a comment
`
	w, err := DecodeWorkload(strings.NewReader(in))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(w.NodeGroups).To(HaveLen(1))
	g.Expect(w.NodeGroups[0].Spec.Requirements[0].Values).To(Equal([]string{"standard"}))
	g.Expect(w.Pods).To(HaveLen(1))
	g.Expect(w.Nodes).To(HaveLen(1))
	g.Expect(w.DaemonSets).To(HaveLen(1))
	g.Expect(w.PDBs).To(HaveLen(1))
	g.Expect(w.Warnings).To(ConsistOf("document 2 item 3: skipping unsupported kind v1/ConfigMap"))
}

func TestDecodeWorkloadErrors(t *testing.T) {
	cases := map[string]struct{ in, err string }{
		"malformed yaml":  {"kind: Pod\n---\nkind: [\n", "document 1"},
		"no kind":         {"apiVersion: v1\nmetadata: {name: x}\n", "document 0: no kind"},
		"wrong field":     {`{"kind":"Pod","spec":{"containers":"nope"}}`, "document 0 (Pod)"},
		"bad list item":   {"kind: List\nitems:\n- {kind: Node, spec: {taints: 3}}\n", "document 0 item 0 (Node)"},
		"malformed json":  {`{"kind": "Pod",`, "document 0"},
		"bad nodegroup":   {"kind: NodeGroup\nspec: {maxNodes: many}\n", "(NodeGroup)"},
		"bad daemonset":   {"kind: DaemonSet\nspec: {selector: 1}\n", "(DaemonSet)"},
		"bad disruption":  {"kind: PodDisruptionBudget\nspec: {minAvailable: [1]}\n", "(PodDisruptionBudget)"},
		"list not a list": {"kind: List\nitems: 3\n", "document 0"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			_, err := DecodeWorkload(strings.NewReader(tc.in))
			g.Expect(err).To(MatchError(ContainSubstring(tc.err)))
		})
	}
}

func TestLoadWorkloadMissingFile(t *testing.T) {
	g := NewWithT(t)
	_, err := LoadWorkload("/nonexistent/workload.yaml")
	g.Expect(err).To(MatchError(ContainSubstring("opening workload")))
}
