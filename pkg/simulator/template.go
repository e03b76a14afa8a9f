package simulator

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	fwk "k8s.io/kube-scheduler/framework"
	"k8s.io/kubernetes/pkg/scheduler/framework"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator/packing"
)

// nodeGroup is a NodeGroup with its constraints parsed once, plus what it already has.
type nodeGroup struct {
	api      *v1alpha1.NodeGroup
	name     string
	weight   int32
	filter   *cloudprovider.OfferingFilter
	maxNodes int   // <= 0: unlimited
	limitCPU int64 // millicores, 0: none
	limitMem int64 // bytes, 0: none

	// Nodes (existing, in flight, and planned so far) counted against maxNodes/limits, and
	// the same before the plan added any.
	nodes      int
	cpu        int64
	memory     int64
	baseNodes  int
	baseCPU    int64
	baseMemory int64

	// excluded explains, per offering, why the group cannot use it (for unplaceable reasons).
	excluded []string
}

func parseNodeGroup(ng *v1alpha1.NodeGroup) (*nodeGroup, error) {
	out := &nodeGroup{api: ng, name: ng.Name, weight: ng.Spec.Weight, maxNodes: int(ng.Spec.MaxNodes)}
	filter, err := cloudprovider.NewOfferingFilter(ng)
	if err != nil {
		return nil, err
	}
	out.filter = filter
	if q, ok := ng.Spec.Limits[corev1.ResourceCPU]; ok {
		out.limitCPU = q.MilliValue()
		if out.limitCPU == 0 {
			out.limitCPU = -1 // a zero limit allows nothing
		}
	}
	if q, ok := ng.Spec.Limits[corev1.ResourceMemory]; ok {
		out.limitMem = q.Value()
		if out.limitMem == 0 {
			out.limitMem = -1
		}
	}
	return out, nil
}

// allows says whether one more node of offering o stays within maxNodes and limits.
func (g *nodeGroup) allows(o cloudprovider.Offering) bool {
	if g.maxNodes > 0 && g.nodes+1 > g.maxNodes {
		return false
	}
	if g.limitCPU != 0 && (g.limitCPU < 0 || g.cpu+o.CPU*1000 > g.limitCPU) {
		return false
	}
	if g.limitMem != 0 && (g.limitMem < 0 || g.memory+o.MemoryMiB*1024*1024 > g.limitMem) {
		return false
	}
	return true
}

func (g *nodeGroup) limitReason() string {
	if g.maxNodes > 0 && g.nodes >= g.maxNodes {
		return fmt.Sprintf("%s: maxNodes %d reached", g.name, g.maxNodes)
	}
	return fmt.Sprintf("%s: limits reached (cpu %dm, memory %dMi in use)", g.name, g.cpu, g.memory/(1024*1024))
}

func (g *nodeGroup) count(cpuMilli, memBytes int64) {
	g.nodes++
	g.cpu += cpuMilli
	g.memory += memBytes
}

// template is the node we would get from a NodeGroup with one offering, with the daemonset
// pods that would land on it.
type template struct {
	index    int
	group    *nodeGroup
	offering cloudprovider.Offering
	node     *corev1.Node
	info     *framework.NodeInfo
	dsPods   []fwk.PodInfo
	// free is allocatable minus the daemonset pods: cpu millicores, memory bytes, pods.
	free [numDims]int64
}

const (
	dimCPU    = packing.DimCPU
	dimMemory = packing.DimMemory
	dimPods   = packing.DimPods
	numDims   = packing.NumDims
)

