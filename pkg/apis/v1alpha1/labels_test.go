package v1alpha1_test

import (
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/crds"
	v1alpha1 "github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
)

func nodeGroupSpecSchema(g Gomega) apiextensionsv1.JSONSchemaProps {
	list, err := crds.CRDs()
	g.Expect(err).NotTo(HaveOccurred())
	for _, crd := range list {
		if crd.Spec.Names.Kind == "NodeGroup" {
			return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
		}
	}
	g.Expect("NodeGroup CRD").To(BeEmpty(), "the NodeGroup CRD is embedded")
	return apiextensionsv1.JSONSchemaProps{}
}

func ruleContaining(g Gomega, rules apiextensionsv1.ValidationRules, fragment string) string {
	for _, r := range rules {
		if strings.Contains(r.Rule, fragment) {
			return r.Rule
		}
	}
	g.Expect(rules).To(BeEmpty(), "no rule contains %q", fragment)
	return ""
}

// RequirementKeys is what other packages read; the CRD rule is what the apiserver enforces. They
// must list the same keys.
func TestRequirementKeysMatchTheCRDRule(t *testing.T) {
	g := NewWithT(t)
	spec := nodeGroupSpecSchema(g)
	rule := ruleContaining(g, spec.Properties["requirements"].Items.Schema.XValidations, "self.key in")
	for _, k := range v1alpha1.RequirementKeys {
		g.Expect(rule).To(ContainSubstring("'"+k+"'"), "the CRD allows requirement key %s", k)
	}
	g.Expect(strings.Count(rule, "'")/2).To(Equal(len(v1alpha1.RequirementKeys)), "the CRD allows no other key")
}

// Every label the autoscaler sets itself is refused in a NodeGroup template.
func TestTemplateLabelRuleCoversWellKnownLabels(t *testing.T) {
	g := NewWithT(t)
	spec := nodeGroupSpecSchema(g)
	rule := ruleContaining(g, spec.Properties["template"].Properties["labels"].XValidations, "startsWith")
	g.Expect(rule).To(ContainSubstring("'" + v1alpha1.Group + "/'"))
	for _, k := range v1alpha1.WellKnownLabels {
		if strings.HasPrefix(k, v1alpha1.Group+"/") {
			continue
		}
		g.Expect(rule).To(ContainSubstring("'"+k+"'"), "the template may not set %s", k)
	}
}

func TestKeysLiveInOurGroup(t *testing.T) {
	g := NewWithT(t)
	for _, k := range []string{
		v1alpha1.LabelNodeGroup, v1alpha1.LabelOffering, v1alpha1.LabelCategory, v1alpha1.LabelCPU,
		v1alpha1.LabelMemoryMiB, v1alpha1.LabelDatacenter, v1alpha1.LabelVPSieNode, v1alpha1.LabelBatch,
		v1alpha1.LabelRegistered, v1alpha1.LabelInitialized,
		v1alpha1.AnnotationDoNotDisrupt, v1alpha1.AnnotationWorkerRequested, v1alpha1.AnnotationWorkerGroup,
		v1alpha1.AnnotationBatchHeldSince,
		v1alpha1.TaintKeyDisrupted, v1alpha1.TaintKeyBatchPending, v1alpha1.TerminationFinalizer,
	} {
		g.Expect(k).To(HavePrefix("autoscaling.vpsie.com/"))
	}
	g.Expect(v1alpha1.TerminationFinalizer).To(Equal("autoscaling.vpsie.com/termination"))
	g.Expect(v1alpha1.AnnotationDoNotDisrupt).To(Equal("autoscaling.vpsie.com/do-not-disrupt"))
	g.Expect(v1alpha1.TaintKeyBatchPending).To(Equal("autoscaling.vpsie.com/batch-pending"))
	g.Expect(v1alpha1.LabelBatch).To(Equal("autoscaling.vpsie.com/batch"))
}
