package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func TestStaticTokenAuth(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name   string
		token  string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", "nope", http.StatusUnauthorized},
		{"static token", testToken, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.call("POST", "/apps/v2/k8s/offers", map[string]string{"dcIdentifier": testDC}, tc.token)
			NewWithT(t).Expect(a.Status).To(Equal(tc.status), a.Message)
		})
	}
	// A static token never expires.
	h.clock.Step(1000 * time.Hour)
	h.mustOK(h.api("GET", "/apps/v2/k8s/cluster/byId/"+testCluster, nil))
}

func postForm(h *harness, form url.Values) answer {
	req, err := http.NewRequest("POST", h.ts.URL+"/apps/v2/auth/from/api", strings.NewReader(form.Encode()))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return h.send(req)
}

func TestClientCredentialsAuth(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Switches.TokenTTL = Duration(10 * time.Minute) })
	g := NewWithT(t)

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		msg    string
	}{
		{"missing secret", url.Values{"clientId": {"test-client"}}, http.StatusBadRequest, "required"},
		{"missing both", url.Values{}, http.StatusBadRequest, "required"},
		{"wrong secret", url.Values{"clientId": {"test-client"}, "clientSecret": {"x"}}, http.StatusUnauthorized, "invalid client credentials"},
		{"wrong id", url.Values{"clientId": {"x"}, "clientSecret": {"test-secret"}}, http.StatusUnauthorized, "invalid client credentials"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := postForm(h, tc.form)
			NewWithT(t).Expect(a.Status).To(Equal(tc.status))
			NewWithT(t).Expect(a.Message).To(ContainSubstring(tc.msg))
		})
	}

	a := h.mustOK(postForm(h, url.Values{"clientId": {"test-client"}, "clientSecret": {"test-secret"}}))
	var tokens authAnswer
	a.into(t, &tokens)
	g.Expect(tokens.AccessToken.Token).NotTo(BeEmpty())
	g.Expect(tokens.RefreshToken.Token).NotTo(BeEmpty())
	g.Expect(a.Raw).To(HaveKey("accessToken"), "tokens also at the top level")
	exp, err := time.Parse(time.RFC3339, tokens.AccessToken.Expires)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(exp).To(BeTemporally("==", testStart.Add(10*time.Minute)))

	offers := map[string]string{"dcIdentifier": testDC}
	g.Expect(h.call("POST", "/apps/v2/k8s/offers", offers, tokens.AccessToken.Token).Status).To(Equal(http.StatusOK))
	h.clock.Step(10*time.Minute - time.Second)
	g.Expect(h.call("POST", "/apps/v2/k8s/offers", offers, tokens.AccessToken.Token).Status).To(Equal(http.StatusOK))
	h.clock.Step(time.Second)
	expired := h.call("POST", "/apps/v2/k8s/offers", offers, tokens.AccessToken.Token)
	g.Expect(expired.Status).To(Equal(http.StatusUnauthorized))
	g.Expect(expired.Message).To(ContainSubstring("expired"))

	// JSON credentials work as well.
	j := h.mustOK(h.call("POST", "/apps/v2/auth/from/api", `{"clientId":"test-client","clientSecret":"test-secret"}`, ""))
	var again authAnswer
	j.into(t, &again)
	g.Expect(again.AccessToken.Token).NotTo(Equal(tokens.AccessToken.Token))
	g.Expect(h.call("POST", "/apps/v2/k8s/offers", offers, again.AccessToken.Token).Status).To(Equal(http.StatusOK))
}

