package environment_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
)

var env *environment.Environment

func TestEnvironment(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Environment")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = environment.Start()
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	Expect(env.Stop()).To(Succeed())
})

var _ = Describe("Environment", func() {
	It("serves the project CRDs, established", func(ctx context.Context) {
		ext, err := apiextensionsclient.NewForConfig(env.Config)
		Expect(err).NotTo(HaveOccurred())
		for _, name := range []string{"nodegroups.autoscaling.vpsie.com", "vpsienodes.autoscaling.vpsie.com"} {
			crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
			Expect(err).NotTo(HaveOccurred(), name)
			Expect(crd.Status.Conditions).To(ContainElement(And(
				HaveField("Type", apiextensionsv1.Established),
				HaveField("Status", apiextensionsv1.ConditionTrue),
			)), name)
		}
	})

	It("gives clients that share one apiserver and know the project's types", func(ctx context.Context) {
		ng := &v1alpha1.NodeGroup{
			ObjectMeta: metav1.ObjectMeta{Name: "general"},
			Spec:       v1alpha1.NodeGroupSpec{DatacenterID: "dc-hel1", MaxNodes: 3},
		}
		Expect(env.Client.Create(ctx, ng)).To(Succeed())
		DeferCleanup(func(ctx context.Context) { Expect(env.Client.Delete(ctx, ng)).To(Succeed()) })
		Expect(ng.Spec.Disruption.ConsolidationPolicy).To(Equal(v1alpha1.ConsolidationPolicyWhenEmptyOrUnderutilized), "defaults come back from the apiserver")

		nodes, err := env.KubeClient.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(nodes.Items).To(BeEmpty())
	})
})
