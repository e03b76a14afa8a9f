package emulator

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type tokenJSON struct {
	Token   string `json:"token"`
	Expires string `json:"expires"`
}

type authAnswer struct {
	AccessToken  tokenJSON `json:"accessToken"`
	RefreshToken tokenJSON `json:"refreshToken"`
}

func (s *Server) handleAuth(w http.ResponseWriter, r *http.Request) {
	var clientID, clientSecret string
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var body struct {
			ClientID     string `json:"clientId"`
			ClientSecret string `json:"clientSecret"`
		}
		if !decodeBody(w, r, &body, false) {
			return
		}
		clientID, clientSecret = body.ClientID, body.ClientSecret
	} else {
		if err := r.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "invalid form body: %v", err)
			return
		}
		clientID, clientSecret = r.PostForm.Get("clientId"), r.PostForm.Get("clientSecret")
	}
	if clientID == "" || clientSecret == "" {
		writeError(w, http.StatusBadRequest, "clientId and clientSecret are required")
		return
	}
	if s.cfg.ClientID == "" || clientID != s.cfg.ClientID || clientSecret != s.cfg.ClientSecret {
		writeError(w, http.StatusUnauthorized, "invalid client credentials")
		return
	}
	s.mu.Lock()
	now := s.clock.Now()
	ttl := time.Duration(s.switches.TokenTTL)
	access, refresh := "emu-at-"+s.newUUID(), "emu-rt-"+s.newUUID()
	accessExp := now.Add(ttl)
	s.tokens[access] = accessExp
	s.mu.Unlock()
	ans := authAnswer{
		AccessToken:  tokenJSON{Token: access, Expires: accessExp.UTC().Format(time.RFC3339)},
		RefreshToken: tokenJSON{Token: refresh, Expires: now.Add(2 * ttl).UTC().Format(time.RFC3339)},
	}
	// The tokens are both in data (the envelope rule) and at the top level (the bare shape some
	// VPSie tools read), so either reading of the contract works.
	writeJSON(w, http.StatusOK, struct {
		envelope
		authAnswer
	}{envelope: envelope{Code: http.StatusOK, Message: "ok", Data: ans}, authAnswer: ans})
}

