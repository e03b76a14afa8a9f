package vpsie_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/vpsie"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
	vpsieapi "github.com/vpsie/vpsie-k8s-autoscaler/pkg/vpsie"
)

var _ = Describe("New", func() {
	It("validates its options with clear errors", func(ctx context.Context) {
		api, err := vpsieapi.New(vpsieapi.Options{BaseURL: "http://127.0.0.1:1", Token: token})
		Expect(err).NotTo(HaveOccurred())
		valid := vpsie.Options{Client: api, KubeClient: env.Client, ClusterID: emulator.DefaultClusterID}
		cp, err := vpsie.New(valid)
		Expect(err).NotTo(HaveOccurred())
		Expect(cp.Name()).To(Equal("vpsie"))

		for _, tc := range []struct {
			mutate func(*vpsie.Options)
			want   string
		}{
			{func(o *vpsie.Options) { o.Client = nil }, "VPSie API client is required"},
			{func(o *vpsie.Options) { o.KubeClient = nil }, "Kubernetes client is required"},
			{func(o *vpsie.Options) { o.ClusterID = " " }, "cluster identifier is required"},
			{func(o *vpsie.Options) { o.GroupNamePrefix = "Bad_Prefix" }, "group name prefix"},
			{func(o *vpsie.Options) { o.CatalogTTL = -time.Second }, "catalog TTL must not be negative"},
			{func(o *vpsie.Options) { o.AttributionWindow = 10 * time.Second }, "must be longer than the async wait"},
		} {
			o := valid
			tc.mutate(&o)
			_, err := vpsie.New(o)
			Expect(err).To(MatchError(ContainSubstring(tc.want)))
		}
	})
})

var _ = Describe("Delete", func() {
	It("deletes the worker, then answers NotFound", func(ctx context.Context) {
		h := newHarness(ctx, setup{})
		vn := newVPSieNode(ctx, "101")
		out, err := h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		persist(ctx, out)

		Expect(h.cp.Delete(ctx, out)).To(Succeed())
		Expect(h.srv.Workers()).To(BeEmpty())
		err = h.cp.Delete(ctx, out)
		Expect(cloudprovider.IsNotFound(err)).To(BeTrue(), "%v", err)
	})

	It("answers NotFound for a VPSieNode without an instance", func(ctx context.Context) {
		h := newHarness(ctx, setup{})
		err := h.cp.Delete(ctx, newVPSieNode(ctx, "101"))
		Expect(cloudprovider.IsNotFound(err)).To(BeTrue(), "%v", err)
		Expect(h.srv.Calls().Calls[emulator.CallDeleteWorker]).To(BeZero())
	})

	It("answers a plain error for a worker in transition", func(ctx context.Context) {
		h := newHarness(ctx, setup{emulator: func(c *emulator.Config) {
			c.Switches.BootDelay = emulator.Duration(time.Hour)
			c.Switches.DeleteProvisioningConflict = true
		}})
		out, err := h.cp.Create(ctx, newVPSieNode(ctx, "101"))
		Expect(err).NotTo(HaveOccurred())
		err = h.cp.Delete(ctx, out)
		Expect(err).To(HaveOccurred())
		Expect(cloudprovider.IsNotFound(err)).To(BeFalse())
		Expect(vpsieapi.IsConflict(err)).To(BeTrue(), "%v", err)
		Expect(h.srv.Workers()).To(HaveLen(1))
	})
})

