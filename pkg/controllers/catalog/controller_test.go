package catalog_test

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	clientfake "sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/fake"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/controllers/catalog"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
)

// provider fails Offerings for the datacenters in failing and records the datacenters asked for.
type provider struct {
	*fake.CloudProvider
	failing map[string]error
	asked   []string
}

func (p *provider) Offerings(ctx context.Context, ng *v1alpha1.NodeGroup) ([]cloudprovider.Offering, error) {
	p.asked = append(p.asked, ng.Spec.DatacenterID)
	if err := p.failing[ng.Spec.DatacenterID]; err != nil {
		return nil, err
	}
	return p.CloudProvider.Offerings(ctx, ng)
}

func setup(t *testing.T, opts catalog.Options, ngs ...*v1alpha1.NodeGroup) (*catalog.Controller, *provider) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	objs := make([]client.Object, 0, len(ngs))
	for _, ng := range ngs {
		objs = append(objs, ng)
	}
	kube := clientfake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	p := &provider{CloudProvider: fake.New(), failing: map[string]error{}}
	return catalog.NewController(kube, p, clocktesting.NewFakeClock(time.Now()), opts), p
}

func nodeGroupIn(dc string) *v1alpha1.NodeGroup {
	return fixtures.NodeGroup(v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{DatacenterID: dc}})
}

func TestLoadsEveryDatacenterInUse(t *testing.T) {
	g := NewWithT(t)
	c, p := setup(t, catalog.Options{Datacenter: "dc-home"}, nodeGroupIn("dc-b"), nodeGroupIn("dc-home"), nodeGroupIn("dc-a"), nodeGroupIn("dc-b"))
	g.Expect(c.Loaded()).To(BeFalse())
	g.Expect(c.Ready()).To(MatchError("catalogue not loaded yet"))

	g.Expect(c.Reconcile(context.Background())).To(Succeed())
	g.Expect(p.asked).To(Equal([]string{"dc-home", "dc-a", "dc-b"}), "operator's first, each once")
	g.Expect(c.Loaded()).To(BeTrue())
	g.Expect(c.Ready()).To(Succeed())
}

func TestNotReadyUntilTheOperatorsDatacenterLoads(t *testing.T) {
	g := NewWithT(t)
	c, p := setup(t, catalog.Options{Datacenter: "dc-home"}, nodeGroupIn("dc-a"))
	p.failing["dc-home"] = errors.New("vpsie is down")

	g.Expect(c.Reconcile(context.Background())).To(MatchError(ContainSubstring("loading offerings of datacenter dc-home")))
	g.Expect(c.Loaded()).To(BeFalse(), "another datacenter loading is not enough")
	g.Expect(c.Ready()).To(MatchError(ContainSubstring("catalogue not loaded yet: loading offerings of datacenter dc-home, vpsie is down")))

	delete(p.failing, "dc-home")
	g.Expect(c.Reconcile(context.Background())).To(Succeed())
	g.Expect(c.Ready()).To(Succeed())

	// Once loaded, a later failure is reported but does not make the replica unready.
	p.failing["dc-home"] = errors.New("vpsie is down")
	g.Expect(c.Reconcile(context.Background())).NotTo(Succeed())
	g.Expect(c.Loaded()).To(BeTrue())
	g.Expect(c.Ready()).To(Succeed())
}

func TestAnotherDatacentersFailureDoesNotBlockReadiness(t *testing.T) {
	g := NewWithT(t)
	c, p := setup(t, catalog.Options{Datacenter: "dc-home"}, nodeGroupIn("dc-typo"))
	p.failing["dc-typo"] = errors.New("no such datacenter")
	g.Expect(c.Reconcile(context.Background())).To(MatchError(ContainSubstring("dc-typo")))
	g.Expect(c.Ready()).To(Succeed())
}

func TestWithoutAnOperatorDatacenter(t *testing.T) {
	g := NewWithT(t)
	c, p := setup(t, catalog.Options{})
	g.Expect(c.Reconcile(context.Background())).To(Succeed())
	g.Expect(p.asked).To(BeEmpty())
	g.Expect(c.Ready()).To(Succeed(), "nothing to load")

	c, p = setup(t, catalog.Options{}, nodeGroupIn("dc-a"))
	p.failing["dc-a"] = errors.New("boom")
	g.Expect(c.Reconcile(context.Background())).NotTo(Succeed())
	g.Expect(c.Ready()).To(MatchError(ContainSubstring("boom")))
}

func TestStartRefreshesEveryInterval(t *testing.T) {
	g := NewWithT(t)
	scheme := runtime.NewScheme()
	g.Expect(v1alpha1.AddToScheme(scheme)).To(Succeed())
	cp := fake.New()
	clk := clocktesting.NewFakeClock(time.Now())
	c := catalog.NewController(clientfake.NewClientBuilder().WithScheme(scheme).Build(), cp, clk, catalog.Options{Datacenter: "dc-home", Interval: time.Minute})
	g.Expect(c.NeedLeaderElection()).To(BeFalse())

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Start(ctx) }()
	g.Eventually(func() int { return cp.CallCount("Offerings") }).Should(Equal(1))
	g.Eventually(clk.HasWaiters).Should(BeTrue())
	clk.Step(time.Minute)
	g.Eventually(func() int { return cp.CallCount("Offerings") }).Should(Equal(2))
	cancel()
	g.Eventually(done).Should(Receive(BeNil()))
}
