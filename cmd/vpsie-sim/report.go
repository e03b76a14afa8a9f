package main

import (
	"cmp"
	"fmt"
	"os"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	resourcehelper "k8s.io/component-helpers/resource"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator"
)

// The report pictures the plan: one row per node (identical new nodes folded into one row with
// a count), a cpu and a memory bar per row filled by the pods the plan puts there, stacked by
// workload. The simulator's Plan carries pod names only, so requests, owners and node sizes are
// recomputed here from the Input.

// maxColoredWorkloads is how many workloads get their own colour; the rest share one, because
// more hues than this stop being distinguishable.
const maxColoredWorkloads = 18

var palette = []string{
	"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f",
	"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#aec7e8",
}

// barPixels is the length of the longer of the cost and lower-bound bars.
const barPixels = 540

const (
	colorSystem  = "#555b66" // daemonsets (new nodes) or pods already bound (existing nodes)
	colorOther   = "#a0a7b4" // workloads beyond maxColoredWorkloads
	labelSystem  = "daemonsets"
	labelRunning = "already running"
	labelOther   = "other workloads"
)

type resources struct {
	cpu  int64 // millicores
	mem  int64 // bytes
	pods int
}

func (r *resources) add(o resources) {
	r.cpu += o.cpu
	r.mem += o.mem
	r.pods += o.pods
}

type reportData struct {
	Title        string
	Inputs       string
	Summary      *summary
	Offerings    []reportOffering
	Legend       []legendEntry
	Existing     []nodeRow
	New          []nodeRow
	IdleExisting int
	Unplaceable  []reasonGroup
	CostBar      float64 // widths (px, at most barPixels) of the cost and lower-bound bars
	LowerBar     float64
}

type reportOffering struct {
	offeringLine
	CPUFill, MemFill float64 // percent of allocatable used by pods, over all nodes of the line
}

type legendEntry struct {
	Name  string
	Color string
	Pods  int
	CPU   string
	Mem   string
}

type nodeRow struct {
	Count int
	Name  string
	// Range names the first and last node of a folded row.
	Range     string
	New       bool
	NodeGroup string
	Offering  string
	Price     float64
	Pods      int
	CPU, Mem  []segment
	CPUText   string
	MemText   string
	key       string
}

type segment struct {
	Width float64 // percent of the node's allocatable
	Color string
	Title string
}

// reportBuilder holds the lookups the rows are built from.
type reportBuilder struct {
	in        simulator.Input
	pods      map[string]*corev1.Pod
	requests  map[string]resources
	workload  map[string]string // pod key -> workload label
	groups    map[string]*v1alpha1.NodeGroup
	dsCache   map[string]resources
	colors    map[string]string
	reserve   scheduling.Reservation
	totals    map[string]*resources
	offerings map[string]cloudprovider.Offering
}

