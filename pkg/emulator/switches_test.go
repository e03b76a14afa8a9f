package emulator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestErrorRateAlwaysFailsOnlyThatCall(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Switches.ErrorRates = map[string]float64{CallAddWorker: 1} })
	g := NewWithT(t)
	gid := h.createGroup(testCluster, "g", 104)
	a := h.api("POST", addWorkerPath(testCluster, gid), nil)
	g.Expect(a.Status).To(Equal(http.StatusInternalServerError))
	g.Expect(a.Message).To(ContainSubstring("injected"))
	g.Expect(h.srv.Workers()).To(BeEmpty(), "an injected error creates nothing")
	calls := h.srv.Calls()
	g.Expect(calls.Calls[CallAddWorker]).To(Equal(1))
	g.Expect(calls.Statuses[CallAddWorker]).To(Equal(map[int]int{500: 1}))
	g.Expect(calls.Statuses[CallCreateGroup]).To(Equal(map[int]int{200: 1}))
}

func TestErrorRateIsDeterministicPerSeed(t *testing.T) {
	outcomes := func(seed uint64) []int {
		h := newHarness(t, func(c *Config) {
			c.Seed = seed
			c.Switches.ErrorRates = map[string]float64{CallAll: 0.5, CallAuth: 0}
		})
		var out []int
		for range 40 {
			out = append(out, h.api("GET", "/apps/v2/k8s/cluster/byId/"+testCluster, nil).Status)
		}
		return out
	}
	g := NewWithT(t)
	first := outcomes(7)
	g.Expect(outcomes(7)).To(Equal(first))
	g.Expect(first).To(ContainElement(http.StatusOK))
	g.Expect(first).To(ContainElement(http.StatusInternalServerError))
	g.Expect(outcomes(8)).NotTo(Equal(first))
}

func TestLatencyWaitsOnTheInjectedClock(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Switches.Latencies = map[string]Duration{CallGetCluster: Duration(3 * time.Second)}
	})
	g := NewWithT(t)
	// Other calls are not delayed.
	h.mustOK(h.api("GET", "/apps/v2/k8s/node/groups/byClusterId/"+testCluster, nil))

	done := make(chan answer, 1)
	go func() { done <- h.api("GET", "/apps/v2/k8s/cluster/byId/"+testCluster, nil) }()
	g.Eventually(h.clock.HasWaiters).WithTimeout(10 * time.Second).Should(BeTrue())
	g.Consistently(done, 50*time.Millisecond).ShouldNot(Receive())
	h.clock.Step(2 * time.Second)
	g.Consistently(done, 50*time.Millisecond).ShouldNot(Receive())
	h.clock.Step(time.Second)
	var a answer
	g.Eventually(done).WithTimeout(10 * time.Second).Should(Receive(&a))
	g.Expect(a.Status).To(Equal(http.StatusOK))
}

func TestRateLimitAfterNCallsPerWindow(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Switches.RateLimit = 2 })
	g := NewWithT(t)
	path := "/apps/v2/k8s/cluster/byId/" + testCluster
	h.mustOK(h.api("GET", path, nil))
	h.clock.Step(20 * time.Second)
	h.mustOK(h.api("GET", path, nil))
	limited := h.api("GET", path, nil)
	g.Expect(limited.Status).To(Equal(http.StatusTooManyRequests))
	g.Expect(limited.Header.Get("Retry-After")).To(Equal("40"))
	h.clock.Step(39 * time.Second)
	g.Expect(h.api("GET", path, nil).Header.Get("Retry-After")).To(Equal("1"))
	h.clock.Step(time.Second)
	h.mustOK(h.api("GET", path, nil))
	g.Expect(h.srv.Calls().Statuses[CallGetCluster]).To(Equal(map[int]int{200: 3, 429: 2}))

	// Through the admin API: a window of 1s.
	g.Expect(h.putConfig(`{"rateLimit":1,"rateLimitWindow":"1s"}`).Status).To(Equal(http.StatusOK))
	h.clock.Step(time.Minute)
	h.mustOK(h.api("GET", path, nil))
	g.Expect(h.api("GET", path, nil).Header.Get("Retry-After")).To(Equal("1"))
}

