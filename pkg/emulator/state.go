package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Status values of workers and VMs.
const (
	StatusProvisioning = "provisioning"
	StatusRunning      = "running"
)

// Node types in a cluster's node list.
const (
	NodeTypeMaster = "master"
	NodeTypeSlave  = "slave"
)

type cluster struct {
	cfg    ClusterConfig
	master *worker
}

type group struct {
	ID         int
	Identifier string
	Name       string
	ClusterID  string
	Datacenter string
	Size       Offering
}

// worker is one node of a managed cluster (a master or a worker in a node group).
type worker struct {
	Identifier string
	Hostname   string
	ClusterID  string
	GroupID    int
	Size       Offering
	NodeType   string
	PrivateIP  string
	PublicIP   string
	Status     string
	CreatedAt  time.Time
	// ListedAt is when the worker shows up in node lists (later than CreatedAt for async adds).
	ListedAt    time.Time
	NodeCreated bool
}

type vm struct {
	Identifier   string
	Hostname     string
	Datacenter   string
	OSIdentifier string
	ProjectID    string
	Tags         []string
	Plan         Offering
	PrivateIP    string
	PublicIP     string
	Status       string
	CreatedAt    time.Time
	NodeCreated  bool
}

// nodeRef names a Kubernetes Node the emulator created and still has to delete.
type nodeRef struct {
	Name       string
	ProviderID string
}

// newUUID returns a UUID-shaped (version 4 layout) identifier from the seeded generator, so runs
// with the same seed produce the same identifiers. Callers hold s.mu.
func (s *Server) newUUID() string {
	a, b := s.idRand.Uint64(), s.idRand.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x",
		a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

// nextAddresses hands out deterministic private and public IPs. Callers hold s.mu.
func (s *Server) nextAddresses() (private, public string) {
	s.ipCounter++
	n := s.ipCounter
	return fmt.Sprintf("10.%d.%d.%d", (n>>16)&0xff, (n>>8)&0xff, n&0xff),
		fmt.Sprintf("198.%d.%d.%d", 18+(n>>16)&0x1, (n>>8)&0xff, n&0xff)
}

func (s *Server) offeringByID(id int) (Offering, bool) {
	for _, o := range s.cfg.Offerings {
		if o.ID == id {
			return o, true
		}
	}
	return Offering{}, false
}

// planIdentifier derives a stable UUID-shaped plan identifier from an offering id.
func planIdentifier(o Offering) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", o.ID)
}

func (s *Server) offeringByPlan(identifier string) (Offering, bool) {
	for _, o := range s.cfg.Offerings {
		if planIdentifier(o) == identifier {
			return o, true
		}
	}
	return Offering{}, false
}

// sizeUnavailable reports whether a switch marks the size as having no capacity. Callers hold s.mu.
func (s *Server) sizeUnavailable(o Offering) bool {
	return slices.ContainsFunc(s.switches.UnavailableSizes, func(v string) bool {
		v = strings.TrimSpace(v)
		return v == o.Name || v == strconv.Itoa(o.ID)
	})
}

// requireDatacenter answers 400 for a missing and 404 for an unknown datacenter identifier, and
// reports whether the request may go on.
func (s *Server) requireDatacenter(w http.ResponseWriter, dc string) bool {
	if dc == "" {
		writeError(w, http.StatusBadRequest, "dcIdentifier is required")
		return false
	}
	for _, c := range s.cfg.Clusters {
		if c.Datacenter == dc {
			return true
		}
	}
	writeError(w, http.StatusNotFound, "datacenter %q not found", dc)
	return false
}

// resetState builds the initial state: the configured clusters, each with one master, and nothing
// else. Nodes of workers and VMs that existed are queued for deletion. Callers hold s.mu.
func (s *Server) resetState() {
	for _, w := range s.workers {
		s.queueNodeDelete(w.Hostname, w.Identifier, w.Status == StatusRunning)
	}
	for _, v := range s.vms {
		s.queueNodeDelete(v.Hostname, v.Identifier, v.Status == StatusRunning)
	}
	s.clusters = map[string]*cluster{}
	s.groups = map[int]*group{}
	s.workers = map[string]*worker{}
	s.vms = map[string]*vm{}
	s.nextGroupID = 0
	s.calls = map[string]int{}
	s.statuses = map[string]map[int]int{}
	s.rateWindowStart = time.Time{}
	s.rateCount = 0
	now := s.clock.Now()
	for i, c := range s.cfg.Clusters {
		priv, pub := s.nextAddresses()
		s.clusters[c.Identifier] = &cluster{
			cfg: c,
			master: &worker{
				Identifier: s.newUUID(),
				Hostname:   fmt.Sprintf("%s-master-%d", s.cfg.HostnamePrefix, i+1),
				ClusterID:  c.Identifier,
				NodeType:   NodeTypeMaster,
				Size:       s.cfg.Offerings[0],
				PrivateIP:  priv,
				PublicIP:   pub,
				Status:     StatusRunning,
				CreatedAt:  now,
			},
		}
	}
}

// queueNodeDelete remembers a Node to delete on the next reconcile. A machine that never reached
// "running" never had a Node; one that did may have its create still in flight, which is why the
// delete is queued rather than skipped when NodeCreated is still false. Callers hold s.mu.
func (s *Server) queueNodeDelete(name, identifier string, booted bool) {
	if !booted || s.cfg.KubeClient == nil {
		return
	}
	s.pendingDeletes[name] = nodeRef{Name: name, ProviderID: providerID(identifier)}
}

func providerID(identifier string) string { return "vpsie://" + identifier }

// workersOf lists a cluster's workers (not the master) sorted by creation; groupID 0 means all
// groups. Callers hold s.mu.
func (s *Server) workersOf(clusterID string, groupID int) []*worker {
	return s.filterWorkers(clusterID, groupID, time.Time{})
}

// listedWorkersOf is workersOf without the workers not yet listed at now. Callers hold s.mu.
func (s *Server) listedWorkersOf(clusterID string, groupID int) []*worker {
	return s.filterWorkers(clusterID, groupID, s.clock.Now())
}

func (s *Server) filterWorkers(clusterID string, groupID int, listedBy time.Time) []*worker {
	var out []*worker
	for _, w := range s.workers {
		if !listedBy.IsZero() && listedBy.Before(w.ListedAt) {
			continue
		}
		if w.ClusterID == clusterID && (groupID == 0 || w.GroupID == groupID) {
			out = append(out, w)
		}
	}
	sortWorkers(out)
	return out
}

func sortWorkers(ws []*worker) {
	slices.SortFunc(ws, func(a, b *worker) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.Hostname, b.Hostname)
	})
}
