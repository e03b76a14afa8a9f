package vpsie_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/vpsie"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/fixtures"
	vpsieapi "github.com/vpsie/vpsie-k8s-autoscaler/pkg/vpsie"
)

var env *environment.Environment

func TestVPSie(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "VPSie CloudProvider")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = environment.Start()
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	Expect(env.Stop()).To(Succeed())
})

// Every test starts without VPSieNodes: the provider counts the pending requests of all of them,
// and group ids restart at 1 in every emulator.
var _ = AfterEach(func(ctx context.Context) {
	Expect(env.Client.DeleteAllOf(ctx, &v1alpha1.VPSieNode{})).To(Succeed())
	Eventually(func(g Gomega) {
		var list v1alpha1.VPSieNodeList
		g.Expect(env.Client.List(ctx, &list)).To(Succeed())
		g.Expect(list.Items).To(BeEmpty())
	}).Should(Succeed())
})

const token = "provider-test-token"

var offerings = []emulator.Offering{
	{ID: 101, Name: "s-1vcpu-1gb", Category: "standard", CPU: 1, RAM: 1024, Disk: 25, Price: 6, HourlyPrice: 0.00822},
	{ID: 104, Name: "s-2vcpu-4gb", Category: "standard", CPU: 2, RAM: 4096, Disk: 80, Price: 24},
	{ID: 301, Name: "m-2vcpu-16gb", Category: "memory-optimized", CPU: 2, RAM: 16384, Disk: 100, Price: 80, HourlyPrice: 0.1096},
}

// harness is an emulator on loopback, a VPSie client for it and a provider on the suite's
// apiserver.
type harness struct {
	srv  *emulator.Server
	url  string
	api  *vpsieapi.Client
	cp   *vpsie.CloudProvider
	opts vpsie.Options
}

type setup struct {
	emulator func(*emulator.Config)
	client   func(*vpsieapi.Options)
	provider func(*vpsie.Options)
	// wrap puts a handler in front of the emulator (then served by httptest, not Start).
	wrap func(http.Handler) http.Handler
}

func newHarness(ctx context.Context, s setup) *harness {
	GinkgoHelper()
	cfg := emulator.Config{
		Offerings: offerings, Tokens: []string{token}, Seed: uint64(GinkgoRandomSeed()),
		ReconcileInterval: 50 * time.Millisecond,
	}
	if s.emulator != nil {
		s.emulator(&cfg)
	}
	srv, err := emulator.New(cfg)
	Expect(err).NotTo(HaveOccurred())
	h := &harness{srv: srv}
	if s.wrap != nil {
		ts := httptest.NewServer(s.wrap(srv.Handler()))
		DeferCleanup(ts.Close)
		h.url = ts.URL
	} else {
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		h.url, err = srv.Start(runCtx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(func(ctx context.Context) {
			cancel()
			Expect(srv.Stop(ctx)).To(Succeed())
		})
	}
	copts := vpsieapi.Options{BaseURL: h.url, Token: token, RateLimit: -1, MaxRetries: -1, Timeout: 5 * time.Second}
	if s.client != nil {
		s.client(&copts)
	}
	h.api, err = vpsieapi.New(copts)
	Expect(err).NotTo(HaveOccurred())
	h.opts = vpsie.Options{
		Client: h.api, KubeClient: env.Client, ClusterID: emulator.DefaultClusterID,
		AsyncWait: 2 * time.Second, AsyncPollInterval: 20 * time.Millisecond, Logger: GinkgoLogr,
	}
	if s.provider != nil {
		s.provider(&h.opts)
	}
	h.restart()
	return h
}

// restart replaces the provider by a new one with the same options: nothing survives in memory.
func (h *harness) restart() {
	GinkgoHelper()
	cp, err := vpsie.New(h.opts)
	Expect(err).NotTo(HaveOccurred())
	h.cp = cp
}

func (h *harness) addWorkerCalls() int { return h.srv.Calls().Calls[emulator.CallAddWorker] }

func (h *harness) workerIDs() []string {
	var ids []string
	for _, w := range h.srv.Workers() {
		ids = append(ids, w.Identifier)
	}
	return ids
}

func (h *harness) setSwitches(mutate func(*emulator.Switches)) {
	GinkgoHelper()
	sw := h.srv.Switches()
	mutate(&sw)
	Expect(h.srv.SetSwitches(sw)).To(Succeed())
}

func offeringName(id string) string {
	for _, o := range offerings {
		if o.ID == atoi(id) {
			return o.Name
		}
	}
	return ""
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		n = n*10 + int(r-'0')
	}
	return n
}

// newVPSieNode creates a VPSieNode of the offering in the apiserver.
func newVPSieNode(ctx context.Context, offeringID string) *v1alpha1.VPSieNode {
	GinkgoHelper()
	vn := fixtures.VPSieNode(v1alpha1.VPSieNode{Spec: v1alpha1.VPSieNodeSpec{
		NodeGroup: "general", OfferingID: offeringID, OfferingName: offeringName(offeringID),
		DatacenterID: emulator.DefaultDatacenter,
	}})
	Expect(env.Client.Create(ctx, vn)).To(Succeed())
	return vn
}

// persist does what the lifecycle controller does with a successful Create: patch the status.
func persist(ctx context.Context, out *v1alpha1.VPSieNode) {
	GinkgoHelper()
	current := &v1alpha1.VPSieNode{}
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(out), current)).To(Succeed())
	patched := current.DeepCopy()
	patched.Status = out.Status
	Expect(env.Client.Status().Patch(ctx, patched, client.MergeFrom(current))).To(Succeed())
}

func refetch(ctx context.Context, vn *v1alpha1.VPSieNode) *v1alpha1.VPSieNode {
	GinkgoHelper()
	out := &v1alpha1.VPSieNode{}
	Expect(env.Client.Get(ctx, client.ObjectKeyFromObject(vn), out)).To(Succeed())
	return out
}

func nodeGroup(dc string) *v1alpha1.NodeGroup {
	return fixtures.NodeGroup(v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{DatacenterID: dc}})
}

func offeringByID(offs []cloudprovider.Offering, id string) cloudprovider.Offering {
	for _, o := range offs {
		if o.ID == id {
			return o
		}
	}
	Fail("offering " + id + " not in the catalogue")
	return cloudprovider.Offering{}
}

// Faults of the add-worker answer injected in front of the emulator: VPSie builds the worker,
// and then the answer is lost (500) or comes too late (after the client's timeout).
const (
	faultNone int32 = iota
	faultLost500
	faultSlow
)

type addWorkerFault struct {
	next  http.Handler
	mode  atomic.Int32
	delay time.Duration
}

func (f *addWorkerFault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	mode := f.mode.Load()
	if mode == faultNone || r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/add/slave/group/") {
		f.next.ServeHTTP(w, r)
		return
	}
	rec := httptest.NewRecorder()
	f.next.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	switch mode {
	case faultLost500:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadGateway)
		_ = json.NewEncoder(w).Encode(map[string]any{"error": true, "code": 502, "message": "bad gateway", "data": nil})
	case faultSlow:
		t := time.NewTimer(f.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}
}