func TestOffers(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"no body", nil, http.StatusBadRequest, "body is required"},
		{"bad json", "{", http.StatusBadRequest, "invalid JSON"},
		{"wrong type", `{"dcIdentifier": 5}`, http.StatusBadRequest, "invalid JSON"},
		{"missing datacenter", map[string]string{}, http.StatusBadRequest, "dcIdentifier is required"},
		{"unknown datacenter", map[string]string{"dcIdentifier": "dc-nowhere"}, http.StatusNotFound, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.api("POST", "/apps/v2/k8s/offers", tc.body)
			NewWithT(t).Expect(a.Status).To(Equal(tc.status))
			NewWithT(t).Expect(a.Message).To(ContainSubstring(tc.msg))
		})
	}
	g := NewWithT(t)
	a := h.mustOK(h.api("POST", "/apps/v2/k8s/offers", map[string]string{"dcIdentifier": testDC}))
	var offs []Offering
	a.into(t, &offs)
	g.Expect(offs).To(Equal(testOfferings))
	g.Expect(a.Total).To(HaveValue(Equal(len(testOfferings))))
	g.Expect(string(a.Data)).To(ContainSubstring(`"hourly_price":0.00822`))
}

func TestGetCluster(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Clusters = []ClusterConfig{{Identifier: "cl-a", Name: "alpha", Datacenter: "dc-a"}, {Identifier: "cl-b"}}
	})
	g := NewWithT(t)
	a := h.api("GET", "/apps/v2/k8s/cluster/byId/cl-missing", nil)
	g.Expect(a.Status).To(Equal(http.StatusNotFound))
	g.Expect(a.Message).To(ContainSubstring("cl-missing"))

	c := h.cluster("cl-a")
	g.Expect(c.Identifier).To(Equal("cl-a"))
	g.Expect(c.ClusterName).To(Equal("alpha"))
	g.Expect(c.KubeVersion).To(Equal(DefaultKubeVersion))
	g.Expect(c.DCIdentifier).To(Equal("dc-a"))
	g.Expect(c.Nodes).To(HaveLen(1))
	g.Expect(c.Nodes[0].NodeType).To(Equal(NodeTypeMaster))
	g.Expect(c.Nodes[0].Status).To(Equal(StatusRunning))
	g.Expect(h.cluster("cl-b").DCIdentifier).To(Equal(DefaultDatacenter))

	// Offers answer for each configured datacenter.
	h.mustOK(h.api("POST", "/apps/v2/k8s/offers", map[string]string{"dcIdentifier": "dc-a"}))
}