func buildReport(p *simulator.Plan, in simulator.Input, inputs []string) *reportData {
	b := &reportBuilder{
		in: in, pods: map[string]*corev1.Pod{}, requests: map[string]resources{}, workload: map[string]string{},
		groups: map[string]*v1alpha1.NodeGroup{}, dsCache: map[string]resources{}, colors: map[string]string{},
		reserve: scheduling.DefaultReservation(), totals: map[string]*resources{}, offerings: map[string]cloudprovider.Offering{},
	}
	if in.Reservation != nil {
		b.reserve = *in.Reservation
	}
	for _, pod := range in.Pods {
		key := pod.Namespace + "/" + pod.Name
		b.pods[key] = pod
		b.requests[key] = podRequests(pod)
		b.workload[key] = workloadOf(pod)
	}
	for _, g := range in.NodeGroups {
		b.groups[g.Name] = g
	}
	for _, o := range in.Offerings {
		b.offerings[o.Name] = o
	}
	s := summarize(p, in)
	data := &reportData{Title: "vpsie-sim plan", Inputs: strings.Join(inputs, ", "), Summary: s, Unplaceable: groupByReasons(s.UnschedulableReasons)}
	b.assignColors(p)
	data.Legend = b.legend()

	bound := map[string]resources{}
	for _, pod := range in.Pods {
		if pod.Spec.NodeName != "" && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
			r := bound[pod.Spec.NodeName]
			r.add(b.requests[pod.Namespace+"/"+pod.Name])
			bound[pod.Spec.NodeName] = r
		}
	}
	nodes := map[string]*corev1.Node{}
	for _, n := range in.Nodes {
		nodes[n.Name] = n
	}
	used := map[string]bool{}
	for _, e := range p.Existing {
		n := nodes[e.Node]
		if n == nil {
			continue
		}
		used[e.Node] = true
		alloc := n.Status.Allocatable
		if len(alloc) == 0 {
			alloc = n.Status.Capacity
		}
		row := b.row(e.Node, false, n.Labels[v1alpha1.LabelNodeGroup], n.Labels[v1alpha1.LabelInstanceType], 0,
			allocatableOf(alloc), labelRunning, bound[e.Node], e.Pods)
		data.Existing = append(data.Existing, row)
	}
	for _, n := range in.Nodes {
		if !used[n.Name] {
			data.IdleExisting++
		}
	}

	fill := map[[2]string]*[2]resources{} // (nodegroup, offering) -> used, allocatable
	var newRows []nodeRow
	for _, n := range p.NewNodes {
		alloc := allocatableOf(scheduling.Allocatable(scheduling.Capacity(n.Offering.CPU, n.Offering.MemoryMiB, n.Offering.DiskGB, 0), b.reserve))
		ds := b.daemonSetLoad(n.NodeGroup, n.Offering)
		row := b.row(n.Name, true, n.NodeGroup, n.Offering.Name, n.Offering.HourlyPrice, alloc, labelSystem, ds, n.Pods)
		newRows = append(newRows, row)
		key := [2]string{n.NodeGroup, n.Offering.Name}
		if fill[key] == nil {
			fill[key] = &[2]resources{}
		}
		fill[key][0].add(ds)
		for _, pod := range n.Pods {
			fill[key][0].add(b.requests[pod])
		}
		fill[key][1].add(alloc)
	}
	data.New = foldIdentical(newRows)
	for _, l := range s.offerings {
		f := fill[[2]string{l.NodeGroup, l.Name}]
		data.Offerings = append(data.Offerings, reportOffering{offeringLine: l, CPUFill: percent(f[0].cpu, f[1].cpu), MemFill: percent(f[0].mem, f[1].mem)})
	}
	top := max(s.HourlyCost, s.LowerBoundHourly)
	if top > 0 {
		data.CostBar = barPixels * s.HourlyCost / top
		data.LowerBar = barPixels * s.LowerBoundHourly / top
	}
	return data
}

// row builds one node's bars: the base load (daemonsets or pods already bound) first, then the
// planned pods stacked by workload in legend order.
func (b *reportBuilder) row(name string, isNew bool, group, offering string, price float64, alloc resources, baseLabel string, base resources, pods []string) nodeRow {
	byWorkload := map[string]*resources{}
	var order []string
	for _, pod := range pods {
		w := b.colorKey(b.workload[pod])
		if byWorkload[w] == nil {
			byWorkload[w] = &resources{}
			order = append(order, w)
		}
		byWorkload[w].add(b.requests[pod])
	}
	slices.SortFunc(order, func(x, y string) int { return b.rank(x) - b.rank(y) })
	row := nodeRow{Count: 1, Name: name, Range: name, New: isNew, NodeGroup: group, Offering: offering, Price: price, Pods: len(pods)}
	total := base
	var sig strings.Builder
	fmt.Fprintf(&sig, "%t|%s|%s|%d|%d|%d|%d", isNew, group, offering, alloc.cpu, alloc.mem, base.cpu, base.mem)
	if base.pods > 0 || base.cpu > 0 || base.mem > 0 {
		row.CPU = append(row.CPU, segment{Width: percent(base.cpu, alloc.cpu), Color: colorSystem, Title: describe(baseLabel, base)})
		row.Mem = append(row.Mem, segment{Width: percent(base.mem, alloc.mem), Color: colorSystem, Title: describe(baseLabel, base)})
	}
	for _, w := range order {
		r := *byWorkload[w]
		total.add(r)
		color := b.colors[w]
		row.CPU = append(row.CPU, segment{Width: percent(r.cpu, alloc.cpu), Color: color, Title: describe(w, r)})
		row.Mem = append(row.Mem, segment{Width: percent(r.mem, alloc.mem), Color: color, Title: describe(w, r)})
		fmt.Fprintf(&sig, "|%s:%d:%d:%d", w, r.pods, r.cpu, r.mem)
	}
	clampSegments(row.CPU)
	clampSegments(row.Mem)
	row.CPUText = fmt.Sprintf("%s / %s", cores(total.cpu), cores(alloc.cpu))
	row.MemText = fmt.Sprintf("%.1f / %s", float64(total.mem)/(1<<30), gib(alloc.mem))
	row.key = sig.String()
	return row
}

