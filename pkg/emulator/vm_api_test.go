package emulator

import (
	"net/http"
	"testing"
	"time"

	. "github.com/onsi/gomega"
)

func (h *harness) plans(body any) []planJSON {
	h.t.Helper()
	var out []planJSON
	h.mustOK(h.api("POST", "/apps/v2/resources", body)).into(h.t, &out)
	return out
}

func vmBody(plan, hostname string) map[string]any {
	return map[string]any{
		"resourceIdentifier": plan, "osIdentifier": "ubuntu-24.04", "dcIdentifier": testDC,
		"hostname": hostname, "projectId": "p1", "userData": "#cloud-config\n", "tags": []string{"vpsie-autoscaler", "ng-general"},
		"sshKeyIdentifier": "", "addPrivateIp": true,
	}
}

func TestPlans(t *testing.T) {
	h := newHarness(t)
	g := NewWithT(t)
	all := h.plans(map[string]string{"dcIdentifier": testDC, "osIdentifier": "ubuntu", "planCatIdentifier": ""})
	g.Expect(all).To(HaveLen(len(testOfferings)))
	g.Expect(all[1]).To(Equal(planJSON{
		Identifier: "00000000-0000-4000-8000-000000000104", Nickname: "s-2vcpu-4gb", Category: "standard",
		CPU: 2, RAM: 4096, SSD: 80, Traffic: 2000, Price: 24,
	}))
	mem := h.plans(map[string]string{"dcIdentifier": testDC, "planCatIdentifier": "memory-optimized"})
	g.Expect(mem).To(HaveLen(1))
	g.Expect(mem[0].Nickname).To(Equal("m-2vcpu-16gb"))
	g.Expect(h.plans(map[string]string{"dcIdentifier": testDC, "planCatIdentifier": "0b5e-opaque"})).To(HaveLen(len(testOfferings)))

	for _, tc := range []struct {
		name   string
		body   any
		status int
	}{
		{"missing datacenter", map[string]string{}, http.StatusBadRequest},
		{"unknown datacenter", map[string]string{"dcIdentifier": "dc-x"}, http.StatusNotFound},
		{"bad json", "{", http.StatusBadRequest},
		{"no body", nil, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			NewWithT(t).Expect(h.api("POST", "/apps/v2/resources", tc.body).Status).To(Equal(tc.status))
		})
	}
}

func TestVMLifecycle(t *testing.T) {
	h := newHarness(t)
	g := NewWithT(t)
	plan := h.plans(map[string]string{"dcIdentifier": testDC})[1]

	a := h.mustOK(h.api("POST", "/api/v2/vm", vmBody(plan.Identifier, "node-a")))
	g.Expect(string(a.Data)).To(Equal("true"), "the create answer carries no id")

	var list []vmJSON
	la := h.mustOK(h.api("GET", "/api/v2/vm", nil))
	la.into(t, &list)
	g.Expect(la.Total).To(HaveValue(Equal(1)))
	g.Expect(list).To(HaveLen(1))
	v := list[0]
	g.Expect(v).To(Equal(vmJSON{
		Identifier: v.Identifier, Hostname: "node-a", DefaultIP: v.DefaultIP, PrivateIP: v.PrivateIP, BoxsizeID: 104,
		DCIdentifier: testDC, CPU: 2, RAM: 4096, SSD: 80, Status: StatusProvisioning, State: StatusProvisioning,
		Tags: []string{"vpsie-autoscaler", "ng-general"}, CreatedOn: testStart.Format(time.RFC3339),
	}))

	var got struct {
		VMData vmJSON `json:"vmData"`
	}
	h.mustOK(h.api("GET", "/api/v2/vm/"+v.Identifier, nil)).into(t, &got)
	g.Expect(got.VMData).To(Equal(v))

	h.clock.Step(time.Minute)
	g.Expect(h.srv.Reconcile(t.Context())).To(Succeed())
	h.mustOK(h.api("GET", "/api/v2/vm/"+v.Identifier, nil)).into(t, &got)
	g.Expect(got.VMData.Status).To(Equal(StatusRunning))

	h.mustOK(h.api("DELETE", "/api/v2/vm", map[string]any{"vmIdentifier": v.Identifier,
		"deleteStatistic": map[string]string{"reason": "scale down"}}))
	g.Expect(h.api("GET", "/api/v2/vm/"+v.Identifier, nil).Status).To(Equal(http.StatusNotFound))
	g.Expect(h.api("DELETE", "/api/v2/vm", map[string]any{"vmIdentifier": v.Identifier}).Status).To(Equal(http.StatusNotFound))
	h.mustOK(h.api("GET", "/api/v2/vm", nil)).into(t, &list)
	g.Expect(list).To(BeEmpty())
}

