package vpsie

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func jsonBody(g *WithT, r recordedRequest) map[string]any {
	var m map[string]any
	g.Expect(json.Unmarshal([]byte(r.Body), &m)).To(Succeed(), "body %q", r.Body)
	return m
}

func TestEveryCallSendsAuthAndUserAgent(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("GET", "/api/v2/vm", ok([]any{}))
	c, _ := newTestClient(t, srv.URL, func(o *Options) { o.UserAgent = "" })

	_, err := c.ListVMs(context.Background())
	g.Expect(err).NotTo(HaveOccurred())
	reqs := srv.requestsTo("GET", "/api/v2/vm")
	g.Expect(reqs).To(HaveLen(1))
	g.Expect(reqs[0].Header.Get("Vpsie-Auth")).To(Equal(testToken))
	g.Expect(reqs[0].Header.Get("User-Agent")).To(Equal("vpsie-autoscaler/" + Version))
	g.Expect(reqs[0].Header.Get("Accept")).To(Equal("application/json"))
}

func TestListOffers(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("POST", "/apps/v2/k8s/offers", func(w http.ResponseWriter, _ *http.Request) {
		// Loose typing as seen in practice: ids and sizes as strings, prices as strings.
		writeRaw(w, 200, `{"error":false,"code":200,"total":3,"data":[
			{"id":1,"name":"k8s-1","cpu":1,"ram":2048,"disk":40,"price":10.5,"hourly_price":0.02,"category":"standard"},
			{"id":"2","name":"k8s-2","cpu":"2","ram":"4096","disk":"80","price":"21.9"},
			{"id":3.0,"name":"k8s-3","cpu":4,"ram":8192,"disk":160,"price":null,"hourly_price":""}]}`)
	})
	c, _ := newTestClient(t, srv.URL)

	offers, err := c.ListOffers(context.Background(), "dc-1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(offers).To(Equal([]Offering{
		{ID: 1, Name: "k8s-1", CPU: 1, RAMMiB: 2048, DiskGB: 40, MonthlyUSD: 10.5, HourlyUSD: 0.02, Category: "standard"},
		{ID: 2, Name: "k8s-2", CPU: 2, RAMMiB: 4096, DiskGB: 80, MonthlyUSD: 21.9},
		{ID: 3, Name: "k8s-3", CPU: 4, RAMMiB: 8192, DiskGB: 160},
	}))
	g.Expect(offers[0].Hourly()).To(Equal(0.02))
	g.Expect(offers[1].Hourly()).To(BeNumerically("~", 21.9/730, 1e-12))
	g.Expect(offers[2].Hourly()).To(BeZero())

	reqs := srv.requestsTo("POST", "/apps/v2/k8s/offers")
	g.Expect(reqs).To(HaveLen(1))
	g.Expect(reqs[0].Header.Get("Content-Type")).To(Equal("application/json"))
	g.Expect(jsonBody(g, reqs[0])).To(Equal(map[string]any{"dcIdentifier": "dc-1"}))

	_, err = c.ListOffers(context.Background(), " ")
	g.Expect(err).To(MatchError(ContainSubstring("datacenter identifier must not be empty")))
}

func TestHourlyPrice(t *testing.T) {
	cases := []struct{ monthly, hourly, want float64 }{
		{73, 0.5, 0.5},
		{73, 0, 0.1},
		{73, -1, 0.1},
		{0, 0, 0},
		{-5, 0, 0},
	}
	for _, tc := range cases {
		NewWithT(t).Expect(HourlyPrice(tc.monthly, tc.hourly)).To(BeNumerically("~", tc.want, 1e-12))
	}
	NewWithT(t).Expect(Plan{MonthlyUSD: 14.6}.Hourly()).To(BeNumerically("~", 0.02, 1e-12))
}

