package emulator

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"time"
)

// admin guards an admin endpoint: loopback clients only, and the admin token when one is set.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			writeError(w, http.StatusForbidden, "admin endpoints answer loopback clients only")
			return
		}
		if s.cfg.AdminToken != "" &&
			subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Admin-Token")), []byte(s.cfg.AdminToken)) != 1 {
			writeError(w, http.StatusUnauthorized, "missing or wrong X-Admin-Token")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		h(w, r)
	}
}

// AdminWorker is a worker as GET /admin/workers reports it.
type AdminWorker struct {
	Identifier  string    `json:"identifier"`
	Hostname    string    `json:"hostname"`
	Cluster     string    `json:"cluster"`
	GroupID     int       `json:"groupId"`
	Size        string    `json:"size"`
	SizeID      int       `json:"sizeId"`
	Status      string    `json:"status"`
	NodeCreated bool      `json:"nodeCreated"`
	CreatedAt   time.Time `json:"createdAt"`
	// Listed says whether the worker shows in the cluster's node list yet (see AsyncListDelay).
	Listed bool `json:"listed"`
}

// AdminVM is a VM as GET /admin/vms reports it.
type AdminVM struct {
	Identifier  string    `json:"identifier"`
	Hostname    string    `json:"hostname"`
	Datacenter  string    `json:"datacenter"`
	Plan        string    `json:"plan"`
	PlanID      int       `json:"planId"`
	Tags        []string  `json:"tags"`
	Status      string    `json:"status"`
	NodeCreated bool      `json:"nodeCreated"`
	CreatedAt   time.Time `json:"createdAt"`
}

// AdminGroup is a node group as GET /admin/groups reports it.
type AdminGroup struct {
	ID      int    `json:"id"`
	Name    string `json:"name"`
	Cluster string `json:"cluster"`
	Size    string `json:"size"`
	SizeID  int    `json:"sizeId"`
	Nodes   int    `json:"nodes"`
}

// CallStats is the answer of GET /admin/calls: calls received per call name (whatever their
// outcome) and answers per call name and HTTP status.
type CallStats struct {
	Calls    map[string]int         `json:"calls"`
	Statuses map[string]map[int]int `json:"statuses"`
}

// Workers lists every worker of every cluster (not the masters), oldest first.
func (s *Server) Workers() []AdminWorker {
	s.mu.Lock()
	defer s.mu.Unlock()
	all := make([]*worker, 0, len(s.workers))
	for _, w := range s.workers {
		all = append(all, w)
	}
	sortWorkers(all)
	now := s.clock.Now()
	out := make([]AdminWorker, 0, len(all))
	for _, w := range all {
		out = append(out, AdminWorker{
			Identifier: w.Identifier, Hostname: w.Hostname, Cluster: w.ClusterID, GroupID: w.GroupID,
			Size: w.Size.Name, SizeID: w.Size.ID, Status: w.Status, NodeCreated: w.NodeCreated, CreatedAt: w.CreatedAt,
			Listed: !now.Before(w.ListedAt),
		})
	}
	return out
}

// VMs lists every VM, oldest first.
func (s *Server) VMs() []AdminVM {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []AdminVM{}
	for _, v := range s.sortedVMs() {
		out = append(out, AdminVM{
			Identifier: v.Identifier, Hostname: v.Hostname, Datacenter: v.Datacenter, Plan: v.Plan.Name,
			PlanID: v.Plan.ID, Tags: v.Tags, Status: v.Status, NodeCreated: v.NodeCreated, CreatedAt: v.CreatedAt,
		})
	}
	return out
}

// Groups lists every node group of every cluster by id.
func (s *Server) Groups() []AdminGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []AdminGroup{}
	for _, g := range s.groupsOf("") {
		out = append(out, AdminGroup{ID: g.ID, Name: g.GroupName, Cluster: s.groups[g.ID].ClusterID,
			Size: s.groups[g.ID].Size.Name, SizeID: g.BoxsizeID, Nodes: g.NodesCount})
	}
	return out
}

// Calls returns a copy of the call counters.
func (s *Server) Calls() CallStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := CallStats{Calls: cloneMap(s.calls), Statuses: map[string]map[int]int{}}
	for k, v := range s.statuses {
		m := make(map[int]int, len(v))
		for code, n := range v {
			m[code] = n
		}
		out.Statuses[k] = m
	}
	return out
}

// Switches returns the current switches.
func (s *Server) Switches() Switches {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.switches.clone()
}

// SetSwitches validates and replaces the switches.
func (s *Server) SetSwitches(sw Switches) error {
	sw = sw.clone()
	sw.defaults()
	if err := sw.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.switches = sw
	return nil
}

// Reset forgets every group, worker, VM and counter and restores the initial switches. Nodes of
// booted workers and VMs are deleted on the next reconcile. Issued tokens stay valid.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetState()
	s.switches = s.initialSwitches.clone()
	s.poke()
}

func (s *Server) handleAdminWorkers(w http.ResponseWriter, _ *http.Request) {
	writeList(w, s.Workers())
}

func (s *Server) handleAdminVMs(w http.ResponseWriter, _ *http.Request) { writeList(w, s.VMs()) }

func (s *Server) handleAdminGroups(w http.ResponseWriter, _ *http.Request) { writeList(w, s.Groups()) }

func (s *Server) handleAdminCalls(w http.ResponseWriter, _ *http.Request) {
	writeData(w, "ok", s.Calls())
}

func (s *Server) handleAdminGetConfig(w http.ResponseWriter, _ *http.Request) {
	writeData(w, "ok", s.Switches())
}

// handleAdminPutConfig merges the body into the current switches: fields absent from the body
// keep their values, map entries are added or replaced.
func (s *Server) handleAdminPutConfig(w http.ResponseWriter, r *http.Request) {
	sw := s.Switches()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading request body: %v", err)
		return
	}
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		writeError(w, http.StatusBadRequest, "config must be a JSON object")
		return
	}
	// Unknown fields are refused: a misspelt switch silently ignored would make a test lie.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sw); err != nil {
		writeError(w, http.StatusBadRequest, "invalid config: %v", err)
		return
	}
	if err := s.SetSwitches(sw); err != nil {
		writeError(w, http.StatusBadRequest, "invalid config: %v", err)
		return
	}
	writeData(w, "config updated", s.Switches())
}

func (s *Server) handleAdminReset(w http.ResponseWriter, _ *http.Request) {
	s.Reset()
	writeData(w, "reset", true)
}

func (s *Server) handleAdminReconcile(w http.ResponseWriter, r *http.Request) {
	if err := s.Reconcile(r.Context()); err != nil {
		writeError(w, http.StatusInternalServerError, "reconcile: %v", err)
		return
	}
	writeData(w, "reconciled", true)
}