func TestCreateNodeGroup(t *testing.T) {
	h := newHarness(t)
	g := NewWithT(t)
	a := h.mustOK(h.api("POST", "/apps/v2/k8s/cluster/add/group",
		map[string]any{"clusterIdentifier": testCluster, "groupName": "general-s-2vcpu-4gb", "KubeSizeID": 104}))
	g.Expect(string(a.Data)).To(Equal("true"), "the create answer carries no id")

	groups := h.groups(testCluster)
	g.Expect(groups).To(HaveLen(1))
	g.Expect(groups[0]).To(Equal(groupJSON{
		ID: 1, GroupName: "general-s-2vcpu-4gb", Identifier: groups[0].Identifier, BoxsizeID: 104,
		DCIdentifier: testDC, CPU: 2, RAM: 4096, SSD: 80, NodesCount: 0, IsActive: 1,
	}))
	g.Expect(groups[0].Identifier).To(MatchRegexp(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`))

	body := func(cluster, name string, size any) map[string]any {
		return map[string]any{"clusterIdentifier": cluster, "groupName": name, "KubeSizeID": size}
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"same size again", body(testCluster, "other", 104), http.StatusConflict, "only one node group per size"},
		{"same name again", body(testCluster, "general-s-2vcpu-4gb", 101), http.StatusConflict, "already exists"},
		{"unknown cluster", body("nope", "g", 101), http.StatusNotFound, "cluster \"nope\" not found"},
		{"unknown size", body(testCluster, "g", 999), http.StatusBadRequest, "unknown KubeSizeID 999"},
		{"size as string", body(testCluster, "g", "104"), http.StatusBadRequest, "invalid JSON"},
		{"missing size", map[string]any{"clusterIdentifier": testCluster, "groupName": "g"}, http.StatusBadRequest, "KubeSizeID is required"},
		{"missing name", body(testCluster, " ", 101), http.StatusBadRequest, "groupName is required"},
		{"long name", body(testCluster, strings.Repeat("a", 64), 101), http.StatusBadRequest, "at most 63"},
		{"missing cluster", body("", "g", 101), http.StatusBadRequest, "clusterIdentifier is required"},
		{"not json", "groupName=g", http.StatusBadRequest, "invalid JSON"},
		{"null", "null", http.StatusBadRequest, "clusterIdentifier is required"},
		{"array", "[]", http.StatusBadRequest, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.api("POST", "/apps/v2/k8s/cluster/add/group", tc.body)
			NewWithT(t).Expect(a.Status).To(Equal(tc.status), a.Message)
			NewWithT(t).Expect(a.Message).To(ContainSubstring(tc.msg))
		})
	}
	g.Expect(h.groups(testCluster)).To(HaveLen(1), "no failed create left a group behind")

	// Field names match case-insensitively, as with the real API's JSON decoder.
	h.mustOK(h.api("POST", "/apps/v2/k8s/cluster/add/group", `{"clusterIdentifier":"`+testCluster+`","groupName":"small","kubeSizeId":101}`))
	g.Expect(h.groups(testCluster)).To(HaveLen(2))
}

func TestListNodeGroupsUnknownCluster(t *testing.T) {
	h := newHarness(t)
	a := h.api("GET", "/apps/v2/k8s/node/groups/byClusterId/nope", nil)
	NewWithT(t).Expect(a.Status).To(Equal(http.StatusNotFound))
	// A cluster without groups lists none, with a total.
	empty := h.mustOK(h.api("GET", "/apps/v2/k8s/node/groups/byClusterId/"+testCluster, nil))
	NewWithT(t).Expect(string(empty.Data)).To(Equal("[]"))
	NewWithT(t).Expect(empty.Total).To(HaveValue(Equal(0)))
}

func TestDeleteNodeGroup(t *testing.T) {
	h := newHarness(t)
	g := NewWithT(t)
	busy := h.createGroup(testCluster, "busy", 104)
	idle := h.createGroup(testCluster, "idle", 101)
	h.addWorker(testCluster, busy)
	stat := map[string]any{"deleteStatistic": map[string]string{"reason": "autoscaler", "note": "unused"}}

	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		msg    string
	}{
		{"non-empty group", "/apps/v2/k8s/cluster/delete/group/1", stat, http.StatusConflict, "still has 1 nodes"},
		{"unknown group", "/apps/v2/k8s/cluster/delete/group/99", stat, http.StatusNotFound, "node group 99 not found"},
		{"not a number", "/apps/v2/k8s/cluster/delete/group/abc", stat, http.StatusBadRequest, "positive integer"},
		{"negative", "/apps/v2/k8s/cluster/delete/group/-1", stat, http.StatusBadRequest, "positive integer"},
		{"bad json", "/apps/v2/k8s/cluster/delete/group/2", "{", http.StatusBadRequest, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.api("DELETE", tc.path, tc.body)
			NewWithT(t).Expect(a.Status).To(Equal(tc.status), a.Message)
			NewWithT(t).Expect(a.Message).To(ContainSubstring(tc.msg))
		})
	}
	g.Expect(busy).To(Equal(1))
	h.mustOK(h.api("DELETE", "/apps/v2/k8s/cluster/delete/group/2", stat))
	g.Expect(h.groups(testCluster)).To(HaveLen(1))
	g.Expect(h.api("DELETE", "/apps/v2/k8s/cluster/delete/group/2", nil).Status).To(Equal(http.StatusNotFound))
	_ = idle

	// Once its worker is gone the group can be deleted (the body is optional).
	w := h.slaves(testCluster)[0]
	h.mustOK(h.api("DELETE", deleteWorkerPath(testCluster), map[string]string{"identifier": w.Identifier}))
	h.mustOK(h.api("DELETE", "/apps/v2/k8s/cluster/delete/group/1", nil))
	g.Expect(h.groups(testCluster)).To(BeEmpty())
}

func TestAddWorkerSync(t *testing.T) {
	h := newHarness(t)
	g := NewWithT(t)
	gid := h.createGroup(testCluster, "g", 104)
	w := h.addWorker(testCluster, gid)
	g.Expect(w.Identifier).NotTo(BeEmpty())
	g.Expect(w.Hostname).To(Equal("vpsie-w-00001"))
	g.Expect(w.Status).To(Equal(StatusProvisioning))

	slaves := h.slaves(testCluster)
	g.Expect(slaves).To(HaveLen(1))
	g.Expect(slaves[0]).To(Equal(nodeJSON{
		Identifier: w.Identifier, Hostname: w.Hostname, PrivateIP: slaves[0].PrivateIP, PublicIP: slaves[0].PublicIP,
		NodeType: NodeTypeSlave, GroupID: gid, BoxsizeID: 104, Status: StatusProvisioning,
		CreatedOn: testStart.Format(time.RFC3339),
	}))
	g.Expect(slaves[0].PrivateIP).To(HavePrefix("10."))
	g.Expect(h.groups(testCluster)[0].NodesCount).To(Equal(1))

	w2 := h.addWorker(testCluster, gid)
	g.Expect(w2.Identifier).NotTo(Equal(w.Identifier))
	g.Expect(w2.Hostname).To(Equal("vpsie-w-00002"))
}

func TestAddWorkerAsync(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.Switches.AddWorkerMode = AddWorkerAsync })
	g := NewWithT(t)
	gid := h.createGroup(testCluster, "g", 104)
	a := h.mustOK(h.api("POST", addWorkerPath(testCluster, gid), nil))
	g.Expect(string(a.Data)).To(Equal("true"))
	slaves := h.slaves(testCluster)
	g.Expect(slaves).To(HaveLen(1))
	g.Expect(slaves[0].GroupID).To(Equal(gid))
	g.Expect(slaves[0].Status).To(Equal(StatusProvisioning))
}

func TestAddWorkerErrors(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Clusters = []ClusterConfig{{Identifier: "cl-a"}, {Identifier: "cl-b"}}
	})
	ga := h.createGroup("cl-a", "a", 104)
	h.createGroup("cl-b", "b", 104)
	for _, tc := range []struct {
		name   string
		path   string
		status int
		msg    string
	}{
		{"unknown cluster", addWorkerPath("nope", ga), http.StatusNotFound, "cluster \"nope\" not found"},
		{"unknown group", addWorkerPath("cl-a", 77), http.StatusNotFound, "node group 77 not found"},
		{"group of another cluster", addWorkerPath("cl-b", ga), http.StatusNotFound, "not found in cluster \"cl-b\""},
		{"group not a number", "/apps/v2/k8s/cluster/byId/cl-a/add/slave/group/x", http.StatusBadRequest, "positive integer"},
		{"group zero", "/apps/v2/k8s/cluster/byId/cl-a/add/slave/group/0", http.StatusBadRequest, "positive integer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.api("POST", tc.path, nil)
			NewWithT(t).Expect(a.Status).To(Equal(tc.status), a.Message)
			NewWithT(t).Expect(a.Message).To(ContainSubstring(tc.msg))
		})
	}
	NewWithT(t).Expect(h.srv.Workers()).To(BeEmpty())
}

func TestDeleteWorker(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Clusters = []ClusterConfig{{Identifier: "cl-a"}, {Identifier: "cl-b"}}
	})
	g := NewWithT(t)
	w := h.addWorker("cl-a", h.createGroup("cl-a", "a", 104))
	master := h.cluster("cl-a").Nodes[0]
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
		msg    string
	}{
		{"unknown worker", deleteWorkerPath("cl-a"), map[string]string{"identifier": "ghost"}, http.StatusNotFound, "node \"ghost\" not found"},
		{"worker of another cluster", deleteWorkerPath("cl-b"), map[string]string{"identifier": w.Identifier}, http.StatusNotFound, "not found"},
		{"unknown cluster", deleteWorkerPath("nope"), map[string]string{"identifier": w.Identifier}, http.StatusNotFound, "cluster"},
		{"master", deleteWorkerPath("cl-a"), map[string]string{"identifier": master.Identifier}, http.StatusBadRequest, "master"},
		{"missing identifier", deleteWorkerPath("cl-a"), map[string]string{}, http.StatusBadRequest, "identifier is required"},
		{"no body", deleteWorkerPath("cl-a"), nil, http.StatusBadRequest, "body is required"},
		{"bad json", deleteWorkerPath("cl-a"), `{"identifier":`, http.StatusBadRequest, "invalid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.api("DELETE", tc.path, tc.body)
			NewWithT(t).Expect(a.Status).To(Equal(tc.status), a.Message)
			NewWithT(t).Expect(a.Message).To(ContainSubstring(tc.msg))
		})
	}
	g.Expect(h.slaves("cl-a")).To(HaveLen(1))
	h.mustOK(h.api("DELETE", deleteWorkerPath("cl-a"), map[string]string{"identifier": w.Identifier}))
	g.Expect(h.slaves("cl-a")).To(BeEmpty())
	g.Expect(h.api("DELETE", deleteWorkerPath("cl-a"), map[string]string{"identifier": w.Identifier}).Status).
		To(Equal(http.StatusNotFound), "a second delete says the worker is already gone")
}

func TestUnknownRoutesAnswerWithEnvelope(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/nope"},
		{"PUT", "/api/v2/vm"},
		{"GET", "/apps/v2/k8s/offers"},
		{"POST", "/apps/v2/k8s/cluster/byId/" + testCluster},
	} {
		a := h.api(tc.method, tc.path, nil)
		NewWithT(t).Expect(a.Status).To(Equal(http.StatusNotFound), tc.path)
		NewWithT(t).Expect(a.Message).To(ContainSubstring("no such endpoint"))
	}
}

// TestMalformedBodiesNeverBreakTheServer sends junk to every endpoint that reads a body: each
// answer must be a 4xx envelope, never a 5xx or a dropped connection.
func TestMalformedBodiesNeverBreakTheServer(t *testing.T) {
	h := newHarness(t)
	gid := h.createGroup(testCluster, "g", 104)
	endpoints := []struct{ method, path string }{
		{"POST", "/apps/v2/auth/from/api"},
		{"POST", "/apps/v2/k8s/offers"},
		{"POST", "/apps/v2/k8s/cluster/add/group"},
		{"DELETE", "/apps/v2/k8s/cluster/delete/group/99"},
		{"DELETE", deleteWorkerPath(testCluster)},
		{"POST", "/api/v2/vm"},
		{"DELETE", "/api/v2/vm"},
		{"POST", "/apps/v2/resources"},
		{"PUT", "/admin/config"},
	}
	bodies := []string{
		"{", "}", "null", "[]", "[1,2]", `"str"`, "42", "true", `{"a":`, "\x00\xff",
		`{"KubeSizeID":1e400}`, `{"KubeSizeID":-1,"clusterIdentifier":{}}`, `{"tags":"x"}`,
		`{"errorRates":{"add-worker":2}}`, `{"bootDelay":"forever"}`,
		strings.Repeat("[", 100000), `{"hostname":"` + strings.Repeat("x", 2<<20) + `"}`,
	}
	for _, e := range endpoints {
		for _, b := range bodies {
			a := h.api(e.method, e.path, b)
			if a.Status < 400 || a.Status >= 500 {
				t.Errorf("%s %s with %.30q: status %d (%s)", e.method, e.path, b, a.Status, a.Message)
			}
		}
	}
	NewWithT(t).Expect(h.srv.Groups()).To(HaveLen(1))
	NewWithT(t).Expect(h.srv.Groups()[0].ID).To(Equal(gid))
	NewWithT(t).Expect(h.srv.VMs()).To(BeEmpty())
}