func TestGetCluster(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("GET", "/apps/v2/k8s/cluster/byId/6c1f-uuid", ok(map[string]any{
		"identifier": "6c1f-uuid", "cluster_name": "prod", "kube_version": "1.37",
		"nodes": []any{
			map[string]any{"identifier": "m1", "hostname": "prod-master-1", "node_type": "master", "group_id": nil, "status": 1},
			map[string]any{"identifier": "w1", "hostname": "prod-w-1", "private_ip": "10.0.0.5", "public_ip": "1.2.3.4",
				"node_type": "slave", "group_id": "12", "boxsize_id": 3, "status": "running", "created_on": "2026-11-26 10:00:00"},
		},
	}))
	c, _ := newTestClient(t, srv.URL)

	cl, err := c.GetCluster(context.Background(), "6c1f-uuid")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cl.Identifier).To(Equal("6c1f-uuid"))
	g.Expect(cl.Name).To(Equal("prod"))
	g.Expect(cl.KubeVersion).To(Equal("1.37"))
	g.Expect(cl.Nodes).To(HaveLen(2))
	g.Expect(cl.Nodes[0].IsWorker()).To(BeFalse())
	g.Expect(cl.Nodes[0].Status).To(Equal("1"))
	g.Expect(cl.Nodes[1]).To(Equal(ClusterNode{
		Identifier: "w1", Hostname: "prod-w-1", PrivateIP: "10.0.0.5", PublicIP: "1.2.3.4", Type: "slave",
		GroupID: 12, SizeID: 3, Status: "running", CreatedOn: "2026-11-26 10:00:00",
		Created: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
	}))
	g.Expect(cl.Nodes[1].IsWorker()).To(BeTrue())

	// Identifiers are path-escaped.
	_, err = c.GetCluster(context.Background(), "a/b")
	g.Expect(IsNotFound(err)).To(BeTrue())
	reqs := srv.requestsTo("GET", "/apps/v2/k8s/cluster/byId/a/b")
	g.Expect(reqs).To(HaveLen(1))
	g.Expect(reqs[0].URI).To(Equal("/apps/v2/k8s/cluster/byId/a%2Fb"))
}

func TestListNodeGroups(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("GET", "/apps/v2/k8s/node/groups/byClusterId/c1", ok([]any{
		map[string]any{"id": 7, "group_name": "ng-small", "identifier": "g-uuid", "boxsize_id": "3", "dcIdentifier": "dc-1",
			"cpu": 2, "ram": 4096, "ssd": 80, "nodes_count": "2", "is_active": 1},
		map[string]any{"id": "8", "group_name": "ng-big", "is_active": false},
	}))
	c, _ := newTestClient(t, srv.URL)

	groups, err := c.ListNodeGroups(context.Background(), "c1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(groups).To(Equal([]NodeGroup{
		{ID: 7, Name: "ng-small", Identifier: "g-uuid", SizeID: 3, DCIdentifier: "dc-1", CPU: 2, RAMMiB: 4096, SSDGB: 80, NodesCount: 2, Active: true},
		{ID: 8, Name: "ng-big"},
	}))

	srv.handle("GET", "/apps/v2/k8s/node/groups/byClusterId/empty", ok(nil))
	groups, err = c.ListNodeGroups(context.Background(), "empty")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(groups).To(BeEmpty())
}

func TestCreateNodeGroup(t *testing.T) {
	const path = "/apps/v2/k8s/cluster/add/group"
	const listPath = "/apps/v2/k8s/node/groups/byClusterId/c1"
	listing := ok([]any{
		map[string]any{"id": 5, "group_name": "other"},
		map[string]any{"id": 9, "group_name": "ng-a-3", "boxsize_id": 3},
	})

	t.Run("answer with id", func(t *testing.T) {
		g := NewWithT(t)
		srv := newAPIServer(t)
		srv.handle("POST", path, ok(map[string]any{"id": 11, "group_name": "ng-a-3"}))
		c, _ := newTestClient(t, srv.URL)
		ng, err := c.CreateNodeGroup(context.Background(), "c1", "ng-a-3", 3)
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(ng.ID).To(Equal(11))
		g.Expect(ng.SizeID).To(Equal(3))
		g.Expect(srv.count("GET", listPath)).To(BeZero())
		g.Expect(jsonBody(g, srv.requestsTo("POST", path)[0])).To(Equal(map[string]any{
			"clusterIdentifier": "c1", "groupName": "ng-a-3", "KubeSizeID": float64(3),
		}))
	})

	for name, answer := range map[string]http.HandlerFunc{
		"data true":     ok(true),
		"no data":       ok(nil),
		"object w/o id": ok(map[string]any{"group_name": "ng-a-3"}),
	} {
		t.Run("answer without id: "+name, func(t *testing.T) {
			g := NewWithT(t)
			srv := newAPIServer(t)
			srv.handle("POST", path, answer)
			srv.handle("GET", listPath, listing)
			c, _ := newTestClient(t, srv.URL)
			ng, err := c.CreateNodeGroup(context.Background(), "c1", "ng-a-3", 3)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(*ng).To(Equal(NodeGroup{ID: 9, Name: "ng-a-3", SizeID: 3}))
			g.Expect(srv.count("GET", listPath)).To(Equal(1))
		})
	}

	t.Run("not in the listing yet", func(t *testing.T) {
		g := NewWithT(t)
		srv := newAPIServer(t)
		srv.handle("POST", path, ok(true))
		srv.handle("GET", listPath, ok([]any{}))
		c, _ := newTestClient(t, srv.URL)
		_, err := c.CreateNodeGroup(context.Background(), "c1", "ng-a-3", 3)
		g.Expect(err).To(MatchError(ErrNotFoundAfterCreate))
		g.Expect(srv.count("POST", path)).To(Equal(1))
	})

	t.Run("invalid arguments", func(t *testing.T) {
		g := NewWithT(t)
		c, _ := newTestClient(t, "http://127.0.0.1:1")
		_, err := c.CreateNodeGroup(context.Background(), "", "", 0)
		g.Expect(err).To(MatchError(And(
			ContainSubstring("cluster identifier must not be empty"),
			ContainSubstring("group name must not be empty"),
			ContainSubstring("size id must be positive, got 0"))))
	})
}

