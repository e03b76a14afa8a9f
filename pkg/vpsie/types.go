package vpsie

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// HoursPerMonth converts VPSie's monthly prices into hourly ones.
const HoursPerMonth = 730

// HourlyPrice returns the hourly USD price of a size: its hourly price when VPSie gives one,
// else the monthly price spread over HoursPerMonth.
func HourlyPrice(monthly, hourly float64) float64 {
	if hourly > 0 {
		return hourly
	}
	if monthly <= 0 {
		return 0
	}
	return monthly / HoursPerMonth
}

// Offering is a managed-Kubernetes size (a "KubeSize") offered in a datacenter.
type Offering struct {
	ID          int
	Name        string
	CPU         int
	RAMMiB      int
	DiskGB      int
	MonthlyUSD  float64
	HourlyUSD   float64 // as sent; 0 when VPSie gives none, see Hourly
	Category    string
	Description string
}

// Hourly returns the hourly USD price (see HourlyPrice).
func (o Offering) Hourly() float64 { return HourlyPrice(o.MonthlyUSD, o.HourlyUSD) }

func (o *Offering) UnmarshalJSON(b []byte) error {
	var w struct {
		ID          flexInt    `json:"id"`
		Name        flexString `json:"name"`
		Nickname    flexString `json:"nickname"`
		CPU         flexInt    `json:"cpu"`
		RAM         flexInt    `json:"ram"`
		Disk        flexInt    `json:"disk"`
		SSD         flexInt    `json:"ssd"`
		Price       flexFloat  `json:"price"`
		HourlyPrice flexFloat  `json:"hourly_price"`
		Category    flexString `json:"category"`
		Description flexString `json:"description"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*o = Offering{
		ID:          w.ID.int(),
		Name:        firstNonEmpty(string(w.Name), string(w.Nickname)),
		CPU:         w.CPU.int(),
		RAMMiB:      w.RAM.int(),
		DiskGB:      firstNonZero(w.Disk.int(), w.SSD.int()),
		MonthlyUSD:  float64(w.Price),
		HourlyUSD:   float64(w.HourlyPrice),
		Category:    string(w.Category),
		Description: string(w.Description),
	}
	return nil
}

// Cluster is a managed-Kubernetes cluster with its nodes.
type Cluster struct {
	Identifier  string
	Name        string
	KubeVersion string
	Nodes       []ClusterNode
}

func (c *Cluster) UnmarshalJSON(b []byte) error {
	var w struct {
		Identifier  flexString    `json:"identifier"`
		ClusterName flexString    `json:"cluster_name"`
		KubeVersion flexString    `json:"kube_version"`
		Nodes       []ClusterNode `json:"nodes"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = Cluster{Identifier: string(w.Identifier), Name: string(w.ClusterName), KubeVersion: string(w.KubeVersion), Nodes: w.Nodes}
	return nil
}

// Node types of ClusterNode.Type.
const (
	NodeTypeMaster = "master"
	NodeTypeWorker = "slave"
)

// ClusterNode is one node of a managed cluster as VPSie lists it.
type ClusterNode struct {
	Identifier string
	Hostname   string
	PrivateIP  string
	PublicIP   string
	Type       string // NodeTypeMaster or NodeTypeWorker
	GroupID    int
	SizeID     int
	Status     string
	CreatedOn  string    // as sent
	Created    time.Time // parsed from CreatedOn; zero when its format is unknown
}

// IsWorker reports whether the node is a worker ("slave") node.
func (n ClusterNode) IsWorker() bool { return strings.EqualFold(n.Type, NodeTypeWorker) }

func (n *ClusterNode) UnmarshalJSON(b []byte) error {
	var w struct {
		Identifier flexString `json:"identifier"`
		Hostname   flexString `json:"hostname"`
		PrivateIP  flexString `json:"private_ip"`
		PublicIP   flexString `json:"public_ip"`
		NodeType   flexString `json:"node_type"`
		GroupID    flexInt    `json:"group_id"`
		BoxsizeID  flexInt    `json:"boxsize_id"`
		Status     flexString `json:"status"`
		CreatedOn  flexString `json:"created_on"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*n = ClusterNode{
		Identifier: string(w.Identifier),
		Hostname:   string(w.Hostname),
		PrivateIP:  string(w.PrivateIP),
		PublicIP:   string(w.PublicIP),
		Type:       string(w.NodeType),
		GroupID:    w.GroupID.int(),
		SizeID:     w.BoxsizeID.int(),
		Status:     string(w.Status),
		CreatedOn:  string(w.CreatedOn),
		Created:    parseTime(string(w.CreatedOn)),
	}
	return nil
}

// NodeGroup is a VPSie node group of a managed cluster: workers of exactly one size.
type NodeGroup struct {
	ID           int
	Name         string
	Identifier   string
	SizeID       int
	DCIdentifier string
	CPU          int
	RAMMiB       int
	SSDGB        int
	NodesCount   int
	Active       bool
}

func (g *NodeGroup) UnmarshalJSON(b []byte) error {
	var w struct {
		ID           flexInt    `json:"id"`
		GroupName    flexString `json:"group_name"`
		Identifier   flexString `json:"identifier"`
		BoxsizeID    flexInt    `json:"boxsize_id"`
		DCIdentifier flexString `json:"dcIdentifier"`
		CPU          flexInt    `json:"cpu"`
		RAM          flexInt    `json:"ram"`
		SSD          flexInt    `json:"ssd"`
		NodesCount   flexInt    `json:"nodes_count"`
		IsActive     flexBool   `json:"is_active"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*g = NodeGroup{
		ID:           w.ID.int(),
		Name:         string(w.GroupName),
		Identifier:   string(w.Identifier),
		SizeID:       w.BoxsizeID.int(),
		DCIdentifier: string(w.DCIdentifier),
		CPU:          w.CPU.int(),
		RAMMiB:       w.RAM.int(),
		SSDGB:        w.SSD.int(),
		NodesCount:   w.NodesCount.int(),
		Active:       bool(w.IsActive),
	}
	return nil
}

// AddWorkerResult is the answer to AddWorker. VPSie usually accepts the request and builds the
// worker asynchronously (Async, Node nil): the worker shows up later in the cluster's node list.
// Sometimes it answers with the new node right away (Async false, Node set).
type AddWorkerResult struct {
	Async bool
	Node  *WorkerNode
}

// WorkerNode is the node VPSie returns from a synchronous AddWorker.
type WorkerNode struct {
	Identifier string
	Hostname   string
	Status     string
}

func (r *AddWorkerResult) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		return fmt.Errorf("%w: add worker answered without data", ErrInvalidResponse)
	}
	var accepted flexBool
	if err := json.Unmarshal(b, &accepted); err == nil {
		if !accepted {
			return fmt.Errorf("%w: add worker answered data=false", ErrInvalidResponse)
		}
		*r = AddWorkerResult{Async: true}
		return nil
	}
	var w struct {
		Identifier flexString `json:"identifier"`
		Hostname   flexString `json:"hostname"`
		Status     flexString `json:"status"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if w.Identifier == "" {
		// Accepted, but without saying which node: same as the asynchronous answer.
		*r = AddWorkerResult{Async: true}
		return nil
	}
	*r = AddWorkerResult{Node: &WorkerNode{Identifier: string(w.Identifier), Hostname: string(w.Hostname), Status: string(w.Status)}}
	return nil
}

// VM is a plain VPSie virtual machine.
type VM struct {
	Identifier   string
	Hostname     string
	DefaultIP    string
	PrivateIP    string
	SizeID       int
	DCIdentifier string
	CPU          int
	RAMMiB       int
	SSDGB        int
	Status       string
	Tags         []string
	CreatedOn    string    // as sent
	Created      time.Time // parsed from CreatedOn; zero when its format is unknown
}

func (v *VM) UnmarshalJSON(b []byte) error {
	var w struct {
		Identifier   flexString  `json:"identifier"`
		Hostname     flexString  `json:"hostname"`
		DefaultIP    flexString  `json:"default_ip"`
		PrivateIP    flexString  `json:"private_ip"`
		BoxsizeID    flexInt     `json:"boxsize_id"`
		DCIdentifier flexString  `json:"dcIdentifier"`
		CPU          flexInt     `json:"cpu"`
		RAM          flexInt     `json:"ram"`
		SSD          flexInt     `json:"ssd"`
		Status       flexString  `json:"status"`
		State        flexString  `json:"state"`
		Tags         flexStrings `json:"tags"`
		CreatedOn    flexString  `json:"created_on"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*v = VM{
		Identifier:   string(w.Identifier),
		Hostname:     string(w.Hostname),
		DefaultIP:    string(w.DefaultIP),
		PrivateIP:    string(w.PrivateIP),
		SizeID:       w.BoxsizeID.int(),
		DCIdentifier: string(w.DCIdentifier),
		CPU:          w.CPU.int(),
		RAMMiB:       w.RAM.int(),
		SSDGB:        w.SSD.int(),
		Status:       firstNonEmpty(string(w.Status), string(w.State)),
		Tags:         []string(w.Tags),
		CreatedOn:    string(w.CreatedOn),
		Created:      parseTime(string(w.CreatedOn)),
	}
	return nil
}

// Plan is a plain-VM size (resource plan).
type Plan struct {
	Identifier string
	Nickname   string
	CPU        int
	RAMMiB     int
	SSDGB      int
	TrafficGB  int
	MonthlyUSD float64
	HourlyUSD  float64 // as sent; 0 when VPSie gives none, see Hourly
}

// Hourly returns the hourly USD price (see HourlyPrice).
func (p Plan) Hourly() float64 { return HourlyPrice(p.MonthlyUSD, p.HourlyUSD) }

func (p *Plan) UnmarshalJSON(b []byte) error {
	var w struct {
		Identifier  flexString `json:"identifier"`
		Nickname    flexString `json:"nickname"`
		CPU         flexInt    `json:"cpu"`
		RAM         flexInt    `json:"ram"`
		SSD         flexInt    `json:"ssd"`
		Traffic     flexInt    `json:"traffic"`
		Price       flexFloat  `json:"price"`
		HourlyPrice flexFloat  `json:"hourly_price"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*p = Plan{
		Identifier: string(w.Identifier),
		Nickname:   string(w.Nickname),
		CPU:        w.CPU.int(),
		RAMMiB:     w.RAM.int(),
		SSDGB:      w.SSD.int(),
		TrafficGB:  w.Traffic.int(),
		MonthlyUSD: float64(w.Price),
		HourlyUSD:  float64(w.HourlyPrice),
	}
	return nil
}

// CreateVMRequest is the body of CreateVM.
type CreateVMRequest struct {
	ResourceIdentifier string   `json:"resourceIdentifier"`
	OSIdentifier       string   `json:"osIdentifier"`
	DCIdentifier       string   `json:"dcIdentifier"`
	Hostname           string   `json:"hostname"`
	ProjectID          string   `json:"projectId,omitempty"`
	UserData           string   `json:"userData,omitempty"`
	Tags               []string `json:"tags,omitempty"`
	SSHKeyIdentifier   string   `json:"sshKeyIdentifier,omitempty"`
	AddPrivateIP       bool     `json:"addPrivateIp"`
}

// String leaves out the user data: it carries the cluster bootstrap token.
func (r CreateVMRequest) String() string {
	return fmt.Sprintf("CreateVMRequest{hostname=%q, resource=%q, os=%q, dc=%q, project=%q, tags=%v, userData=<%d bytes redacted>}",
		r.Hostname, r.ResourceIdentifier, r.OSIdentifier, r.DCIdentifier, r.ProjectID, r.Tags, len(r.UserData))
}

// GoString keeps %#v from printing the user data.
func (r CreateVMRequest) GoString() string { return r.String() }

func (r CreateVMRequest) validate() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"resourceIdentifier", r.ResourceIdentifier},
		{"osIdentifier", r.OSIdentifier},
		{"dcIdentifier", r.DCIdentifier},
		{"hostname", r.Hostname},
	} {
		if strings.TrimSpace(f.v) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("invalid create vm request: missing %s", strings.Join(missing, ", "))
	}
	return nil
}

// DeleteStatistic is the reason VPSie records for a deletion.
type DeleteStatistic struct {
	Reason string `json:"reason"`
	Note   string `json:"note"`
}

var defaultDeleteStatistic = DeleteStatistic{Reason: "autoscaler", Note: "removed by vpsie-autoscaler"}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func firstNonZero(ns ...int) int {
	for _, n := range ns {
		if n != 0 {
			return n
		}
	}
	return 0
}
