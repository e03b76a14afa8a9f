package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
)

const nodeGroupDoc = `apiVersion: autoscaling.vpsie.com/v1alpha1
kind: NodeGroup
metadata:
  name: general
spec:
  datacenterID: dc-hel1
  maxNodes: 100
  requirements:
    - key: autoscaling.vpsie.com/category
      operator: In
      values: ["standard"]
`

func podDoc(name, cpu, mem string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: default
spec:
  containers:
    - name: main
      image: example/app:1
      resources:
        requests: {cpu: "%s", memory: %s}
`, name, cpu, mem)
}

func podJSON(name string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q,"namespace":"default"},`+
		`"spec":{"containers":[{"name":"main","image":"x","resources":{"requests":{"cpu":"500m","memory":"512Mi"}}}]}}`, name)
}

const nodeGroupJSON = `{"apiVersion":"autoscaling.vpsie.com/v1alpha1","kind":"NodeGroup","metadata":{"name":"general"},` +
	`"spec":{"datacenterID":"dc-hel1","maxNodes":100,"requirements":[{"key":"autoscaling.vpsie.com/category","operator":"In","values":["standard"]}]}}`

func TestInputFormats(t *testing.T) {
	cases := map[string]struct {
		content string
		pending int
	}{
		"multi-document yaml":          {content: nodeGroupDoc + "---\n" + podDoc("a", "1", "1Gi") + "---\n" + podDoc("b", "2", "2Gi"), pending: 2},
		"comments and empty documents": {content: "# dump\n---\n" + nodeGroupDoc + "---\n---\n" + podDoc("a", "1", "1Gi"), pending: 1},
		"kubectl list":                 {content: "apiVersion: v1\nkind: List\nitems:\n- " + indent(nodeGroupDoc) + "- " + indent(podDoc("a", "1", "1Gi")) + "- " + indent(podDoc("b", "1", "1Gi")), pending: 2},
		"concatenated json":            {content: nodeGroupJSON + "\n" + podJSON("a") + podJSON("b") + "\n" + podJSON("c"), pending: 3},
		"json array":                   {content: "[" + nodeGroupJSON + "," + podJSON("a") + "," + podJSON("b") + "]", pending: 2},
		"json list":                    {content: `{"apiVersion":"v1","kind":"List","items":[` + nodeGroupJSON + "," + podJSON("a") + "]}", pending: 1},
		"json separated by ---":        {content: nodeGroupJSON + "\n---\n" + podJSON("a") + "\n---\n" + podJSON("b"), pending: 2},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			s := planJSON(t, "--input", writeFile(t, "in.yaml", tc.content))
			g.Expect(s.Pending).To(Equal(tc.pending))
			g.Expect(s.OnNew).To(Equal(tc.pending))
		})
	}
}

// indent turns a YAML document into the body of a list item.
func indent(doc string) string {
	lines := strings.Split(strings.TrimRight(doc, "\n"), "\n")
	return strings.Join(lines, "\n  ") + "\n"
}

func TestUnknownKindsAreSkippedWithAWarning(t *testing.T) {
	g := NewWithT(t)
	in := writeFile(t, "in.yaml", nodeGroupDoc+"---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n"+podDoc("a", "1", "1Gi"))
	code, stdout, stderr := runCmd("plan", "--offerings", offeringsFile, "--input", in)
	g.Expect(code).To(Equal(exitOK), stderr)
	g.Expect(stderr).To(ContainSubstring("warning: " + in + ": document 1: skipping unsupported kind v1/ConfigMap"))
	g.Expect(stdout).To(ContainSubstring("Pods pending            1"))
}

func TestInputErrors(t *testing.T) {
	cases := map[string]struct {
		content string
		want    []string
	}{
		"malformed yaml": {
			content: nodeGroupDoc + "---\n" + podDoc("a", "1", "1Gi") + "---\nkind: Pod\nmetadata: [unclosed\n",
			want:    []string{"document 2"},
		},
		"wrong field type": {
			content: nodeGroupDoc + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: 3}\n",
			want:    []string{"document 1 (Pod)", "cannot unmarshal"},
		},
		"no kind": {
			content: podDoc("a", "1", "1Gi") + "---\nmetadata: {name: x}\n",
			want:    []string{"document 1: no kind"},
		},
		"broken json stream": {
			content: nodeGroupJSON + "\n" + podJSON("a") + "\n{\"kind\": \"Pod\",",
			want:    []string{"document 2"},
		},
		"bad quantity": {
			content: podDoc("a", "lots", "1Gi"),
			want:    []string{"document 0 (Pod)", "quantities must match"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			in := writeFile(t, "bad.yaml", tc.content)
			code, stdout, stderr := runCmd("plan", "--offerings", offeringsFile, "--input", in)
			g.Expect(code).To(Equal(exitInput))
			g.Expect(stdout).To(BeEmpty())
			g.Expect(stderr).To(HavePrefix("vpsie-sim: " + in + ": "))
			for _, w := range tc.want {
				g.Expect(stderr).To(ContainSubstring(w))
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	good := webExample
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	badOfferings := writeFile(t, "offerings.json", `[{"id": 1, "name": "x", "cpu": 0, "ram": 1024, "price": 5}]`)
	badGroup := writeFile(t, "group.yaml", strings.Replace(nodeGroupDoc, "operator: In", "operator: Sideways", 1)+"---\n"+podDoc("a", "1", "1Gi"))
	cases := map[string]struct {
		args   []string
		code   int
		stderr string
		stdout string
	}{
		"no arguments":      {args: nil, code: exitUsage, stderr: "usage: vpsie-sim plan"},
		"help":              {args: []string{"help"}, code: exitOK, stdout: "-fail-on-unschedulable"},
		"plan -h":           {args: []string{"plan", "-h"}, code: exitOK, stderr: "-offerings string"},
		"unknown command":   {args: []string{"apply"}, code: exitUsage, stderr: `unknown command "apply"`},
		"unknown flag":      {args: []string{"plan", "--input", good, "--colour"}, code: exitUsage, stderr: "flag provided but not defined: -colour"},
		"no input":          {args: []string{"plan", "--offerings", offeringsFile}, code: exitUsage, stderr: "no --input given"},
		"stray argument":    {args: []string{"plan", "--input", good, "extra.yaml"}, code: exitUsage, stderr: "unexpected arguments"},
		"bad output format": {args: []string{"plan", "--input", good, "--output", "xml"}, code: exitUsage, stderr: "--output must be text or json"},
		"missing input":     {args: []string{"plan", "--offerings", offeringsFile, "--input", missing}, code: exitInput, stderr: "no such file"},
		"missing offerings": {args: []string{"plan", "--offerings", missing, "--input", good}, code: exitInput, stderr: "reading offering catalogue"},
		"invalid offerings": {args: []string{"plan", "--offerings", badOfferings, "--input", good}, code: exitInput, stderr: "non-positive size"},
		"invalid nodegroup": {args: []string{"plan", "--offerings", offeringsFile, "--input", badGroup}, code: exitInput, stderr: "planning: nodegroup general"},
		"unwritable report": {args: []string{"plan", "--offerings", offeringsFile, "--input", good, "--report", filepath.Join(missing, "r.html")}, code: exitOutput, stderr: "writing report"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			code, stdout, stderr := runCmd(tc.args...)
			g.Expect(code).To(Equal(tc.code), stderr)
			g.Expect(stderr).To(ContainSubstring(tc.stderr))
			g.Expect(stdout).To(ContainSubstring(tc.stdout))
		})
	}
}