func buildTemplateNode(g *nodeGroup, o cloudprovider.Offering, reservation scheduling.Reservation, name string) *corev1.Node {
	labels := cloudprovider.NodeLabels(g.api, o)
	labels[v1alpha1.LabelHostname] = name
	var taints []corev1.Taint
	for _, t := range g.api.Spec.Template.Taints {
		taints = append(taints, t.ToCore())
	}
	capacity := scheduling.Capacity(o.CPU, o.MemoryMiB, o.DiskGB, 0)
	allocatable := scheduling.Allocatable(capacity, reservation)
	capacity[corev1.ResourcePods] = allocatable[corev1.ResourcePods]
	// Startup taints are deliberately left out: they go away once the node is initialised and
	// pods that cannot tolerate them still land there.
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: allocatable,
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

// instantiate returns a NodeInfo for a new node of this template named name, carrying the
// template's daemonset pods.
func (t *template) instantiate(name string) *framework.NodeInfo {
	node := t.node.DeepCopy()
	node.Name = name
	node.Labels[v1alpha1.LabelHostname] = name
	ni := framework.NewNodeInfo()
	ni.SetNode(node)
	for _, pi := range t.dsPods {
		ni.AddPodInfo(pi)
	}
	return ni
}

// daemonSetPod is the pod the daemonset controller would create for a node: the template's
// spec plus the tolerations the controller always adds.
func daemonSetPod(ds *appsv1.DaemonSet, nodeName string) *corev1.Pod {
	spec := ds.Spec.Template.Spec.DeepCopy()
	spec.Tolerations = append(spec.Tolerations,
		corev1.Toleration{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		corev1.Toleration{Key: corev1.TaintNodeDiskPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		corev1.Toleration{Key: corev1.TaintNodeMemoryPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		corev1.Toleration{Key: corev1.TaintNodePIDPressure, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
		corev1.Toleration{Key: corev1.TaintNodeUnschedulable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
	)
	labels := map[string]string{}
	for k, v := range ds.Spec.Template.Labels {
		labels[k] = v
	}
	name := ds.Name + "-" + nodeName
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ds.Namespace, Labels: labels,
			UID: types.UID("simulated-daemonset-" + ds.Namespace + "-" + name),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "apps/v1", Kind: "DaemonSet", Name: ds.Name, UID: ds.UID, Controller: ptr(true),
			}},
		},
		Spec: *spec,
	}
}

func ptr[T any](v T) *T { return &v }

// buildTemplates makes one template per (NodeGroup, allowed offering) and decides with the
// framework which daemonset pods run on each.
func buildTemplates(s *Scheduler, groups []*nodeGroup, offerings []cloudprovider.Offering, daemonSets []*appsv1.DaemonSet, reservation scheduling.Reservation) []*template {
	var out []*template
	for _, g := range groups {
		for _, o := range offerings {
			if reason := g.excludes(o); reason != "" {
				g.excluded = append(g.excluded, reason)
				continue
			}
			name := fmt.Sprintf("template-%s-%s", g.name, o.Name)
			t := &template{index: len(out), group: g, offering: o, node: buildTemplateNode(g, o, reservation, name)}
			t.info = framework.NewNodeInfo()
			t.info.SetNode(t.node)
			for _, ds := range daemonSets {
				pod := daemonSetPod(ds, name)
				if !s.Filter(s.Prepare(pod), t.info).IsSuccess() {
					continue
				}
				pi, err := framework.NewPodInfo(pod)
				if err != nil {
					continue
				}
				t.info.AddPodInfo(pi)
				t.dsPods = append(t.dsPods, pi)
			}
			t.free = freeOf(t.info)
			out = append(out, t)
		}
	}
	return out
}

// excludes says why the group may not use the offering, or "".
func (g *nodeGroup) excludes(o cloudprovider.Offering) string { return g.filter.Excludes(o) }

// freeOf is allocatable minus requested, per dimension.
func freeOf(ni *framework.NodeInfo) [numDims]int64 {
	var f [numDims]int64
	f[dimCPU] = ni.Allocatable.MilliCPU - ni.Requested.MilliCPU
	f[dimMemory] = ni.Allocatable.Memory - ni.Requested.Memory
	f[dimPods] = int64(ni.Allocatable.AllowedPodNumber) - int64(len(ni.Pods))
	return f
}

// Quantity helpers for messages.
func milliString(m int64) string {
	return resource.NewMilliQuantity(m, resource.DecimalSI).String()
}