func TestVMErrors(t *testing.T) {
	h := newHarness(t)
	plan := "00000000-0000-4000-8000-000000000104"
	h.mustOK(h.api("POST", "/api/v2/vm", vmBody(plan, "taken")))
	with := func(k string, v any) map[string]any {
		b := vmBody(plan, "fresh")
		b[k] = v
		return b
	}
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   any
		status int
		msg    string
	}{
		{"duplicate hostname", "POST", "/api/v2/vm", vmBody(plan, "taken"), http.StatusConflict, "already in use"},
		{"invalid hostname", "POST", "/api/v2/vm", with("hostname", "Bad_Name"), http.StatusBadRequest, "invalid hostname"},
		{"missing hostname", "POST", "/api/v2/vm", with("hostname", ""), http.StatusBadRequest, "hostname is required"},
		{"unknown plan", "POST", "/api/v2/vm", with("resourceIdentifier", "p-x"), http.StatusBadRequest, "unknown resourceIdentifier"},
		{"missing plan", "POST", "/api/v2/vm", with("resourceIdentifier", ""), http.StatusBadRequest, "resourceIdentifier is required"},
		{"unknown datacenter", "POST", "/api/v2/vm", with("dcIdentifier", "dc-x"), http.StatusNotFound, "datacenter"},
		{"missing datacenter", "POST", "/api/v2/vm", with("dcIdentifier", ""), http.StatusBadRequest, "dcIdentifier is required"},
		{"tags not a list", "POST", "/api/v2/vm", with("tags", "a"), http.StatusBadRequest, "invalid JSON"},
		{"get unknown", "GET", "/api/v2/vm/ghost", nil, http.StatusNotFound, "vm \"ghost\" not found"},
		{"delete unknown", "DELETE", "/api/v2/vm", map[string]string{"vmIdentifier": "ghost"}, http.StatusNotFound, "not found"},
		{"delete without id", "DELETE", "/api/v2/vm", map[string]string{}, http.StatusBadRequest, "vmIdentifier is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := h.api(tc.method, tc.path, tc.body)
			NewWithT(t).Expect(a.Status).To(Equal(tc.status), a.Message)
			NewWithT(t).Expect(a.Message).To(ContainSubstring(tc.msg))
		})
	}
	NewWithT(t).Expect(h.srv.VMs()).To(HaveLen(1))
}

func TestVMQuotaAndCapacity(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Switches.MaxVMs = 1
		c.Switches.UnavailableSizes = []string{"s-1vcpu-1gb"}
	})
	g := NewWithT(t)
	unavailable := h.api("POST", "/api/v2/vm", vmBody("00000000-0000-4000-8000-000000000101", "a"))
	g.Expect(unavailable.Status).To(Equal(http.StatusForbidden))
	g.Expect(unavailable.Message).To(ContainSubstring("insufficient capacity"))
	h.mustOK(h.api("POST", "/api/v2/vm", vmBody("00000000-0000-4000-8000-000000000104", "b")))
	quota := h.api("POST", "/api/v2/vm", vmBody("00000000-0000-4000-8000-000000000104", "c"))
	g.Expect(quota.Status).To(Equal(http.StatusForbidden))
	g.Expect(quota.Message).To(ContainSubstring("exceeds the allowed limit"))
}