func TestDeleteNodeGroup(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("DELETE", "/apps/v2/k8s/cluster/delete/group/9", ok(true))
	c, _ := newTestClient(t, srv.URL)

	g.Expect(c.DeleteNodeGroup(context.Background(), 9)).To(Succeed())
	body := jsonBody(g, srv.requestsTo("DELETE", "/apps/v2/k8s/cluster/delete/group/9")[0])
	g.Expect(body).To(HaveKeyWithValue("deleteStatistic", HaveKey("reason")))

	err := c.DeleteNodeGroup(context.Background(), 10)
	g.Expect(IsNotFound(err)).To(BeTrue())
}

func TestAddWorkerAnswers(t *testing.T) {
	const path = "/apps/v2/k8s/cluster/byId/c1/add/slave/group/9"
	cases := []struct {
		name    string
		answer  http.HandlerFunc
		want    *AddWorkerResult
		wantErr error
	}{
		{name: "async data true", answer: ok(true), want: &AddWorkerResult{Async: true}},
		{name: "async data \"1\"", answer: ok("1"), want: &AddWorkerResult{Async: true}},
		{name: "sync node", answer: ok(map[string]any{"identifier": "w-uuid", "hostname": "c1-w-9", "status": "building"}),
			want: &AddWorkerResult{Node: &WorkerNode{Identifier: "w-uuid", Hostname: "c1-w-9", Status: "building"}}},
		{name: "object without identifier", answer: ok(map[string]any{"status": "queued"}), want: &AddWorkerResult{Async: true}},
		{name: "data false", answer: ok(false), wantErr: ErrInvalidResponse},
		{name: "no data", answer: ok(nil), wantErr: ErrInvalidResponse},
		{name: "list data", answer: ok([]any{1}), wantErr: ErrInvalidResponse},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := NewWithT(t)
			srv := newAPIServer(t)
			srv.handle("POST", path, tc.answer)
			c, _ := newTestClient(t, srv.URL)
			res, err := c.AddWorker(context.Background(), "c1", 9)
			if tc.wantErr != nil {
				g.Expect(err).To(MatchError(tc.wantErr))
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(res).To(Equal(tc.want))
			reqs := srv.requestsTo("POST", path)
			g.Expect(reqs).To(HaveLen(1))
			g.Expect(reqs[0].Body).To(BeEmpty())
		})
	}
}

func TestDeleteWorker(t *testing.T) {
	const path = "/apps/v2/k8s/cluster/byId/c1/delete/slave"
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handleSeq("DELETE", path, ok(true), fail(404, 404, "node not found"))
	c, _ := newTestClient(t, srv.URL)

	g.Expect(c.DeleteWorker(context.Background(), "c1", "w-uuid")).To(Succeed())
	g.Expect(jsonBody(g, srv.requestsTo("DELETE", path)[0])).To(Equal(map[string]any{"identifier": "w-uuid"}))

	// Already gone: the caller gets the typed not-found and decides.
	err := c.DeleteWorker(context.Background(), "c1", "w-uuid")
	g.Expect(IsNotFound(err)).To(BeTrue())
	g.Expect(srv.count("DELETE", path)).To(Equal(2), "a 404 is not retried")
}

