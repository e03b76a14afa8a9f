package emulator

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

type vmJSON struct {
	Identifier   string   `json:"identifier"`
	Hostname     string   `json:"hostname"`
	DefaultIP    string   `json:"default_ip"`
	PrivateIP    string   `json:"private_ip"`
	BoxsizeID    int      `json:"boxsize_id"`
	DCIdentifier string   `json:"dcIdentifier"`
	CPU          int      `json:"cpu"`
	RAM          int      `json:"ram"`
	SSD          int      `json:"ssd"`
	Status       string   `json:"status"`
	State        string   `json:"state"`
	Tags         []string `json:"tags"`
	CreatedOn    string   `json:"created_on"`
}

func (v *vm) json() vmJSON {
	return vmJSON{
		Identifier: v.Identifier, Hostname: v.Hostname, DefaultIP: v.PublicIP, PrivateIP: v.PrivateIP,
		BoxsizeID: v.Plan.ID, DCIdentifier: v.Datacenter, CPU: v.Plan.CPU, RAM: v.Plan.RAM, SSD: v.Plan.Disk,
		Status: v.Status, State: v.Status, Tags: slices.Clone(v.Tags), CreatedOn: v.CreatedAt.UTC().Format(time.RFC3339),
	}
}

// sortedVMs lists VMs by creation. Callers hold s.mu.
func (s *Server) sortedVMs() []*vm {
	out := make([]*vm, 0, len(s.vms))
	for _, v := range s.vms {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *vm) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Hostname, b.Hostname)
	})
	return out
}

func (s *Server) handleCreateVM(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ResourceIdentifier string   `json:"resourceIdentifier"`
		OSIdentifier       string   `json:"osIdentifier"`
		DCIdentifier       string   `json:"dcIdentifier"`
		Hostname           string   `json:"hostname"`
		ProjectID          string   `json:"projectId"`
		UserData           string   `json:"userData"`
		Tags               []string `json:"tags"`
		SSHKeyIdentifier   string   `json:"sshKeyIdentifier"`
		AddPrivateIP       any      `json:"addPrivateIp"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	switch {
	case body.ResourceIdentifier == "":
		writeError(w, http.StatusBadRequest, "resourceIdentifier is required")
		return
	case body.DCIdentifier == "":
		writeError(w, http.StatusBadRequest, "dcIdentifier is required")
		return
	case body.Hostname == "":
		writeError(w, http.StatusBadRequest, "hostname is required")
		return
	}
	if errs := validation.IsDNS1123Label(body.Hostname); len(errs) > 0 {
		writeError(w, http.StatusBadRequest, "invalid hostname %q: %s", body.Hostname, strings.Join(errs, "; "))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	plan, ok := s.offeringByPlan(body.ResourceIdentifier)
	if !ok {
		writeError(w, http.StatusBadRequest, "unknown resourceIdentifier %q", body.ResourceIdentifier)
		return
	}
	if !s.requireDatacenter(w, body.DCIdentifier) {
		return
	}
	for _, v := range s.vms {
		if v.Hostname == body.Hostname {
			writeError(w, http.StatusConflict, "hostname %q is already in use by vm %s", body.Hostname, v.Identifier)
			return
		}
	}
	if limit := s.switches.MaxVMs; limit > 0 && len(s.vms) >= limit {
		writeError(w, http.StatusForbidden, "creating a vm exceeds the allowed limit of %d vms for this account", limit)
		return
	}
	if s.sizeUnavailable(plan) {
		writeError(w, http.StatusForbidden, capacityMessage, plan.Name, body.DCIdentifier)
		return
	}
	priv, pub := s.nextAddresses()
	v := &vm{
		Identifier: s.newUUID(), Hostname: body.Hostname, Datacenter: body.DCIdentifier,
		OSIdentifier: body.OSIdentifier, ProjectID: body.ProjectID, Tags: slices.Clone(body.Tags),
		Plan: plan, PrivateIP: priv, PublicIP: pub, Status: StatusProvisioning, CreatedAt: s.clock.Now(),
	}
	s.vms[v.Identifier] = v
	s.log.Info("vm created", "vm", v.Identifier, "hostname", v.Hostname, "plan", plan.Name)
	s.poke()
	// Like the real API, the answer does not carry the VM's identifier: clients find it by hostname.
	writeData(w, "vm creation started", true)
}

func (s *Server) handleListVMs(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []vmJSON{}
	for _, v := range s.sortedVMs() {
		out = append(out, v.json())
	}
	writeList(w, out)
}

func (s *Server) handleGetVM(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vms[r.PathValue("vm")]
	if !ok {
		writeError(w, http.StatusNotFound, "vm %q not found", r.PathValue("vm"))
		return
	}
	writeData(w, "ok", map[string]any{"vmData": v.json()})
}

func (s *Server) handleDeleteVM(w http.ResponseWriter, r *http.Request) {
	var body struct {
		VMIdentifier    string `json:"vmIdentifier"`
		DeleteStatistic any    `json:"deleteStatistic"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	if body.VMIdentifier == "" {
		writeError(w, http.StatusBadRequest, "vmIdentifier is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vms[body.VMIdentifier]
	if !ok {
		writeError(w, http.StatusNotFound, "vm %q not found", body.VMIdentifier)
		return
	}
	delete(s.vms, v.Identifier)
	s.queueNodeDelete(v.Hostname, v.Identifier, v.Status == StatusRunning)
	s.log.Info("vm deleted", "vm", v.Identifier, "hostname", v.Hostname)
	s.poke()
	writeData(w, "vm deleted", true)
}

type planJSON struct {
	Identifier string  `json:"identifier"`
	Nickname   string  `json:"nickname"`
	Category   string  `json:"category,omitempty"`
	CPU        int     `json:"cpu"`
	RAM        int     `json:"ram"`
	SSD        int     `json:"ssd"`
	Traffic    int     `json:"traffic"`
	Price      float64 `json:"price"`
}

func (s *Server) handlePlans(w http.ResponseWriter, r *http.Request) {
	var body struct {
		DCIdentifier      string `json:"dcIdentifier"`
		OSIdentifier      string `json:"osIdentifier"`
		PlanCatIdentifier string `json:"planCatIdentifier"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	if !s.requireDatacenter(w, body.DCIdentifier) {
		return
	}
	// planCatIdentifier filters when it names a catalogue category; real category ids are opaque
	// UUIDs the emulator does not know, so any other value lists every plan.
	filter := ""
	for _, o := range s.cfg.Offerings {
		if o.Category != "" && o.Category == body.PlanCatIdentifier {
			filter = o.Category
		}
	}
	out := []planJSON{}
	for _, o := range s.cfg.Offerings {
		if filter != "" && o.Category != filter {
			continue
		}
		out = append(out, planJSON{
			Identifier: planIdentifier(o), Nickname: o.Name, Category: o.Category, CPU: o.CPU, RAM: o.RAM,
			SSD: o.Disk, Traffic: 1000 * o.CPU, Price: o.Price,
		})
	}
	writeList(w, out)
}