// foldIdentical merges new nodes with the same offering and the same pods per workload into
// one row with a count, which keeps a plan of hundreds of nodes readable. Rows are ordered by
// node group, price (largest first) and count.
func foldIdentical(rows []nodeRow) []nodeRow {
	var out []nodeRow
	index := map[string]int{}
	last := map[string]string{}
	for _, r := range rows {
		if i, ok := index[r.key]; ok {
			out[i].Count++
			last[r.key] = r.Name
			continue
		}
		index[r.key] = len(out)
		out = append(out, r)
	}
	for i := range out {
		out[i].Range = out[i].Name
		if out[i].Count > 1 {
			out[i].Range = fmt.Sprintf("%d nodes: %s … %s", out[i].Count, out[i].Name, last[out[i].key])
		}
	}
	slices.SortStableFunc(out, func(a, b nodeRow) int {
		return cmp.Or(cmp.Compare(a.NodeGroup, b.NodeGroup), -cmp.Compare(a.Price, b.Price), cmp.Compare(a.Offering, b.Offering), -cmp.Compare(a.Count, b.Count))
	})
	return out
}

// clampSegments keeps a bar within 100% should requests exceed allocatable (they should not;
// the picture must still stay inside its box).
func clampSegments(segs []segment) {
	left := 100.0
	for i := range segs {
		segs[i].Width = min(segs[i].Width, left)
		left -= segs[i].Width
	}
}

// assignColors ranks workloads by how much of the new and existing capacity they take and gives
// the largest ones their own colour.
func (b *reportBuilder) assignColors(p *simulator.Plan) {
	add := func(pods []string) {
		for _, pod := range pods {
			w := b.workload[pod]
			if b.totals[w] == nil {
				b.totals[w] = &resources{}
			}
			b.totals[w].add(b.requests[pod])
		}
	}
	for _, e := range p.Existing {
		add(e.Pods)
	}
	for _, n := range p.NewNodes {
		add(n.Pods)
	}
	names := make([]string, 0, len(b.totals))
	for w := range b.totals {
		names = append(names, w)
	}
	// cpu in millicores and memory in MiB/4 weigh one core about as much as 4 GiB.
	weight := func(w string) int64 { return b.totals[w].cpu + b.totals[w].mem/(4<<20)*1000/1024 }
	slices.SortFunc(names, func(x, y string) int { return cmp.Or(-cmp.Compare(weight(x), weight(y)), cmp.Compare(x, y)) })
	for i, w := range names {
		if i < maxColoredWorkloads {
			b.colors[w] = palette[i%len(palette)]
		}
	}
	b.colors[labelOther] = colorOther
	for _, w := range names[min(len(names), maxColoredWorkloads):] {
		if b.totals[labelOther] == nil {
			b.totals[labelOther] = &resources{}
		}
		b.totals[labelOther].add(*b.totals[w])
	}
}

func (b *reportBuilder) colorKey(workload string) string {
	if _, ok := b.colors[workload]; ok {
		return workload
	}
	return labelOther
}

// rank orders stacked segments like the legend: coloured workloads by size, "other" last.
func (b *reportBuilder) rank(w string) int {
	if w == labelOther {
		return len(palette) + 1
	}
	return slices.Index(palette, b.colors[w])
}

