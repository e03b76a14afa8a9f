package environment_test

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
)

func TestNewStartsAnAPIServerWithTheProjectCRDs(t *testing.T) {
	g := NewWithT(t)
	env := environment.New(t)
	ctx := context.Background()

	ext, err := apiextensionsclient.NewForConfig(env.Config)
	g.Expect(err).NotTo(HaveOccurred())
	for _, name := range []string{"nodegroups.autoscaling.vpsie.com", "vpsienodes.autoscaling.vpsie.com"} {
		crd, err := ext.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, name, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred(), name)
		g.Expect(crd.Status.Conditions).To(ContainElement(And(
			HaveField("Type", apiextensionsv1.Established),
			HaveField("Status", apiextensionsv1.ConditionTrue),
		)), name)
	}

	// both clients talk to the same apiserver and know the project's types
	ng := &v1alpha1.NodeGroup{
		ObjectMeta: metav1.ObjectMeta{Name: "general"},
		Spec:       v1alpha1.NodeGroupSpec{DatacenterID: "dc-hel1", MaxNodes: 3},
	}
	g.Expect(env.Client.Create(ctx, ng)).To(Succeed())
	nodes, err := env.KubeClient.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(nodes.Items).To(BeEmpty())
}
