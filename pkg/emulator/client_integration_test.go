package emulator_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/vpsie"
)

// These tests drive the emulator through the real pkg/vpsie client over real HTTP.

const (
	itToken    = "integration-token"
	itClientID = "integration-client"
	itSecret   = "integration-secret"
)

var itStart = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

var itOfferings = []emulator.Offering{
	{ID: 101, Name: "s-1vcpu-1gb", Category: "standard", CPU: 1, RAM: 1024, Disk: 25, Price: 6, HourlyPrice: 0.00822},
	{ID: 104, Name: "s-2vcpu-4gb", Category: "standard", CPU: 2, RAM: 4096, Disk: 80, Price: 24},
}

// sharedClock lets the client wait on the emulator's fake clock: every wait the client makes
// (Retry-After, backoff) advances emulator time by exactly that much and returns at once, so
// retries are deterministic and instant.
type sharedClock struct {
	mu sync.Mutex
	fc *clocktesting.FakeClock
	// frozen, when set, is what the client sees as now (a client whose clock lags the server's).
	frozen time.Time
	waits  []time.Duration
}

func (c *sharedClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.frozen.IsZero() {
		return c.frozen
	}
	return c.fc.Now()
}

func (c *sharedClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.mu.Unlock()
	c.fc.Step(d)
	ch := make(chan time.Time, 1)
	ch <- c.fc.Now()
	return ch
}

func (c *sharedClock) freeze(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen = at
}

