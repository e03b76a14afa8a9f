package crds

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	. "github.com/onsi/gomega"
)

func TestCRDsDecodeBothKinds(t *testing.T) {
	g := NewWithT(t)
	list, err := CRDs()
	g.Expect(err).NotTo(HaveOccurred())
	kinds := map[string]string{}
	for _, crd := range list {
		kinds[crd.Spec.Names.Kind] = string(crd.Spec.Scope)
		g.Expect(crd.Spec.Group).To(Equal("autoscaling.vpsie.com"))
		g.Expect(crd.Spec.Versions).To(HaveLen(1))
		g.Expect(crd.Spec.Versions[0].Name).To(Equal("v1alpha1"))
		g.Expect(crd.Spec.Versions[0].Subresources).NotTo(BeNil())
		g.Expect(crd.Spec.Versions[0].Subresources.Status).NotTo(BeNil(), "%s has a status subresource", crd.Name)
	}
	g.Expect(kinds).To(Equal(map[string]string{"NodeGroup": "Cluster", "VPSieNode": "Cluster"}))
}

func TestDecodeRejectsUnknownFields(t *testing.T) {
	g := NewWithT(t)
	fsys := fstest.MapFS{"bad.yaml": {Data: []byte(strings.Join([]string{
		"apiVersion: apiextensions.k8s.io/v1",
		"kind: CustomResourceDefinition",
		"metadata: {name: things.example.com}",
		"spec: {group: example.com, notAField: true}",
	}, "\n"))}}
	_, err := decodeAll(fsys)
	g.Expect(err).To(MatchError(ContainSubstring("bad.yaml")))
	g.Expect(err).To(MatchError(ContainSubstring("notAField")))
}

func TestDecodeRejectsNonCRDAndEmpty(t *testing.T) {
	g := NewWithT(t)
	_, err := decodeAll(fstest.MapFS{"x.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")}})
	g.Expect(err).To(MatchError(ContainSubstring("not a named CustomResourceDefinition")))
	_, err = decodeAll(fstest.MapFS{"x.yaml": {Data: []byte("{not yaml")}})
	g.Expect(err).To(MatchError(ContainSubstring("decoding crd x.yaml")))
	_, err = decodeAll(fstest.MapFS{})
	g.Expect(err).To(MatchError(ContainSubstring("no crds embedded")))
}

// The chart installs copies of these files; a stale copy would ship an old schema.
func TestChartCopiesMatch(t *testing.T) {
	g := NewWithT(t)
	names, err := fs.Glob(files, "*.yaml")
	g.Expect(err).NotTo(HaveOccurred())
	chart := filepath.Join("..", "..", "..", "charts", "vpsie-autoscaler", "crds")
	copies, err := filepath.Glob(filepath.Join(chart, "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(copies).To(HaveLen(len(names)), "charts/vpsie-autoscaler/crds holds exactly the generated CRDs; run `make generate`")
	for _, name := range names {
		want, err := fs.ReadFile(files, name)
		g.Expect(err).NotTo(HaveOccurred())
		got, err := os.ReadFile(filepath.Join(chart, name))
		g.Expect(err).NotTo(HaveOccurred(), "chart copy of %s", name)
		g.Expect(string(got)).To(Equal(string(want)), "chart copy of %s is stale; run `make generate`", name)
	}
}

func TestPrinterColumns(t *testing.T) {
	g := NewWithT(t)
	list, err := CRDs()
	g.Expect(err).NotTo(HaveOccurred())
	columns := map[string][]string{}
	for _, crd := range list {
		for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
			if c.Priority == 0 {
				columns[crd.Spec.Names.Kind] = append(columns[crd.Spec.Names.Kind], c.Name)
			}
		}
	}
	g.Expect(columns["NodeGroup"]).To(Equal([]string{"Min", "Max", "Nodes", "Ready", "Weight", "Age"}))
	g.Expect(columns["VPSieNode"]).To(Equal([]string{"NodeGroup", "Offering", "Node", "Phase", "Price", "Age"}))
}
