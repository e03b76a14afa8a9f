package vpsie_test

import (
	"context"
	"net/http"
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

func expectLaunchPending(err error) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	Expect(cloudprovider.IsLaunchPending(err)).To(BeTrue(), "%v", err)
}

var _ = Describe("Create", func() {
	It("adds a worker synchronously and describes it, creating the node group once", func(ctx context.Context) {
		h := newHarness(ctx, setup{})
		vn := newVPSieNode(ctx, "101")
		out, err := h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred())

		workers := h.srv.Workers()
		Expect(workers).To(HaveLen(1))
		Expect(out.Status.InstanceID).To(Equal(workers[0].Identifier))
		Expect(out.Status.ProviderID).To(Equal("vpsie://" + workers[0].Identifier))
		Expect(out.Status.Hostname).To(Equal(workers[0].Hostname))
		Expect(out.Status.IP).NotTo(BeEmpty())
		Expect(out.Status.HourlyPrice).To(Equal("0.00822"))
		Expect(out.Status.Capacity.Cpu().Value()).To(Equal(int64(1)))
		Expect(out.Status.Capacity.Memory().Value()).To(Equal(int64(1024 * 1024 * 1024)))
		Expect(out.Status.Allocatable.Cpu().MilliValue()).To(Equal(int64(900)))
		Expect(out.Status.Allocatable.Pods().Value()).To(Equal(int64(110)))
		Expect(vn.Status.InstanceID).To(BeEmpty(), "the argument is not changed")

		stored := refetch(ctx, vn)
		Expect(stored.Annotations).To(HaveKeyWithValue(v1alpha1.AnnotationWorkerGroup, "1"))
		Expect(stored.Annotations).To(HaveKey(v1alpha1.AnnotationWorkerRequested))
		Expect(stored.Status.InstanceID).To(BeEmpty(), "the provider does not write the status")

		persist(ctx, out)
		out2, err := h.cp.Create(ctx, newVPSieNode(ctx, "101"))
		Expect(err).NotTo(HaveOccurred())
		Expect(out2.Status.InstanceID).NotTo(Equal(out.Status.InstanceID))
		groups := h.srv.Groups()
		Expect(groups).To(HaveLen(1))
		Expect(groups[0].Name).To(Equal("vpsie-autoscaler-s-1vcpu-1gb"))
		Expect(groups[0].SizeID).To(Equal(101))
		Expect(h.srv.Calls().Calls[emulator.CallCreateGroup]).To(Equal(1))

		By("a stale copy of a launched VPSieNode gets the same worker back")
		again, err := h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Status.InstanceID).To(Equal(out.Status.InstanceID))
		Expect(h.addWorkerCalls()).To(Equal(2))
	})

	It("finds the node group after a restart instead of creating it again", func(ctx context.Context) {
		h := newHarness(ctx, setup{})
		out, err := h.cp.Create(ctx, newVPSieNode(ctx, "104"))
		Expect(err).NotTo(HaveOccurred())
		persist(ctx, out)
		h.restart()
		_, err = h.cp.Create(ctx, newVPSieNode(ctx, "104"))
		Expect(err).NotTo(HaveOccurred())
		Expect(h.srv.Calls().Calls[emulator.CallCreateGroup]).To(Equal(1))
		Expect(h.srv.Workers()).To(HaveLen(2))
	})

	It("attributes an asynchronously built worker by diffing the group's worker list", func(ctx context.Context) {
		h := newHarness(ctx, setup{emulator: func(c *emulator.Config) {
			c.Switches.AddWorkerMode = emulator.AddWorkerAsync
			c.Switches.AsyncListDelay = emulator.Duration(300 * time.Millisecond)
		}})
		first, err := h.cp.Create(ctx, newVPSieNode(ctx, "101"))
		Expect(err).NotTo(HaveOccurred(), "the worker appears within AsyncWait")
		Expect(first.Status.InstanceID).To(Equal(h.srv.Workers()[0].Identifier))
		persist(ctx, first)

		By("a worker that takes longer than AsyncWait is adopted by a later call")
		h.setSwitches(func(s *emulator.Switches) { s.AsyncListDelay = emulator.Duration(time.Second) })
		h.opts.AsyncWait = 100 * time.Millisecond
		h.restart()
		vn := newVPSieNode(ctx, "101")
		_, err = h.cp.Create(ctx, vn)
		expectLaunchPending(err)
		var out *v1alpha1.VPSieNode
		Eventually(func(g Gomega) {
			out, err = h.cp.Create(ctx, vn)
			g.Expect(err).NotTo(HaveOccurred())
		}).WithTimeout(10 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
		Expect(h.addWorkerCalls()).To(Equal(2), "waiting never asks twice")
		Expect(h.workerIDs()).To(ConsistOf(first.Status.InstanceID, out.Status.InstanceID))
	})

	It("never asks twice after a lost 5xx answer and adopts the worker VPSie built", func(ctx context.Context) {
		fault := &addWorkerFault{}
		h := newHarness(ctx, setup{wrap: func(next http.Handler) http.Handler { fault.next = next; return fault }})
		fault.mode.Store(faultLost500)
		vn := newVPSieNode(ctx, "101")
		_, err := h.cp.Create(ctx, vn)
		expectLaunchPending(err)
		Expect(h.srv.Workers()).To(HaveLen(1), "VPSie built the worker even though the answer was an error")
		fault.mode.Store(faultNone)

		out, err := h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(out.Status.InstanceID).To(Equal(h.srv.Workers()[0].Identifier))
		Expect(h.addWorkerCalls()).To(Equal(1))
	})

	It("waits out the attribution window after a 5xx that built nothing, then asks again", func(ctx context.Context) {
		fc := clocktesting.NewFakeClock(time.Now())
		h := newHarness(ctx, setup{
			emulator: func(c *emulator.Config) { c.Switches.ErrorRates = map[string]float64{emulator.CallAddWorker: 1} },
			provider: func(o *vpsie.Options) { o.Clock = fc },
		})
		vn := newVPSieNode(ctx, "101")
		_, err := h.cp.Create(ctx, vn)
		expectLaunchPending(err)
		h.setSwitches(func(s *emulator.Switches) { s.ErrorRates = nil })

		By("a restarted provider waits for the worker the request may have built")
		h.restart()
		_, err = h.cp.Create(ctx, vn)
		expectLaunchPending(err)
		fc.Step(vpsie.DefaultAttributionWindow - time.Minute)
		_, err = h.cp.Create(ctx, vn)
		expectLaunchPending(err)
		Expect(h.addWorkerCalls()).To(Equal(1))
		Expect(h.srv.Workers()).To(BeEmpty())

		fc.Step(time.Minute)
		out, err := h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.addWorkerCalls()).To(Equal(2))
		Expect(h.workerIDs()).To(ConsistOf(out.Status.InstanceID))
	})

	It("never retries an add-worker that timed out and adopts the worker later", func(ctx context.Context) {
		fault := &addWorkerFault{delay: 2 * time.Second}
		h := newHarness(ctx, setup{
			wrap:   func(next http.Handler) http.Handler { fault.next = next; return fault },
			client: func(o *vpsieapi.Options) { o.Timeout = 300 * time.Millisecond; o.MaxRetries = 3 },
		})
		fault.mode.Store(faultSlow)
		vn := newVPSieNode(ctx, "104")
		_, err := h.cp.Create(ctx, vn)
		expectLaunchPending(err)
		Expect(h.addWorkerCalls()).To(Equal(1), "a non-idempotent call is never retried blindly")

		out, err := h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.workerIDs()).To(ConsistOf(out.Status.InstanceID))
		Expect(h.addWorkerCalls()).To(Equal(1))
	})

	It("does not ask again while an add that hit the latency switch may still build a worker", func(ctx context.Context) {
		fc := clocktesting.NewFakeClock(time.Now())
		h := newHarness(ctx, setup{
			emulator: func(c *emulator.Config) {
				c.Switches.Latencies = map[string]emulator.Duration{emulator.CallAddWorker: emulator.Duration(time.Second)}
			},
			client:   func(o *vpsieapi.Options) { o.Timeout = 300 * time.Millisecond; o.MaxRetries = 3 },
			provider: func(o *vpsie.Options) { o.Clock = fc },
		})
		vn := newVPSieNode(ctx, "104")
		_, err := h.cp.Create(ctx, vn)
		expectLaunchPending(err)
		h.setSwitches(func(s *emulator.Switches) { s.Latencies = nil })
		_, err = h.cp.Create(ctx, vn)
		expectLaunchPending(err)
		Expect(h.addWorkerCalls()).To(Equal(1))

		// The emulator drops a request its client gave up on before acting, so no worker ever
		// comes: after the window the VPSieNode asks again, and ends with exactly one worker.
		Consistently(h.srv.Workers).WithTimeout(1500 * time.Millisecond).Should(BeEmpty())
		fc.Step(vpsie.DefaultAttributionWindow)
		out, err := h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.workerIDs()).To(ConsistOf(out.Status.InstanceID))
		Expect(h.addWorkerCalls()).To(Equal(2))
	})

	It("waits for a short Retry-After on 429 (the client retries add-worker after a 429)", func(ctx context.Context) {
		// Every listing is fresh, so the second launch lists (the one call the limit lets
		// through) before it adds.
		h := newHarness(ctx, setup{client: func(o *vpsieapi.Options) { o.MaxRetries = 3 }, provider: freshListings})
		// The first launch creates the group and caches the catalogue, so the next one makes
		// only the calls the rate limit is about.
		out, err := h.cp.Create(ctx, newVPSieNode(ctx, "101"))
		Expect(err).NotTo(HaveOccurred())
		persist(ctx, out)

		h.setSwitches(func(s *emulator.Switches) {
			s.RateLimit = 1
			s.RateLimitWindow = emulator.Duration(time.Second)
		})
		_, err = h.cp.Create(ctx, newVPSieNode(ctx, "101"))
		Expect(err).NotTo(HaveOccurred())
		Expect(h.srv.Calls().Statuses[emulator.CallAddWorker]).To(HaveKey(http.StatusTooManyRequests))
		Expect(h.srv.Workers()).To(HaveLen(2))
	})

	It("surfaces a 429 the client does not wait out and withdraws the request", func(ctx context.Context) {
		h := newHarness(ctx, setup{client: func(o *vpsieapi.Options) { o.MaxRetries = 3; o.MaxRetryAfter = 100 * time.Millisecond }, provider: freshListings})
		out, err := h.cp.Create(ctx, newVPSieNode(ctx, "101"))
		Expect(err).NotTo(HaveOccurred())
		persist(ctx, out)
		// One call a minute: GetCluster passes, add-worker gets Retry-After ~60s.
		h.setSwitches(func(s *emulator.Switches) { s.RateLimit = 1 })
		vn := newVPSieNode(ctx, "101")
		_, err = h.cp.Create(ctx, vn)
		Expect(vpsieapi.IsRateLimited(err)).To(BeTrue(), "%v", err)
		Expect(cloudprovider.IsLaunchPending(err)).To(BeFalse())
		Expect(refetch(ctx, vn).Annotations).NotTo(HaveKey(v1alpha1.AnnotationWorkerRequested), "a 429 built nothing")
		Expect(h.srv.Workers()).To(HaveLen(1))

		h.setSwitches(func(s *emulator.Switches) { s.RateLimit = 0 })
		_, err = h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred(), "the VPSieNode asks again at once")
		Expect(h.srv.Workers()).To(HaveLen(2))
	})

	It("maps a quota refusal onto InsufficientCapacity(quota) and marks the offering unavailable", func(ctx context.Context) {
		h := newHarness(ctx, setup{emulator: func(c *emulator.Config) { c.Switches.MaxWorkers = 1 }})
		out, err := h.cp.Create(ctx, newVPSieNode(ctx, "101"))
		Expect(err).NotTo(HaveOccurred())
		persist(ctx, out)

		vn := newVPSieNode(ctx, "101")
		_, err = h.cp.Create(ctx, vn)
		ice, ok := cloudprovider.AsInsufficientCapacity(err)
		Expect(ok).To(BeTrue(), "%v", err)
		Expect(ice.Quota).To(BeTrue())
		Expect(ice.OfferingID).To(Equal("101"))
		Expect(cloudprovider.ErrorReason(err)).To(Equal(v1alpha1.ReasonInsufficientQuota))
		Expect(refetch(ctx, vn).Annotations).NotTo(HaveKey(v1alpha1.AnnotationWorkerRequested), "nothing was built: the request is withdrawn")

		offs, err := h.cp.Offerings(ctx, nodeGroup(emulator.DefaultDatacenter))
		Expect(err).NotTo(HaveOccurred())
		Expect(offeringByID(offs, "101").Available).To(BeFalse())
		Expect(offeringByID(offs, "104").Available).To(BeTrue())
	})

	It("maps a size without capacity onto InsufficientCapacity and keeps it unavailable for the TTL", func(ctx context.Context) {
		fc := clocktesting.NewFakeClock(time.Now())
		h := newHarness(ctx, setup{
			emulator: func(c *emulator.Config) { c.Switches.UnavailableSizes = []string{"s-2vcpu-4gb"} },
			provider: func(o *vpsie.Options) { o.Clock = fc; o.CatalogTTL = time.Hour },
		})
		vn := newVPSieNode(ctx, "104")
		_, err := h.cp.Create(ctx, vn)
		ice, ok := cloudprovider.AsInsufficientCapacity(err)
		Expect(ok).To(BeTrue(), "%v", err)
		Expect(ice.Quota).To(BeFalse())
		Expect(ice.OfferingID).To(Equal("104"))
		Expect(cloudprovider.ErrorReason(err)).To(Equal(v1alpha1.ReasonOfferingUnavailable))

		ng := nodeGroup(emulator.DefaultDatacenter)
		offs, err := h.cp.Offerings(ctx, ng)
		Expect(err).NotTo(HaveOccurred())
		Expect(offeringByID(offs, "104").Available).To(BeFalse())
		Expect(offeringByID(offs, "101").Available).To(BeTrue())

		By("while unavailable, Create refuses without asking VPSie")
		_, err = h.cp.Create(ctx, vn)
		Expect(cloudprovider.IsInsufficientCapacity(err)).To(BeTrue(), "%v", err)
		Expect(h.addWorkerCalls()).To(Equal(1))

		fc.Step(vpsie.DefaultUnavailableTTL)
		offs, err = h.cp.Offerings(ctx, ng)
		Expect(err).NotTo(HaveOccurred())
		Expect(offeringByID(offs, "104").Available).To(BeTrue())
	})

	It("refuses an offering the datacenter does not offer", func(ctx context.Context) {
		h := newHarness(ctx, setup{})
		_, err := h.cp.Create(ctx, newVPSieNode(ctx, "999"))
		Expect(cloudprovider.IsInsufficientCapacity(err)).To(BeTrue(), "%v", err)
		Expect(h.addWorkerCalls()).To(BeZero())
	})

	It("refuses a size whose node group is not ours", func(ctx context.Context) {
		h := newHarness(ctx, setup{})
		_, err := h.api.CreateNodeGroup(ctx, emulator.DefaultClusterID, "hand-made", 301)
		Expect(err).NotTo(HaveOccurred())
		_, err = h.cp.Create(ctx, newVPSieNode(ctx, "301"))
		Expect(err).To(MatchError(ContainSubstring("not managed by the autoscaler")))
		Expect(h.addWorkerCalls()).To(BeZero())
	})
})

// freshListings makes every call list the cluster again instead of sharing a recent listing.
func freshListings(o *vpsie.Options) { o.ListingMaxAge = time.Nanosecond }
