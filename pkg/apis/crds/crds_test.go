package crds

import (
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