func TestQuotaMaxWorkers(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Clusters = []ClusterConfig{{Identifier: "cl-a"}, {Identifier: "cl-b"}}
		c.Switches.MaxWorkers = 2
	})
	g := NewWithT(t)
	ga, gb := h.createGroup("cl-a", "a", 104), h.createGroup("cl-a", "b", 101)
	h.addWorker("cl-a", ga)
	w := h.addWorker("cl-a", gb)
	over := h.api("POST", addWorkerPath("cl-a", ga), nil)
	g.Expect(over.Status).To(Equal(http.StatusForbidden))
	g.Expect(over.Message).To(ContainSubstring("exceeds the allowed limit"))
	// The quota is per cluster.
	h.addWorker("cl-b", h.createGroup("cl-b", "a", 104))
	// Room again once a worker is gone.
	h.mustOK(h.api("DELETE", deleteWorkerPath("cl-a"), map[string]string{"identifier": w.Identifier}))
	h.addWorker("cl-a", ga)
	// Raised through the admin API.
	g.Expect(h.putConfig(`{"maxWorkers":3}`).Status).To(Equal(http.StatusOK))
	h.addWorker("cl-a", ga)
	g.Expect(h.srv.Workers()).To(HaveLen(4))
}

func TestUnavailableSize(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Switches.UnavailableSizes = []string{"s-2vcpu-4gb"} })
	g := NewWithT(t)
	big, small := h.createGroup(testCluster, "big", 104), h.createGroup(testCluster, "small", 101)
	a := h.api("POST", addWorkerPath(testCluster, big), nil)
	g.Expect(a.Status).To(Equal(http.StatusForbidden))
	g.Expect(a.Message).To(ContainSubstring("insufficient capacity"))
	g.Expect(a.Message).To(ContainSubstring("s-2vcpu-4gb"))
	h.addWorker(testCluster, small)
	// Sizes can be named by id too.
	g.Expect(h.putConfig(`{"unavailableSizes":["101"]}`).Status).To(Equal(http.StatusOK))
	g.Expect(h.api("POST", addWorkerPath(testCluster, small), nil).Status).To(Equal(http.StatusForbidden))
	h.addWorker(testCluster, big)
}

func TestAsyncListDelayHidesNewWorkers(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Switches.AddWorkerMode = AddWorkerAsync
		c.Switches.AsyncListDelay = Duration(20 * time.Second)
		c.Switches.MaxWorkers = 1
	})
	g := NewWithT(t)
	gid := h.createGroup(testCluster, "g", 104)
	h.mustOK(h.api("POST", addWorkerPath(testCluster, gid), nil))
	g.Expect(h.slaves(testCluster)).To(BeEmpty())
	g.Expect(h.groups(testCluster)[0].NodesCount).To(Equal(0))
	g.Expect(h.srv.Workers()).To(HaveLen(1))
	g.Expect(h.srv.Workers()[0].Listed).To(BeFalse())
	// The hidden worker already counts against the quota.
	g.Expect(h.api("POST", addWorkerPath(testCluster, gid), nil).Status).To(Equal(http.StatusForbidden))

	h.clock.Step(20 * time.Second)
	g.Expect(h.slaves(testCluster)).To(HaveLen(1))
	g.Expect(h.groups(testCluster)[0].NodesCount).To(Equal(1))
	g.Expect(h.srv.Workers()[0].Listed).To(BeTrue())

	// Sync answers name the worker, so it is listed at once.
	h.mustOK(h.putConfig(`{"addWorkerMode":"sync","maxWorkers":0}`))
	w := h.addWorker(testCluster, gid)
	g.Expect(h.slaves(testCluster)).To(ContainElement(HaveField("Identifier", w.Identifier)))
}