func (s *Server) handleOffers(w http.ResponseWriter, r *http.Request) {
	var body struct {
		DCIdentifier string `json:"dcIdentifier"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	if !s.requireDatacenter(w, body.DCIdentifier) {
		return
	}
	writeList(w, s.cfg.Offerings)
}

type nodeJSON struct {
	Identifier string `json:"identifier"`
	Hostname   string `json:"hostname"`
	PrivateIP  string `json:"private_ip"`
	PublicIP   string `json:"public_ip"`
	NodeType   string `json:"node_type"`
	GroupID    int    `json:"group_id"`
	BoxsizeID  int    `json:"boxsize_id"`
	Status     string `json:"status"`
	CreatedOn  string `json:"created_on"`
}

func (w *worker) json() nodeJSON {
	return nodeJSON{
		Identifier: w.Identifier, Hostname: w.Hostname, PrivateIP: w.PrivateIP, PublicIP: w.PublicIP,
		NodeType: w.NodeType, GroupID: w.GroupID, BoxsizeID: w.Size.ID, Status: w.Status,
		CreatedOn: w.CreatedAt.UTC().Format(time.RFC3339),
	}
}

type clusterJSON struct {
	Identifier   string     `json:"identifier"`
	ClusterName  string     `json:"cluster_name"`
	KubeVersion  string     `json:"kube_version"`
	DCIdentifier string     `json:"dcIdentifier"`
	Nodes        []nodeJSON `json:"nodes"`
}

func (s *Server) handleGetCluster(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[r.PathValue("cluster")]
	if !ok {
		writeError(w, http.StatusNotFound, "cluster %q not found", r.PathValue("cluster"))
		return
	}
	out := clusterJSON{
		Identifier: c.cfg.Identifier, ClusterName: c.cfg.Name, KubeVersion: c.cfg.KubeVersion,
		DCIdentifier: c.cfg.Datacenter, Nodes: []nodeJSON{c.master.json()},
	}
	for _, wk := range s.listedWorkersOf(c.cfg.Identifier, 0) {
		out.Nodes = append(out.Nodes, wk.json())
	}
	writeData(w, "ok", out)
}

type groupJSON struct {
	ID           int    `json:"id"`
	GroupName    string `json:"group_name"`
	Identifier   string `json:"identifier"`
	BoxsizeID    int    `json:"boxsize_id"`
	DCIdentifier string `json:"dcIdentifier"`
	CPU          int    `json:"cpu"`
	RAM          int    `json:"ram"`
	SSD          int    `json:"ssd"`
	NodesCount   int    `json:"nodes_count"`
	IsActive     int    `json:"is_active"`
}

// groupsOf lists a cluster's groups by id. Callers hold s.mu.
func (s *Server) groupsOf(clusterID string) []groupJSON {
	out := []groupJSON{}
	for id := 1; id <= s.nextGroupID; id++ {
		g, ok := s.groups[id]
		if !ok || (clusterID != "" && g.ClusterID != clusterID) {
			continue
		}
		out = append(out, groupJSON{
			ID: g.ID, GroupName: g.Name, Identifier: g.Identifier, BoxsizeID: g.Size.ID,
			DCIdentifier: g.Datacenter, CPU: g.Size.CPU, RAM: g.Size.RAM, SSD: g.Size.Disk,
			NodesCount: len(s.listedWorkersOf(g.ClusterID, g.ID)), IsActive: 1,
		})
	}
	return out
}

func (s *Server) handleListGroups(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := r.PathValue("cluster")
	if _, ok := s.clusters[id]; !ok {
		writeError(w, http.StatusNotFound, "cluster %q not found", id)
		return
	}
	writeList(w, s.groupsOf(id))
}

func (s *Server) handleCreateGroup(w http.ResponseWriter, r *http.Request) {
	var body struct {
		ClusterIdentifier string `json:"clusterIdentifier"`
		GroupName         string `json:"groupName"`
		KubeSizeID        *int   `json:"KubeSizeID"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	switch {
	case body.ClusterIdentifier == "":
		writeError(w, http.StatusBadRequest, "clusterIdentifier is required")
		return
	case strings.TrimSpace(body.GroupName) == "":
		writeError(w, http.StatusBadRequest, "groupName is required")
		return
	case len(body.GroupName) > 63:
		writeError(w, http.StatusBadRequest, "groupName must be at most 63 characters")
		return
	case body.KubeSizeID == nil:
		writeError(w, http.StatusBadRequest, "KubeSizeID is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[body.ClusterIdentifier]
	if !ok {
		writeError(w, http.StatusNotFound, "cluster %q not found", body.ClusterIdentifier)
		return
	}
	size, ok := s.offeringByID(*body.KubeSizeID)
	if !ok {
		writeError(w, http.StatusBadRequest, "unknown KubeSizeID %d", *body.KubeSizeID)
		return
	}
	for _, g := range s.groups {
		if g.ClusterID != c.cfg.Identifier {
			continue
		}
		if g.Size.ID == size.ID {
			writeError(w, http.StatusConflict, "a node group with size %s (%d) already exists in this cluster: %q (id %d); only one node group per size is allowed",
				size.Name, size.ID, g.Name, g.ID)
			return
		}
		if g.Name == body.GroupName {
			writeError(w, http.StatusConflict, "a node group named %q already exists in this cluster (id %d)", g.Name, g.ID)
			return
		}
	}
	s.nextGroupID++
	g := &group{
		ID: s.nextGroupID, Identifier: s.newUUID(), Name: body.GroupName, ClusterID: c.cfg.Identifier,
		Datacenter: c.cfg.Datacenter, Size: size,
	}
	s.groups[g.ID] = g
	s.log.Info("node group created", "cluster", g.ClusterID, "group", g.Name, "id", g.ID, "size", size.Name)
	// Like the real API, the answer does not carry the new group's id.
	writeData(w, "node group created", true)
}

func (s *Server) handleDeleteGroup(w http.ResponseWriter, r *http.Request) {
	var body struct {
		DeleteStatistic *struct {
			Reason string `json:"reason"`
			Note   string `json:"note"`
		} `json:"deleteStatistic"`
	}
	id, err := strconv.Atoi(r.PathValue("group"))
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "group id must be a positive integer, got %q", r.PathValue("group"))
		return
	}
	if !decodeBody(w, r, &body, true) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[id]
	if !ok {
		writeError(w, http.StatusNotFound, "node group %d not found", id)
		return
	}
	if n := len(s.workersOf(g.ClusterID, g.ID)); n > 0 {
		writeError(w, http.StatusConflict, "node group %d still has %d nodes; delete them first", id, n)
		return
	}
	delete(s.groups, id)
	s.log.Info("node group deleted", "cluster", g.ClusterID, "group", g.Name, "id", g.ID)
	writeData(w, "node group deleted", true)
}

// capacityMessage refuses a size without capacity. It carries "maximum number of", one of the
// quota phrases of VPSIE_API.md, because clients classify capacity refusals by those phrases.
const capacityMessage = "insufficient capacity: the maximum number of %s servers in datacenter %s is reached; the size is currently unavailable"

type addWorkerAnswer struct {
	Identifier string `json:"identifier"`
	Hostname   string `json:"hostname"`
	Status     string `json:"status"`
}

func (s *Server) handleAddWorker(w http.ResponseWriter, r *http.Request) {
	clusterID := r.PathValue("cluster")
	groupID, err := strconv.Atoi(r.PathValue("group"))
	if err != nil || groupID <= 0 {
		writeError(w, http.StatusBadRequest, "group id must be a positive integer, got %q", r.PathValue("group"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[clusterID]
	if !ok {
		writeError(w, http.StatusNotFound, "cluster %q not found", clusterID)
		return
	}
	g, ok := s.groups[groupID]
	if !ok || g.ClusterID != clusterID {
		writeError(w, http.StatusNotFound, "node group %d not found in cluster %q", groupID, clusterID)
		return
	}
	if limit := s.switches.MaxWorkers; limit > 0 && len(s.workersOf(clusterID, 0)) >= limit {
		writeError(w, http.StatusForbidden, "adding a worker exceeds the allowed limit of %d worker nodes for this cluster", limit)
		return
	}
	if s.sizeUnavailable(g.Size) {
		writeError(w, http.StatusForbidden, capacityMessage, g.Size.Name, c.cfg.Datacenter)
		return
	}
	s.hostCounter++
	priv, pub := s.nextAddresses()
	wk := &worker{
		Identifier: s.newUUID(),
		Hostname:   fmt.Sprintf("%s-%05d", s.cfg.HostnamePrefix, s.hostCounter),
		ClusterID:  clusterID,
		GroupID:    groupID,
		Size:       g.Size,
		NodeType:   NodeTypeSlave,
		PrivateIP:  priv,
		PublicIP:   pub,
		Status:     StatusProvisioning,
		CreatedAt:  s.clock.Now(),
		ListedAt:   s.clock.Now(),
	}
	if s.switches.AddWorkerMode == AddWorkerAsync {
		wk.ListedAt = wk.CreatedAt.Add(time.Duration(s.switches.AsyncListDelay))
	}
	s.workers[wk.Identifier] = wk
	s.log.Info("worker added", "cluster", clusterID, "group", g.Name, "worker", wk.Identifier, "hostname", wk.Hostname)
	s.poke()
	if s.switches.AddWorkerMode == AddWorkerAsync {
		writeData(w, "worker is being added", true)
		return
	}
	writeData(w, "worker is being added", addWorkerAnswer{Identifier: wk.Identifier, Hostname: wk.Hostname, Status: wk.Status})
}

func (s *Server) handleDeleteWorker(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Identifier string `json:"identifier"`
	}
	if !decodeBody(w, r, &body, false) {
		return
	}
	if body.Identifier == "" {
		writeError(w, http.StatusBadRequest, "identifier is required")
		return
	}
	clusterID := r.PathValue("cluster")
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clusters[clusterID]
	if !ok {
		writeError(w, http.StatusNotFound, "cluster %q not found", clusterID)
		return
	}
	if c.master.Identifier == body.Identifier {
		writeError(w, http.StatusBadRequest, "node %s is a master and cannot be deleted", body.Identifier)
		return
	}
	wk, ok := s.workers[body.Identifier]
	if !ok || wk.ClusterID != clusterID {
		writeError(w, http.StatusNotFound, "node %q not found in cluster %q", body.Identifier, clusterID)
		return
	}
	if s.switches.DeleteProvisioningConflict && wk.Status == StatusProvisioning {
		writeError(w, http.StatusConflict, "node %s is in transition (provisioning); try again later", wk.Identifier)
		return
	}
	delete(s.workers, wk.Identifier)
	s.queueNodeDelete(wk.Hostname, wk.Identifier, wk.Status == StatusRunning)
	s.log.Info("worker deleted", "cluster", clusterID, "worker", wk.Identifier, "hostname", wk.Hostname)
	s.poke()
	writeData(w, "worker deleted", true)
}

// poke wakes the boot loop early (a delete should remove its Node without waiting a full tick).
func (s *Server) poke() {
	select {
	case s.nudge <- struct{}{}:
	default:
	}
}
