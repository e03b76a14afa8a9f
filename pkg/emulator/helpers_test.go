package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	clocktesting "k8s.io/utils/clock/testing"
)

const (
	testToken   = "static-test-token"
	testCluster = DefaultClusterID
	testDC      = DefaultDatacenter
)

var testStart = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// testOfferings is a small catalogue in the shape of the bench file.
var testOfferings = []Offering{
	{ID: 101, Name: "s-1vcpu-1gb", Category: "standard", CPU: 1, RAM: 1024, Disk: 25, Price: 6, HourlyPrice: 0.00822},
	{ID: 104, Name: "s-2vcpu-4gb", Category: "standard", CPU: 2, RAM: 4096, Disk: 80, Price: 24, HourlyPrice: 0.03288},
	{ID: 301, Name: "m-2vcpu-16gb", Category: "memory-optimized", CPU: 2, RAM: 16384, Disk: 100, Price: 80},
}

// harness is an emulator behind httptest with a fake clock, spoken to over raw HTTP.
type harness struct {
	t     *testing.T
	g     *WithT
	srv   *Server
	ts    *httptest.Server
	clock *clocktesting.FakeClock
}

func newHarness(t *testing.T, mutate ...func(*Config)) *harness {
	t.Helper()
	fc := clocktesting.NewFakeClock(testStart)
	cfg := Config{
		Offerings:    testOfferings,
		Tokens:       []string{testToken},
		ClientID:     "test-client",
		ClientSecret: "test-secret",
		Clock:        fc,
		Seed:         42,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("creating emulator: %v", err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &harness{t: t, g: NewWithT(t), srv: srv, ts: ts, clock: fc}
}

// answer is a decoded envelope plus the HTTP parts tests look at.
type answer struct {
	Status  int
	Header  http.Header
	Raw     map[string]json.RawMessage
	Error   bool            `json:"error"`
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	Total   *int            `json:"total"`
}

// into decodes the data field.
func (a answer) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Data, v); err != nil {
		t.Fatalf("decoding data %s: %v", a.Data, err)
	}
}

// call sends a request. body may be nil (no body), a string (sent as is) or a value (JSON).
func (h *harness) call(method, path string, body any, token string) answer {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatalf("encoding body: %v", err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatalf("building request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Vpsie-Auth", token)
	}
	return h.send(req)
}

func (h *harness) send(req *http.Request) answer {
	h.t.Helper()
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("reading answer: %v", err)
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(b, &a); err != nil {
		h.t.Fatalf("%s %s: answer is not an envelope: %v: %s", req.Method, req.URL.Path, err, b)
	}
	if err := json.Unmarshal(b, &a.Raw); err != nil {
		h.t.Fatalf("answer is not an object: %s", b)
	}
	for _, k := range []string{"error", "code", "message", "data"} {
		if _, ok := a.Raw[k]; !ok {
			h.t.Fatalf("%s %s: envelope lacks %q: %s", req.Method, req.URL.Path, k, b)
		}
	}
	if a.Error != (a.Status >= 400) || a.Code != a.Status {
		h.t.Fatalf("%s %s: envelope error=%v code=%d disagrees with HTTP %d", req.Method, req.URL.Path, a.Error, a.Code, a.Status)
	}
	return a
}

// api is call with the static token.
func (h *harness) api(method, path string, body any) answer {
	h.t.Helper()
	return h.call(method, path, body, testToken)
}

func (h *harness) mustOK(a answer) answer {
	h.t.Helper()
	if a.Status != http.StatusOK {
		h.t.Fatalf("want 200, got %d: %s", a.Status, a.Message)
	}
	return a
}

// createGroup creates a node group and returns its id, found by listing (the create answer has none).
func (h *harness) createGroup(cluster, name string, sizeID int) int {
	h.t.Helper()
	h.mustOK(h.api("POST", "/apps/v2/k8s/cluster/add/group",
		map[string]any{"clusterIdentifier": cluster, "groupName": name, "KubeSizeID": sizeID}))
	for _, g := range h.groups(cluster) {
		if g.GroupName == name {
			return g.ID
		}
	}
	h.t.Fatalf("group %s not listed after create", name)
	return 0
}

func (h *harness) groups(cluster string) []groupJSON {
	h.t.Helper()
	var out []groupJSON
	h.mustOK(h.api("GET", "/apps/v2/k8s/node/groups/byClusterId/"+cluster, nil)).into(h.t, &out)
	return out
}

func (h *harness) cluster(id string) clusterJSON {
	h.t.Helper()
	var out clusterJSON
	h.mustOK(h.api("GET", "/apps/v2/k8s/cluster/byId/"+id, nil)).into(h.t, &out)
	return out
}

func addWorkerPath(cluster string, group int) string {
	return fmt.Sprintf("/apps/v2/k8s/cluster/byId/%s/add/slave/group/%d", cluster, group)
}

func deleteWorkerPath(cluster string) string {
	return "/apps/v2/k8s/cluster/byId/" + cluster + "/delete/slave"
}

// addWorker adds a worker in sync mode and returns its answer.
func (h *harness) addWorker(cluster string, group int) addWorkerAnswer {
	h.t.Helper()
	var out addWorkerAnswer
	h.mustOK(h.api("POST", addWorkerPath(cluster, group), nil)).into(h.t, &out)
	return out
}

// slaves returns the worker nodes of a cluster's node list.
func (h *harness) slaves(cluster string) []nodeJSON {
	h.t.Helper()
	var out []nodeJSON
	for _, n := range h.cluster(cluster).Nodes {
		if n.NodeType == NodeTypeSlave {
			out = append(out, n)
		}
	}
	return out
}

// putConfig merges a switches document through the admin API.
func (h *harness) putConfig(doc string) answer {
	h.t.Helper()
	return h.call("PUT", "/admin/config", doc, "")
}