func (b *reportBuilder) legend() []legendEntry {
	var out []legendEntry
	for w, c := range b.colors {
		t := b.totals[w]
		if t == nil {
			continue
		}
		out = append(out, legendEntry{Name: w, Color: c, Pods: t.pods, CPU: cores(t.cpu), Mem: gib(t.mem)})
	}
	slices.SortFunc(out, func(x, y legendEntry) int { return b.rank(x.Name) - b.rank(y.Name) })
	return out
}

// daemonSetLoad estimates the daemonset pods a new node of this group and offering runs: those
// whose tolerations cover the group's taints and whose node selector and required affinity
// match the node's labels.
func (b *reportBuilder) daemonSetLoad(group string, o cloudprovider.Offering) resources {
	key := group + "/" + o.Name
	if r, ok := b.dsCache[key]; ok {
		return r
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "template", Labels: map[string]string{
		v1alpha1.LabelNodeGroup: group, v1alpha1.LabelInstanceType: o.Name, v1alpha1.LabelOffering: o.ID,
		v1alpha1.LabelCategory: o.Category, v1alpha1.LabelArch: "amd64", v1alpha1.LabelOS: "linux",
		v1alpha1.LabelCPU: fmt.Sprint(o.CPU), v1alpha1.LabelMemoryMiB: fmt.Sprint(o.MemoryMiB),
	}}}
	var taints []corev1.Taint
	if g := b.groups[group]; g != nil {
		for k, v := range g.Spec.Template.Labels {
			node.Labels[k] = v
		}
		if g.Spec.DatacenterID != "" {
			node.Labels[v1alpha1.LabelZone] = g.Spec.DatacenterID
			node.Labels[v1alpha1.LabelDatacenter] = g.Spec.DatacenterID
		}
		for _, t := range g.Spec.Template.Taints {
			taints = append(taints, t.ToCore())
		}
	}
	var r resources
	for _, ds := range b.in.DaemonSets {
		pod := &corev1.Pod{Spec: ds.Spec.Template.Spec}
		_, untolerated := corev1helpers.FindMatchingUntoleratedTaint(klog.Background(), taints, pod.Spec.Tolerations, func(t *corev1.Taint) bool {
			return t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute
		}, false)
		if untolerated {
			continue
		}
		if ok, err := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node); err != nil || !ok {
			continue
		}
		r.add(podRequests(pod))
	}
	b.dsCache[key] = r
	return r
}

func podRequests(pod *corev1.Pod) resources {
	rl := resourcehelper.PodRequests(pod, resourcehelper.PodResourcesOptions{})
	return resources{cpu: rl.Cpu().MilliValue(), mem: rl.Memory().Value(), pods: 1}
}

// workloadOf names the workload a pod belongs to: its controller, else its app label.
func workloadOf(pod *corev1.Pod) string {
	if ref := metav1.GetControllerOf(pod); ref != nil {
		return pod.Namespace + "/" + ref.Name
	}
	for _, l := range []string{"app.kubernetes.io/name", "app"} {
		if v := pod.Labels[l]; v != "" {
			return pod.Namespace + "/" + v
		}
	}
	return pod.Namespace + "/(bare pods)"
}

func allocatableOf(rl corev1.ResourceList) resources {
	return resources{cpu: rl.Cpu().MilliValue(), mem: rl.Memory().Value(), pods: int(rl.Pods().Value())}
}

func percent(part, whole int64) float64 {
	if whole <= 0 {
		return 0
	}
	return 100 * float64(part) / float64(whole)
}

func cores(milli int64) string {
	if milli%1000 == 0 {
		return fmt.Sprint(milli / 1000)
	}
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", float64(milli)/1000), "0"), ".")
}

func gib(bytes int64) string {
	return fmt.Sprintf("%.1f GiB", float64(bytes)/(1<<30))
}

func describe(label string, r resources) string {
	return fmt.Sprintf("%s: %d pods, %s cpu, %s", label, r.pods, cores(r.cpu), gib(r.mem))
}

func writeReportFile(path string, p *simulator.Plan, in simulator.Input, inputs []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := renderReport(f, buildReport(p, in, inputs)); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