func TestDeleteProvisioningConflict(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Switches.DeleteProvisioningConflict = true
		c.Switches.BootDelay = Duration(time.Minute)
	})
	g := NewWithT(t)
	w := h.addWorker(testCluster, h.createGroup(testCluster, "g", 104))
	a := h.api("DELETE", deleteWorkerPath(testCluster), map[string]string{"identifier": w.Identifier})
	g.Expect(a.Status).To(Equal(http.StatusConflict))
	g.Expect(a.Message).To(ContainSubstring("in transition"))
	h.clock.Step(time.Minute)
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	h.mustOK(h.api("DELETE", deleteWorkerPath(testCluster), map[string]string{"identifier": w.Identifier}))
}

func TestTokenTTLSwitch(t *testing.T) {
	h := newHarness(t)
	g := NewWithT(t)
	g.Expect(h.putConfig(`{"tokenTTL":"30s"}`).Status).To(Equal(http.StatusOK))
	var tokens authAnswer
	h.mustOK(h.call("POST", "/apps/v2/auth/from/api", `{"clientId":"test-client","clientSecret":"test-secret"}`, "")).into(t, &tokens)
	g.Expect(tokens.AccessToken.Expires).To(Equal(testStart.Add(30 * time.Second).Format(time.RFC3339)))
	h.clock.Step(30 * time.Second)
	g.Expect(h.call("GET", "/api/v2/vm", nil, tokens.AccessToken.Token).Status).To(Equal(http.StatusUnauthorized))
}

func TestAdminConfig(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Switches.MaxWorkers = 5 })
	g := NewWithT(t)
	var sw Switches
	h.mustOK(h.call("GET", "/admin/config", nil, "")).into(t, &sw)
	g.Expect(sw.MaxWorkers).To(Equal(5))
	g.Expect(sw.AddWorkerMode).To(Equal(AddWorkerSync))
	g.Expect(sw.TokenTTL).To(Equal(Duration(DefaultTokenTTL)))

	// A PUT merges: absent fields keep their values.
	a := h.mustOK(h.putConfig(`{"bootDelay":"2s","addWorkerMode":"async","errorRates":{"add-worker":0.25},"latencies":{"*":"10ms"}}`))
	a.into(t, &sw)
	g.Expect(sw.MaxWorkers).To(Equal(5))
	g.Expect(sw.BootDelay).To(Equal(Duration(2 * time.Second)))
	g.Expect(sw.AddWorkerMode).To(Equal(AddWorkerAsync))
	g.Expect(sw.ErrorRates).To(Equal(map[string]float64{CallAddWorker: 0.25}))
	g.Expect(h.srv.Switches().Latencies).To(Equal(map[string]Duration{CallAll: Duration(10 * time.Millisecond)}))
	g.Expect(string(a.Data)).To(ContainSubstring(`"bootDelay":"2s"`))

	for _, tc := range []struct{ name, body, msg string }{
		{"mode", `{"addWorkerMode":"later"}`, "addWorkerMode"},
		{"rate above 1", `{"errorRates":{"add-worker":1.5}}`, "between 0 and 1"},
		{"unknown call", `{"errorRates":{"add-wroker":0.5}}`, "unknown call"},
		{"negative delay", `{"bootDelay":"-1s"}`, "bootDelay"},
		{"bad duration", `{"bootDelay":"soon"}`, "soon"},
		{"unknown field", `{"bootDelayy":"1s"}`, "unknown field"},
		{"not an object", `[]`, "JSON object"},
		{"negative quota", `{"maxWorkers":-1}`, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.putConfig(tc.body)
			NewWithT(t).Expect(a.Status).To(Equal(http.StatusBadRequest))
			NewWithT(t).Expect(a.Message).To(ContainSubstring(tc.msg))
		})
	}
	g.Expect(h.srv.Switches().AddWorkerMode).To(Equal(AddWorkerAsync), "a refused PUT changes nothing")

	// Durations may be given in seconds.
	h.mustOK(h.putConfig(`{"bootDelay":1.5}`))
	g.Expect(h.srv.Switches().BootDelay).To(Equal(Duration(1500 * time.Millisecond)))
}