func (c *sharedClock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

type itEnv struct {
	srv    *emulator.Server
	fc     *clocktesting.FakeClock
	clock  *sharedClock
	client *vpsie.Client
	url    string
}

func newIntegration(t *testing.T, mutateEmu func(*emulator.Config), mutateClient func(*vpsie.Options)) *itEnv {
	t.Helper()
	fc := clocktesting.NewFakeClock(itStart)
	cfg := emulator.Config{
		Offerings: itOfferings, Tokens: []string{itToken}, ClientID: itClientID, ClientSecret: itSecret,
		Clock: fc, Seed: 3,
	}
	if mutateEmu != nil {
		mutateEmu(&cfg)
	}
	srv, err := emulator.New(cfg)
	if err != nil {
		t.Fatalf("creating emulator: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	sc := &sharedClock{fc: fc}
	opts := vpsie.Options{
		BaseURL: ts.URL, Token: itToken, Clock: sc, RateLimit: -1,
		Rand: func() float64 { return 0.5 },
	}
	if mutateClient != nil {
		mutateClient(&opts)
	}
	client, err := vpsie.New(opts)
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	return &itEnv{srv: srv, fc: fc, clock: sc, client: client, url: ts.URL}
}

func TestClientCatalogueAndGroups(t *testing.T) {
	env := newIntegration(t, nil, nil)
	g := NewWithT(t)
	ctx := t.Context()

	offers, err := env.client.ListOffers(ctx, emulator.DefaultDatacenter)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(offers).To(HaveLen(2))
	g.Expect(offers[0].Name).To(Equal("s-1vcpu-1gb"))
	g.Expect(offers[0].Hourly()).To(Equal(0.00822))
	g.Expect(offers[1].Hourly()).To(BeNumerically("~", 24.0/730, 1e-9))

	_, err = env.client.ListOffers(ctx, "dc-nowhere")
	g.Expect(vpsie.IsNotFound(err)).To(BeTrue(), "%v", err)

	group, err := env.client.CreateNodeGroup(ctx, emulator.DefaultClusterID, "general-s-2vcpu-4gb", 104)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(group.ID).To(Equal(1), "the client finds the id the create answer left out")
	g.Expect(group.SizeID).To(Equal(104))
	_, err = env.client.CreateNodeGroup(ctx, emulator.DefaultClusterID, "again", 104)
	g.Expect(vpsie.IsConflict(err)).To(BeTrue(), "%v", err)

	groups, err := env.client.ListNodeGroups(ctx, emulator.DefaultClusterID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(groups).To(HaveLen(1))
	g.Expect(env.client.DeleteNodeGroup(ctx, group.ID)).To(Succeed())
	g.Expect(vpsie.IsNotFound(env.client.DeleteNodeGroup(ctx, group.ID))).To(BeTrue())
}

func TestClientExchangesAndRefreshesBeforeExpiry(t *testing.T) {
	env := newIntegration(t, func(c *emulator.Config) { c.Switches.TokenTTL = emulator.Duration(10 * time.Minute) },
		func(o *vpsie.Options) { o.Token = ""; o.ClientID = itClientID; o.ClientSecret = itSecret })
	g := NewWithT(t)
	_, err := env.client.GetCluster(t.Context(), emulator.DefaultClusterID)
	g.Expect(err).NotTo(HaveOccurred())
	// Within the client's refresh skew (1m) of the expiry: it exchanges again before calling.
	env.fc.Step(9*time.Minute + 30*time.Second)
	_, err = env.client.GetCluster(t.Context(), emulator.DefaultClusterID)
	g.Expect(err).NotTo(HaveOccurred())
	calls := env.srv.Calls()
	g.Expect(calls.Calls[emulator.CallAuth]).To(Equal(2))
	g.Expect(calls.Statuses[emulator.CallGetCluster]).To(Equal(map[int]int{200: 2}), "no call was refused")
}

func TestClientRefreshesOnceOn401(t *testing.T) {
	env := newIntegration(t, func(c *emulator.Config) { c.Switches.TokenTTL = emulator.Duration(10 * time.Minute) },
		func(o *vpsie.Options) { o.Token = ""; o.ClientID = itClientID; o.ClientSecret = itSecret })
	g := NewWithT(t)
	// The client's clock stands still, so it believes its token is fresh when the emulator has
	// already expired it.
	env.clock.freeze(itStart)
	_, err := env.client.GetCluster(t.Context(), emulator.DefaultClusterID)
	g.Expect(err).NotTo(HaveOccurred())
	env.fc.Step(time.Hour)
	_, err = env.client.GetCluster(t.Context(), emulator.DefaultClusterID)
	g.Expect(err).NotTo(HaveOccurred())
	calls := env.srv.Calls()
	g.Expect(calls.Calls[emulator.CallAuth]).To(Equal(2))
	g.Expect(calls.Statuses[emulator.CallGetCluster]).To(Equal(map[int]int{200: 2, 401: 1}))
}

func TestClientWrongCredentialsAreUnauthorized(t *testing.T) {
	env := newIntegration(t, nil, func(o *vpsie.Options) { o.Token = ""; o.ClientID = itClientID; o.ClientSecret = "wrong" })
	_, err := env.client.GetCluster(t.Context(), emulator.DefaultClusterID)
	NewWithT(t).Expect(vpsie.IsUnauthorized(err)).To(BeTrue(), "%v", err)
}

func TestClientQuotaAndCapacityAreQuotaExceeded(t *testing.T) {
	env := newIntegration(t, func(c *emulator.Config) {
		c.Switches.MaxWorkers = 1
		c.Switches.UnavailableSizes = []string{"s-1vcpu-1gb"}
	}, nil)
	g := NewWithT(t)
	ctx := t.Context()
	big, err := env.client.CreateNodeGroup(ctx, emulator.DefaultClusterID, "big", 104)
	g.Expect(err).NotTo(HaveOccurred())
	small, err := env.client.CreateNodeGroup(ctx, emulator.DefaultClusterID, "small", 101)
	g.Expect(err).NotTo(HaveOccurred())

	_, err = env.client.AddWorker(ctx, emulator.DefaultClusterID, small.ID)
	g.Expect(vpsie.IsQuotaExceeded(err)).To(BeTrue(), "unavailable size: %v", err)

	_, err = env.client.AddWorker(ctx, emulator.DefaultClusterID, big.ID)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = env.client.AddWorker(ctx, emulator.DefaultClusterID, big.ID)
	g.Expect(vpsie.IsQuotaExceeded(err)).To(BeTrue(), "%v", err)
	g.Expect(err.Error()).To(ContainSubstring("exceeds the allowed limit"))
	g.Expect(env.srv.Calls().Calls[emulator.CallAddWorker]).To(Equal(3), "quota refusals are not retried")
	g.Expect(env.srv.Workers()).To(HaveLen(1))
}

func TestClientUnknownWorkerIsNotFound(t *testing.T) {
	env := newIntegration(t, nil, nil)
	err := env.client.DeleteWorker(t.Context(), emulator.DefaultClusterID, "00000000-dead-4000-8000-000000000000")
	NewWithT(t).Expect(vpsie.IsNotFound(err)).To(BeTrue(), "%v", err)
	_, err = env.client.GetCluster(t.Context(), "no-such-cluster")
	NewWithT(t).Expect(vpsie.IsNotFound(err)).To(BeTrue(), "%v", err)
}

func TestClientRetriesAfter429(t *testing.T) {
	env := newIntegration(t, func(c *emulator.Config) { c.Switches.RateLimit = 2 }, nil)
	g := NewWithT(t)
	for range 3 {
		_, err := env.client.GetCluster(t.Context(), emulator.DefaultClusterID)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(env.srv.Calls().Statuses[emulator.CallGetCluster]).To(Equal(map[int]int{200: 3, 429: 1}))
	g.Expect(env.clock.Waits()).To(ContainElement(60*time.Second), "the client honoured Retry-After")
}

func TestClientDoesNotRetryAddWorkerOn500(t *testing.T) {
	env := newIntegration(t, func(c *emulator.Config) {
		c.Switches.ErrorRates = map[string]float64{emulator.CallAddWorker: 1}
	}, nil)
	g := NewWithT(t)
	group, err := env.client.CreateNodeGroup(t.Context(), emulator.DefaultClusterID, "g", 104)
	g.Expect(err).NotTo(HaveOccurred())
	_, err = env.client.AddWorker(t.Context(), emulator.DefaultClusterID, group.ID)
	g.Expect(vpsie.IsServerError(err)).To(BeTrue(), "%v", err)
	g.Expect(env.srv.Calls().Calls[emulator.CallAddWorker]).To(Equal(1))
	g.Expect(env.srv.Workers()).To(BeEmpty())

	// Idempotent calls are retried through the same 500s.
	g.Expect(env.srv.SetSwitches(emulator.Switches{ErrorRates: map[string]float64{emulator.CallListGroups: 0.5}})).To(Succeed())
	for range 5 {
		_, err := env.client.ListNodeGroups(t.Context(), emulator.DefaultClusterID)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(env.srv.Calls().Statuses[emulator.CallListGroups][http.StatusInternalServerError]).To(BeNumerically(">", 0))
}

func TestClientAsyncAddWorkerAppearsInNodeList(t *testing.T) {
	env := newIntegration(t, func(c *emulator.Config) { c.Switches.AddWorkerMode = emulator.AddWorkerAsync }, nil)
	g := NewWithT(t)
	ctx := t.Context()
	group, err := env.client.CreateNodeGroup(ctx, emulator.DefaultClusterID, "g", 104)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := env.client.AddWorker(ctx, emulator.DefaultClusterID, group.ID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Async).To(BeTrue())
	g.Expect(res.Node).To(BeNil())

	cluster, err := env.client.GetCluster(ctx, emulator.DefaultClusterID)
	g.Expect(err).NotTo(HaveOccurred())
	var workers []vpsie.ClusterNode
	for _, n := range cluster.Nodes {
		if n.IsWorker() {
			workers = append(workers, n)
		}
	}
	g.Expect(workers).To(HaveLen(1))
	g.Expect(workers[0].GroupID).To(Equal(group.ID))
	g.Expect(workers[0].SizeID).To(Equal(104))
	g.Expect(workers[0].Status).To(Equal(emulator.StatusProvisioning))
	g.Expect(workers[0].Created).To(BeTemporally("==", itStart))

	g.Expect(env.client.DeleteWorker(ctx, emulator.DefaultClusterID, workers[0].Identifier)).To(Succeed())
	g.Expect(env.srv.Workers()).To(BeEmpty())
}

func TestClientSyncAddWorkerNamesTheNode(t *testing.T) {
	env := newIntegration(t, nil, nil)
	g := NewWithT(t)
	ctx := t.Context()
	group, err := env.client.CreateNodeGroup(ctx, emulator.DefaultClusterID, "g", 104)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := env.client.AddWorker(ctx, emulator.DefaultClusterID, group.ID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Async).To(BeFalse())
	g.Expect(res.Node).NotTo(BeNil())
	g.Expect(env.srv.Workers()[0].Identifier).To(Equal(res.Node.Identifier))
	g.Expect(env.srv.Workers()[0].Hostname).To(Equal(res.Node.Hostname))
}

func TestClientVMs(t *testing.T) {
	env := newIntegration(t, nil, nil)
	g := NewWithT(t)
	ctx := t.Context()
	plans, err := env.client.ListPlans(ctx, emulator.DefaultDatacenter, "ubuntu", "")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plans).To(HaveLen(2))
	g.Expect(env.client.CreateVM(ctx, vpsie.CreateVMRequest{
		ResourceIdentifier: plans[1].Identifier, OSIdentifier: "ubuntu", DCIdentifier: emulator.DefaultDatacenter,
		Hostname: "self-managed-1", Tags: []string{"vpsie-autoscaler"}, AddPrivateIP: true,
	})).To(Succeed())
	vms, err := env.client.ListVMs(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(vms).To(HaveLen(1))
	g.Expect(vms[0].Hostname).To(Equal("self-managed-1"))
	g.Expect(vms[0].SizeID).To(Equal(104))
	vm, err := env.client.GetVM(ctx, vms[0].Identifier)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(vm.Tags).To(Equal([]string{"vpsie-autoscaler"}))
	g.Expect(env.client.DeleteVM(ctx, vm.Identifier)).To(Succeed())
	g.Expect(vpsie.IsNotFound(env.client.DeleteVM(ctx, vm.Identifier))).To(BeTrue())
	_, err = env.client.GetVM(ctx, vm.Identifier)
	g.Expect(vpsie.IsNotFound(err)).To(BeTrue())
}

// TestClientAgainstStartedEmulator uses the real listener rather than httptest.
func TestClientAgainstStartedEmulator(t *testing.T) {
	g := NewWithT(t)
	srv, err := emulator.New(emulator.Config{Offerings: itOfferings, Tokens: []string{itToken}})
	g.Expect(err).NotTo(HaveOccurred())
	url, err := srv.Start(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		g.Expect(srv.Stop(ctx)).To(Succeed())
	}()
	client, err := vpsie.New(vpsie.Options{BaseURL: url, Token: itToken})
	g.Expect(err).NotTo(HaveOccurred())
	c, err := client.GetCluster(t.Context(), emulator.DefaultClusterID)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.Identifier).To(Equal(emulator.DefaultClusterID))
}