var _ = Describe("Get and List", func() {
	It("report the workers of our node groups only", func(ctx context.Context) {
		h := newHarness(ctx, setup{})
		var launched []*v1alpha1.VPSieNode
		for _, offering := range []string{"101", "104"} {
			out, err := h.cp.Create(ctx, newVPSieNode(ctx, offering))
			Expect(err).NotTo(HaveOccurred())
			persist(ctx, out)
			launched = append(launched, out)
		}
		foreign, err := h.api.CreateNodeGroup(ctx, emulator.DefaultClusterID, "hand-made", 301)
		Expect(err).NotTo(HaveOccurred())
		_, err = h.api.AddWorker(ctx, emulator.DefaultClusterID, foreign.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.srv.Workers()).To(HaveLen(3))

		instances, err := h.cp.List(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(instances).To(HaveLen(2))
		byID := map[string]*cloudprovider.Instance{}
		for _, in := range instances {
			byID[in.ID] = in
		}
		for i, offering := range []string{"101", "104"} {
			in := byID[launched[i].Status.InstanceID]
			Expect(in).NotTo(BeNil())
			Expect(in.ProviderID).To(Equal(launched[i].Status.ProviderID))
			Expect(in.OfferingID).To(Equal(offering))
			Expect(in.Group).To(Equal([]string{"1", "2"}[i]))
			Expect(in.Hostname).To(Equal(launched[i].Status.Hostname))
			Expect(in.IP).To(Equal(launched[i].Status.IP))
			Expect(in.Status).To(BeElementOf(emulator.StatusProvisioning, emulator.StatusRunning))
			Expect(in.Created).NotTo(BeZero())
		}

		in, err := h.cp.Get(ctx, launched[1].Status.ProviderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(in.ID).To(Equal(launched[1].Status.InstanceID))
		for _, pid := range []string{"vpsie://no-such-worker", "aws:///i-123", ""} {
			_, err = h.cp.Get(ctx, pid)
			Expect(cloudprovider.IsNotFound(err)).To(BeTrue(), "%q: %v", pid, err)
		}
	})
})

var _ = Describe("Offerings", func() {
	It("maps the catalogue and caches it per datacenter for the TTL, serving it stale on errors", func(ctx context.Context) {
		fc := clocktesting.NewFakeClock(time.Now())
		h := newHarness(ctx, setup{provider: func(o *vpsie.Options) { o.Clock = fc; o.CatalogTTL = time.Minute }})
		ng := nodeGroup(emulator.DefaultDatacenter)
		offs, err := h.cp.Offerings(ctx, ng)
		Expect(err).NotTo(HaveOccurred())
		Expect(offs).To(HaveLen(3))
		Expect(offeringByID(offs, "101")).To(Equal(cloudprovider.Offering{
			ID: "101", Name: "s-1vcpu-1gb", Category: "standard", CPU: 1, MemoryMiB: 1024, DiskGB: 25,
			MonthlyPrice: 6, HourlyPrice: 0.00822, Available: true,
		}))
		Expect(offeringByID(offs, "104").HourlyPrice).To(BeNumerically("~", 24.0/730, 1e-12))
		offers := func() int { return h.srv.Calls().Calls[emulator.CallOffers] }
		Expect(offers()).To(Equal(1))

		fc.Step(59 * time.Second)
		_, err = h.cp.Offerings(ctx, ng)
		Expect(err).NotTo(HaveOccurred())
		Expect(offers()).To(Equal(1), "served from the cache")

		fc.Step(time.Second)
		_, err = h.cp.Offerings(ctx, ng)
		Expect(err).NotTo(HaveOccurred())
		Expect(offers()).To(Equal(2), "refreshed after the TTL")

		By("a failing refresh serves the stale catalogue")
		h.setSwitches(func(s *emulator.Switches) { s.ErrorRates = map[string]float64{emulator.CallOffers: 1} })
		fc.Step(time.Minute)
		offs, err = h.cp.Offerings(ctx, ng)
		Expect(err).NotTo(HaveOccurred())
		Expect(offs).To(HaveLen(3))
		Expect(offers()).To(Equal(3))

		By("without a cached catalogue the error is NodeGroupNotReady")
		_, err = h.cp.Offerings(ctx, nodeGroup("dc-elsewhere"))
		Expect(cloudprovider.IsNodeGroupNotReady(err)).To(BeTrue(), "%v", err)

		By("MarkUnavailable hides an offering for the unavailable TTL")
		h.setSwitches(func(s *emulator.Switches) { s.ErrorRates = nil })
		h.cp.MarkUnavailable("301")
		offs, err = h.cp.Offerings(ctx, ng)
		Expect(err).NotTo(HaveOccurred())
		Expect(offeringByID(offs, "301").Available).To(BeFalse())
		fc.Step(vpsie.DefaultUnavailableTTL)
		offs, err = h.cp.Offerings(ctx, ng)
		Expect(err).NotTo(HaveOccurred())
		Expect(offeringByID(offs, "301").Available).To(BeTrue())
	})
})