func TestAdminListsAndReset(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Switches.MaxWorkers = 9 })
	g := NewWithT(t)
	gid := h.createGroup(testCluster, "g", 104)
	w := h.addWorker(testCluster, gid)
	h.mustOK(h.api("POST", "/api/v2/vm", vmBody("00000000-0000-4000-8000-000000000101", "vm-a")))

	var workers []AdminWorker
	h.mustOK(h.call("GET", "/admin/workers", nil, "")).into(t, &workers)
	g.Expect(workers).To(HaveLen(1))
	g.Expect(workers[0]).To(Equal(AdminWorker{Identifier: w.Identifier, Hostname: w.Hostname, Cluster: testCluster,
		GroupID: gid, Size: "s-2vcpu-4gb", SizeID: 104, Status: StatusProvisioning, CreatedAt: testStart, Listed: true}))
	var vms []AdminVM
	h.mustOK(h.call("GET", "/admin/vms", nil, "")).into(t, &vms)
	g.Expect(vms).To(HaveLen(1))
	g.Expect(vms[0].Hostname).To(Equal("vm-a"))
	g.Expect(vms[0].Plan).To(Equal("s-1vcpu-1gb"))
	var groups []AdminGroup
	h.mustOK(h.call("GET", "/admin/groups", nil, "")).into(t, &groups)
	g.Expect(groups).To(Equal([]AdminGroup{{ID: gid, Name: "g", Cluster: testCluster, Size: "s-2vcpu-4gb", SizeID: 104, Nodes: 1}}))
	var calls CallStats
	h.mustOK(h.call("GET", "/admin/calls", nil, "")).into(t, &calls)
	g.Expect(calls.Calls).To(HaveKeyWithValue(CallAddWorker, 1))
	g.Expect(calls.Calls).To(HaveKeyWithValue(CallCreateVM, 1))
	g.Expect(calls.Statuses[CallCreateVM]).To(Equal(map[int]int{200: 1}))

	h.mustOK(h.putConfig(`{"maxWorkers":1}`))
	h.mustOK(h.call("POST", "/admin/reset", nil, ""))
	g.Expect(h.srv.Workers()).To(BeEmpty())
	g.Expect(h.srv.VMs()).To(BeEmpty())
	g.Expect(h.srv.Groups()).To(BeEmpty())
	g.Expect(h.srv.Calls().Calls).To(BeEmpty())
	g.Expect(h.srv.Switches().MaxWorkers).To(Equal(9), "reset restores the initial switches")
	g.Expect(h.slaves(testCluster)).To(BeEmpty())
	// Identifiers and hostnames are not reused after a reset.
	w2 := h.addWorker(testCluster, h.createGroup(testCluster, "g", 104))
	g.Expect(w2.Hostname).NotTo(Equal(w.Hostname))
}

func TestAdminGuards(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.AdminToken = "admin-secret" })
	g := NewWithT(t)
	g.Expect(h.call("GET", "/admin/workers", nil, "").Status).To(Equal(http.StatusUnauthorized))
	req, _ := http.NewRequest("GET", h.ts.URL+"/admin/workers", nil)
	req.Header.Set("X-Admin-Token", "admin-secret")
	g.Expect(h.send(req).Status).To(Equal(http.StatusOK))
	// The VPSie token does not open the admin API, nor does the admin token open the VPSie API.
	g.Expect(h.call("GET", "/admin/calls", nil, testToken).Status).To(Equal(http.StatusUnauthorized))
	g.Expect(h.call("GET", "/api/v2/vm", nil, "admin-secret").Status).To(Equal(http.StatusUnauthorized))

	// Remote clients are refused even with the token.
	rec := httptest.NewRecorder()
	remote := httptest.NewRequest("GET", "/admin/workers", nil)
	remote.RemoteAddr = "192.0.2.10:4000"
	remote.Header.Set("X-Admin-Token", "admin-secret")
	h.srv.Handler().ServeHTTP(rec, remote)
	g.Expect(rec.Code).To(Equal(http.StatusForbidden))
	g.Expect(rec.Body.String()).To(ContainSubstring("loopback clients only"))
}

