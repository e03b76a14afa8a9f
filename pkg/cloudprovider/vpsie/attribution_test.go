package vpsie_test

import (
	"context"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/vpsie"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
)

var _ = Describe("Attribution", func() {
	It("gives every VPSieNode its own worker, across concurrent launches and a restart, asking once each", func(ctx context.Context) {
		h := newHarness(ctx, setup{
			emulator: func(c *emulator.Config) {
				c.Switches.AddWorkerMode = emulator.AddWorkerAsync
				// Longer than AsyncWait: no Create sees its own worker, all are adopted later.
				c.Switches.AsyncListDelay = emulator.Duration(1500 * time.Millisecond)
			},
			provider: func(o *vpsie.Options) {
				o.AsyncWait = 150 * time.Millisecond
				o.AsyncPollInterval = 50 * time.Millisecond
			},
		})
		const n = 20
		sizes := []string{"101", "104", "301"}
		vns := make([]*v1alpha1.VPSieNode, n)
		for i := range vns {
			vns[i] = newVPSieNode(ctx, sizes[i%len(sizes)])
		}

		var (
			mu         sync.Mutex
			done       = map[string]*v1alpha1.VPSieNode{}
			unexpected []error
		)
		// round calls Create concurrently for every VPSieNode without an instance and, like the
		// lifecycle controller, persists each status it gets back.
		round := func(g Gomega, cp *vpsie.CloudProvider) {
			var wg sync.WaitGroup
			for _, vn := range vns {
				mu.Lock()
				_, ok := done[vn.Name]
				mu.Unlock()
				if ok {
					continue
				}
				wg.Add(1)
				go func() {
					defer GinkgoRecover()
					defer wg.Done()
					out, err := cp.Create(ctx, refetch(ctx, vn))
					if err != nil {
						if !cloudprovider.IsLaunchPending(err) {
							mu.Lock()
							unexpected = append(unexpected, err)
							mu.Unlock()
						}
						return
					}
					persist(ctx, out)
					mu.Lock()
					done[vn.Name] = out
					mu.Unlock()
				}()
			}
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			g.Expect(unexpected).To(BeEmpty())
		}

		round(Default, h.cp)
		Expect(h.addWorkerCalls()).To(Equal(n), "every VPSieNode asked once")
		mu.Lock()
		Expect(len(done)).To(BeNumerically("<", n), "some adds are issued but not attributed at the restart")
		mu.Unlock()

		h.restart()
		Eventually(func(g Gomega) {
			round(g, h.cp)
			mu.Lock()
			defer mu.Unlock()
			g.Expect(done).To(HaveLen(n))
		}).WithTimeout(60 * time.Second).WithPolling(100 * time.Millisecond).Should(Succeed())

		workers := map[string]emulator.AdminWorker{}
		for _, w := range h.srv.Workers() {
			workers[w.Identifier] = w
		}
		Expect(workers).To(HaveLen(n), "no worker leaked")
		seen := map[string]string{}
		for _, vn := range vns {
			stored := refetch(ctx, vn)
			id := stored.Status.InstanceID
			Expect(id).NotTo(BeEmpty())
			Expect(seen).NotTo(HaveKey(id), "worker %s given to %s and %s", id, seen[id], vn.Name)
			seen[id] = vn.Name
			Expect(workers).To(HaveKey(id))
			Expect(workers[id].SizeID).To(Equal(atoi(vn.Spec.OfferingID)), "the worker has the VPSieNode's size")
		}
		Expect(h.addWorkerCalls()).To(Equal(n), "nobody asked twice")
	})

	It("lets concurrent launches of one group wait side by side on one shared listing", func(ctx context.Context) {
		h := newHarness(ctx, setup{
			emulator: func(c *emulator.Config) {
				c.Switches.AddWorkerMode = emulator.AddWorkerAsync
				c.Switches.AsyncListDelay = emulator.Duration(300 * time.Millisecond)
			},
			provider: func(o *vpsie.Options) {
				o.AsyncWait = 5 * time.Second
				o.AsyncPollInterval = 20 * time.Millisecond
				o.ListingMaxAge = 250 * time.Millisecond
			},
		})
		// The group exists and the catalogue is cached, so only the launches' own calls count.
		first, err := h.cp.Create(ctx, newVPSieNode(ctx, "101"))
		if cloudprovider.IsLaunchPending(err) {
			Eventually(func() error { first, err = h.cp.Create(ctx, refetch(ctx, first)); return err }).Should(Succeed())
		}
		Expect(err).NotTo(HaveOccurred())
		listings := h.srv.Calls().Calls[emulator.CallGetCluster]

		const n = 10
		ids := make([]string, n)
		var wg sync.WaitGroup
		for i := range n {
			vn := newVPSieNode(ctx, "101")
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				// Each waits for its worker inside one Create: none holds the group while waiting.
				out, err := h.cp.Create(ctx, vn)
				Expect(err).NotTo(HaveOccurred())
				ids[i] = out.Status.InstanceID
			}()
		}
		wg.Wait()
		Expect(h.addWorkerCalls()).To(Equal(n + 1))
		Expect(ids).To(HaveLen(n))
		distinct := map[string]bool{}
		for _, id := range ids {
			Expect(id).NotTo(BeEmpty())
			distinct[id] = true
		}
		Expect(distinct).To(HaveLen(n), "one worker each")
		// Polling alone, each launch would list every 20ms for 300ms or more (over 150 calls);
		// sharing costs one listing per add (a listing from before an add is stale) plus one
		// per max age while they wait.
		Expect(h.srv.Calls().Calls[emulator.CallGetCluster] - listings).To(BeNumerically("<=", 2*n+10))
	})

	It("adopts a worker whose claim was handed out but never persisted before a restart", func(ctx context.Context) {
		h := newHarness(ctx, setup{})
		vn := newVPSieNode(ctx, "101")
		lost, err := h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		// The controller dies before persisting the status; the worker is free after a restart,
		// and the VPSieNode's own request reserves it for that VPSieNode.
		h.restart()
		other := newVPSieNode(ctx, "101")
		_, err = h.cp.Create(ctx, other)
		Expect(err).NotTo(HaveOccurred())
		Expect(h.srv.Workers()).To(HaveLen(2), "the newcomer does not take the reserved worker")

		out, err := h.cp.Create(ctx, vn)
		Expect(err).NotTo(HaveOccurred())
		Expect(out.Status.InstanceID).To(Equal(lost.Status.InstanceID))
		Expect(h.addWorkerCalls()).To(Equal(2))
	})
})