func TestVMCalls(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("POST", "/api/v2/vm", ok(map[string]any{"message": "vm is being created"}))
	srv.handle("GET", "/api/v2/vm", ok([]any{
		map[string]any{"identifier": "vm-1", "hostname": "n1", "default_ip": "1.2.3.4", "private_ip": "10.0.0.2", "boxsize_id": 4,
			"dcIdentifier": "dc-1", "cpu": "2", "ram": 2048, "ssd": 40, "state": "running", "tags": []any{"autoscaler", map[string]any{"name": "ng-a"}},
			"created_on": "2026-11-26T10:00:00Z"},
		map[string]any{"identifier": "vm-2", "hostname": "n2", "status": "off", "tags": "a, b"},
	}))
	srv.handle("GET", "/api/v2/vm/vm-1", ok(map[string]any{"vmData": map[string]any{"identifier": "vm-1", "hostname": "n1"}}))
	srv.handle("GET", "/api/v2/vm/vm-2", ok(map[string]any{"identifier": "vm-2", "hostname": "n2"}))
	srv.handle("GET", "/api/v2/vm/vm-3", ok(map[string]any{}))
	srv.handleSeq("DELETE", "/api/v2/vm", ok(true), fail(404, 404, "vm not found"))
	srv.handle("POST", "/apps/v2/resources", ok([]any{
		map[string]any{"identifier": "plan-1", "nickname": "s-1", "cpu": 1, "ram": 1024, "ssd": 25, "traffic": 1000, "price": "7.30"},
	}))
	c, _ := newTestClient(t, srv.URL)
	ctx := context.Background()

	req := CreateVMRequest{ResourceIdentifier: "plan-1", OSIdentifier: "os-1", DCIdentifier: "dc-1", Hostname: "n1",
		UserData: "#cloud-config", Tags: []string{"autoscaler"}, AddPrivateIP: true}
	g.Expect(c.CreateVM(ctx, req)).To(Succeed())
	g.Expect(jsonBody(g, srv.requestsTo("POST", "/api/v2/vm")[0])).To(Equal(map[string]any{
		"resourceIdentifier": "plan-1", "osIdentifier": "os-1", "dcIdentifier": "dc-1", "hostname": "n1",
		"userData": "#cloud-config", "tags": []any{"autoscaler"}, "addPrivateIp": true,
	}))
	g.Expect(c.CreateVM(ctx, CreateVMRequest{Hostname: "x"})).To(MatchError(ContainSubstring("missing resourceIdentifier, osIdentifier, dcIdentifier")))

	vms, err := c.ListVMs(ctx)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(vms).To(HaveLen(2))
	g.Expect(vms[0]).To(Equal(VM{Identifier: "vm-1", Hostname: "n1", DefaultIP: "1.2.3.4", PrivateIP: "10.0.0.2", SizeID: 4,
		DCIdentifier: "dc-1", CPU: 2, RAMMiB: 2048, SSDGB: 40, Status: "running", Tags: []string{"autoscaler", "ng-a"},
		CreatedOn: "2026-11-26T10:00:00Z", Created: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}))
	g.Expect(vms[1].Tags).To(Equal([]string{"a", "b"}))
	g.Expect(vms[1].Status).To(Equal("off"))

	vm, err := c.GetVM(ctx, "vm-1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(vm.Hostname).To(Equal("n1"))
	vm, err = c.GetVM(ctx, "vm-2")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(vm.Identifier).To(Equal("vm-2"))
	_, err = c.GetVM(ctx, "vm-3")
	g.Expect(err).To(MatchError(ErrInvalidResponse))
	_, err = c.GetVM(ctx, "vm-4")
	g.Expect(IsNotFound(err)).To(BeTrue())

	g.Expect(c.DeleteVM(ctx, "vm-1")).To(Succeed())
	g.Expect(jsonBody(g, srv.requestsTo("DELETE", "/api/v2/vm")[0])).To(Equal(map[string]any{
		"vmIdentifier": "vm-1", "deleteStatistic": map[string]any{"reason": "autoscaler", "note": "removed by vpsie-autoscaler"},
	}))
	g.Expect(IsNotFound(c.DeleteVM(ctx, "vm-1"))).To(BeTrue())

	plans, err := c.ListPlans(ctx, "dc-1", "os-1", "cat-1")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plans).To(Equal([]Plan{{Identifier: "plan-1", Nickname: "s-1", CPU: 1, RAMMiB: 1024, SSDGB: 25, TrafficGB: 1000, MonthlyUSD: 7.3}}))
	g.Expect(plans[0].Hourly()).To(BeNumerically("~", 0.01, 1e-12))
	g.Expect(jsonBody(g, srv.requestsTo("POST", "/apps/v2/resources")[0])).To(Equal(map[string]any{
		"dcIdentifier": "dc-1", "osIdentifier": "os-1", "planCatIdentifier": "cat-1",
	}))
}

func TestBaseURLPrefixAndPathOverride(t *testing.T) {
	g := NewWithT(t)
	srv := newAPIServer(t)
	srv.handle("POST", "/emu/v3/offers", ok([]any{map[string]any{"id": 1}}))
	c, _ := newTestClient(t, srv.URL+"/emu/", func(o *Options) { o.Paths.Offers = "/v3/offers" })
	offers, err := c.ListOffers(context.Background(), "dc")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(offers).To(HaveLen(1))
}