func TestCheckListenAddress(t *testing.T) {
	for _, tc := range []struct {
		addr  string
		allow bool
		ok    bool
	}{
		{"127.0.0.1:8090", false, true},
		{"127.0.0.1:0", false, true},
		{"[::1]:8090", false, true},
		{"localhost:8090", false, true},
		{"0.0.0.0:8090", false, false},
		{":8090", false, false},
		{"192.0.2.1:8090", false, false},
		{"example.com:8090", false, false},
		{"0.0.0.0:8090", true, true},
		{"no-port", false, false},
	} {
		err := CheckListenAddress(tc.addr, tc.allow)
		if (err == nil) != tc.ok {
			t.Errorf("CheckListenAddress(%q, %v) = %v, want ok=%v", tc.addr, tc.allow, err, tc.ok)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	base := func() Config {
		return Config{Offerings: testOfferings, Tokens: []string{"t"}}
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		msg    string
	}{
		{"no credentials", func(c *Config) { c.Tokens = nil }, "no credentials"},
		{"secret without id", func(c *Config) { c.Tokens = nil; c.ClientSecret = "s" }, "no credentials"},
		{"no offerings", func(c *Config) { c.Offerings = nil }, "no offerings"},
		{"missing file", func(c *Config) { c.Offerings = nil; c.OfferingsFile = "/nonexistent.json" }, "reading offerings"},
		{"duplicate offering", func(c *Config) { c.Offerings = append(c.Offerings, testOfferings[0]) }, "appears twice"},
		{"zero cpu", func(c *Config) { c.Offerings = []Offering{{ID: 1, Name: "x", RAM: 1, Disk: 1}} }, "positive cpu"},
		{"cluster without id", func(c *Config) { c.Clusters = []ClusterConfig{{Name: "x"}} }, "no identifier"},
		{"cluster twice", func(c *Config) { c.Clusters = []ClusterConfig{{Identifier: "a"}, {Identifier: "a"}} }, "twice"},
		{"bad mode", func(c *Config) { c.Switches.AddWorkerMode = "x" }, "addWorkerMode"},
		{"bad rate", func(c *Config) { c.Switches.ErrorRates = map[string]float64{"*": -1} }, "between 0 and 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base()
			tc.mutate(&cfg)
			_, err := New(cfg)
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.msg)))
		})
	}
}

func TestExampleCatalogueLoads(t *testing.T) {
	offs, err := LoadOfferings("../../hack/examples/offerings.json")
	g := NewWithT(t)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(len(offs)).To(BeNumerically(">", 10))
	for _, o := range offs {
		g.Expect(o.HourlyPrice).To(BeNumerically(">", 0), o.Name)
		g.Expect(o.Category).NotTo(BeEmpty(), o.Name)
	}
}

func TestStartServesOnLoopbackAndStops(t *testing.T) {
	g := NewWithT(t)
	srv, err := New(Config{Offerings: testOfferings, Tokens: []string{testToken}})
	g.Expect(err).NotTo(HaveOccurred())
	url, err := srv.Start(t.Context())
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(url).To(HavePrefix("http://127.0.0.1:"))
	g.Expect(srv.URL()).To(Equal(url))
	_, err = srv.Start(t.Context())
	g.Expect(err).To(MatchError(ContainSubstring("already started")))

	req, _ := http.NewRequest("GET", url+"/apps/v2/k8s/cluster/byId/"+testCluster, nil)
	req.Header.Set("Vpsie-Auth", testToken)
	resp, err := http.DefaultClient.Do(req)
	g.Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	g.Expect(resp.StatusCode).To(Equal(http.StatusOK))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	g.Expect(srv.Stop(ctx)).To(Succeed())
	g.Expect(srv.Stop(ctx)).To(Succeed())
	_, err = http.DefaultClient.Get(url + "/admin/calls")
	g.Expect(err).To(HaveOccurred())

	bad, err := New(Config{Offerings: testOfferings, Tokens: []string{"t"}, ListenAddress: "0.0.0.0:0"})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = bad.Start(t.Context())
	g.Expect(err).To(MatchError(ContainSubstring("not loopback")))
	g.Expect(strings.Contains(err.Error(), "allow-non-loopback")).To(BeTrue())
}
