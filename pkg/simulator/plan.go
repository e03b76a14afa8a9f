package simulator

import (
	"context"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
)

// Input is everything a plan depends on. The simulator never modifies it.
type Input struct {
	NodeGroups []*v1alpha1.NodeGroup
	Offerings  []cloudprovider.Offering
	// Nodes are the cluster's nodes (and in-flight nodes, shaped like the node they will
	// become). Nodes that are being deleted or whose Ready condition is not True are ignored.
	Nodes []*corev1.Node
	// Pods: bound pods (spec.nodeName set) occupy their node; unbound, non-terminal pods that
	// are not daemonset pods are the pending pods to plan for.
	Pods       []*corev1.Pod
	DaemonSets []*appsv1.DaemonSet
	// Storage the volume plugins need for pods with PersistentVolumeClaims.
	PersistentVolumeClaims []*corev1.PersistentVolumeClaim
	PersistentVolumes      []*corev1.PersistentVolume
	StorageClasses         []*storagev1.StorageClass
	// Reservation applied to new nodes; nil means scheduling.DefaultReservation().
	Reservation *scheduling.Reservation

	// SkipReplay returns the packed plan as it is, without replaying it the way kube-scheduler
	// will meet it (see Replay).
	SkipReplay bool

	// ctx is SolveContext's context, carried along the copies of the input the solver makes.
	ctx context.Context
	// seqFrom is where new node numbers start (a repair pass continues the plan's numbering).
	seqFrom int
	// onlyBalanced packs new nodes with the balanced spread strategy alone (see
	// balancedAlternative).
	onlyBalanced bool
}

// Plan is the simulator's answer.
type Plan struct {
	// Pending is the number of pending pods considered.
	Pending int
	// Existing lists pending pods that fit on nodes that already exist, per node.
	Existing []Placement
	// NewNodes are the nodes to create, each with the pods expected to land on it.
	NewNodes []NewNode
	// Unschedulable are pending pods that fit nowhere, each with the reason per NodeGroup.
	Unschedulable []Unschedulable
	// HourlyCost is the price of the new nodes per hour (USD).
	HourlyCost float64
	// LowerBound is a cost per hour no plan can beat (the LP relaxation of covering the
	// pending demand), so HourlyCost/LowerBound measures how good the plan is.
	LowerBound float64
	// LowerBoundError says why LowerBound is 0 when its LP could not be solved.
	LowerBoundError string
	// SolveTime is the wall time the plan took, the replay included.
	SolveTime time.Duration
	// ReplayTime is the part of SolveTime the replay took.
	ReplayTime time.Duration
	// DeadlineExceeded: the deadline cut the solve short, so the plan is the best found in time:
	// past half the time to SolveContext's deadline the optimising phases stop and a greedy
	// finishes; past the deadline itself the pods left are in Deferred, not planned at all (they
	// are not unschedulable: plan them again later).
	DeadlineExceeded bool
	// Deferred are pending pods ("namespace/name") the deadline left unplanned.
	Deferred []string
	// Replay is how the packed plan fared when replayed the way kube-scheduler meets it, and
	// what the plan gained so that the scheduler strands no pod (nil with Input.SkipReplay).
	// A repaired plan's nodes, HourlyCost and placements are the replay's.
	Replay *Replay
}

// Placement is a set of pending pods on an existing node.
type Placement struct {
	Node string
	// Pods are "namespace/name".
	Pods []string
}

// NewNode is a node to create.
type NewNode struct {
	// Name is generated and unique within the plan.
	Name      string
	NodeGroup string
	Offering  cloudprovider.Offering
	// Pods are "namespace/name".
	Pods []string
}

// Unschedulable is a pending pod the plan leaves out, and why.
type Unschedulable struct {
	Pod     string
	Reasons []string
}

// OnExisting counts pods placed on existing nodes.
func (p *Plan) OnExisting() int {
	n := 0
	for _, e := range p.Existing {
		n += len(e.Pods)
	}
	return n
}

// OnNew counts pods placed on new nodes.
func (p *Plan) OnNew() int {
	n := 0
	for _, e := range p.NewNodes {
		n += len(e.Pods)
	}
	return n
}

// CostRatio is HourlyCost / LowerBound (1 when both are zero).
func (p *Plan) CostRatio() float64 {
	if p.LowerBound <= 0 {
		if p.HourlyCost <= 0 {
			return 1
		}
		return 0
	}
	return p.HourlyCost / p.LowerBound
}

// NewNodesByOffering counts new nodes per offering name.
func (p *Plan) NewNodesByOffering() map[string]int {
	out := map[string]int{}
	for _, n := range p.NewNodes {
		out[n.Offering.Name]++
	}
	return out
}

func podKey(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
