// Package provisioning launches nodes for pods that cannot be scheduled: pending pods are
// batched, the simulator plans the cheapest new nodes for them (in-flight VPSieNodes count as
// capacity, so a second batch never launches twice), and one VPSieNode is created per new node.
package provisioning

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"go.uber.org/multierr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/scheduling"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/state"
)

// Options configure the provisioner.
type Options struct {
	// DryRun plans, logs and emits events, but creates no VPSieNode.
	DryRun bool
	// BatchIdle and BatchMax are the batch windows (defaults 1s and 10s).
	BatchIdle time.Duration
	BatchMax  time.Duration
	// SolveDeadline bounds one simulation (default 10s); past it the best plan so far is used.
	SolveDeadline time.Duration
	// SkipReplay launches plans as packed: no scheduler replay, no repair or alternative for
	// what kube-scheduler would strand (simulator.Input.SkipReplay).
	SkipReplay bool
	// PollInterval re-plans while pods stay pending without any event (default 5s): a nomination
	// that expires (state.NominationGrace) makes its pod pending again with no event of its own.
	PollInterval time.Duration
	// BatchReleaseWindow > 0 labels the VPSieNodes one pass creates (when it creates more than
	// one) with one v1alpha1.LabelBatch, so the lifecycle controller holds their Nodes and
	// releases them together, bounded by this window; 0 labels nothing.
	BatchReleaseWindow time.Duration
}

func (o Options) withDefaults() Options {
	if o.BatchIdle <= 0 {
		o.BatchIdle = time.Second
	}
	if o.BatchMax <= 0 {
		o.BatchMax = 10 * time.Second
	}
	if o.SolveDeadline <= 0 {
		o.SolveDeadline = 10 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 5 * time.Second
	}
	return o
}

// Provisioner is the provisioning loop, a leader-only singleton.
type Provisioner struct {
	kubeClient client.Client
	// liveReader reads VPSieNodes from the API server itself for the create-time limit check.
	liveReader client.Reader
	cluster    *state.Cluster
	cp         cloudprovider.CloudProvider
	clk        clock.WithTicker
	recorder   record.EventRecorder
	opts       Options
	batcher    *Batcher

	mu sync.Mutex
	// told remembers the last verdict (reason and subject) per pod, so a pod hears each once.
	told map[types.UID]string
}

// NewProvisioner returns a Provisioner. liveReader may be the same client as kubeClient in tests.
func NewProvisioner(kubeClient client.Client, liveReader client.Reader, cluster *state.Cluster, cp cloudprovider.CloudProvider,
	clk clock.WithTicker, recorder record.EventRecorder, opts Options) *Provisioner {
	opts = opts.withDefaults()
	return &Provisioner{
		kubeClient: kubeClient, liveReader: liveReader, cluster: cluster, cp: cp, clk: clk, recorder: recorder, opts: opts,
		batcher: NewBatcher(clk, opts.BatchIdle, opts.BatchMax), told: map[types.UID]string{},
	}
}

// Trigger asks for a provisioning pass (batched).
func (p *Provisioner) Trigger() { p.batcher.Trigger() }

// Register triggers the loop on pending pods, deleted VPSieNodes and NodeGroup changes, and
// adds it to the manager.
func (p *Provisioner) Register(ctx context.Context, mgr manager.Manager) error {
	podInformer, err := mgr.GetCache().GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return fmt.Errorf("getting pod informer, %w", err)
	}
	onPod := func(o any) {
		if pod, ok := o.(*corev1.Pod); ok && state.IsProvisionable(pod) {
			p.Trigger()
		}
	}
	if _, err := podInformer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    onPod,
		UpdateFunc: func(_, o any) { onPod(o) },
	}); err != nil {
		return fmt.Errorf("watching pods, %w", err)
	}
	vnInformer, err := mgr.GetCache().GetInformer(ctx, &v1alpha1.VPSieNode{})
	if err != nil {
		return fmt.Errorf("getting vpsienode informer, %w", err)
	}
	// A VPSieNode that goes away (failed launch, registration timeout) leaves its pods pending.
	if _, err := vnInformer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{DeleteFunc: func(any) { p.Trigger() }}); err != nil {
		return fmt.Errorf("watching vpsienodes, %w", err)
	}
	ngInformer, err := mgr.GetCache().GetInformer(ctx, &v1alpha1.NodeGroup{})
	if err != nil {
		return fmt.Errorf("getting nodegroup informer, %w", err)
	}
	if _, err := ngInformer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { p.Trigger() }, UpdateFunc: func(any, any) { p.Trigger() },
	}); err != nil {
		return fmt.Errorf("watching nodegroups, %w", err)
	}
	return mgr.Add(p)
}

// NeedLeaderElection: only the leader provisions.
func (p *Provisioner) NeedLeaderElection() bool { return true }

// Start runs the loop until ctx ends.
func (p *Provisioner) Start(ctx context.Context) error {
	logger := log.FromContext(ctx).WithName("provisioner")
	ctx = log.IntoContext(ctx, logger)
	go p.poll(ctx)
	p.Trigger() // whatever is pending at start-up
	for p.batcher.Wait(ctx) {
		again, err := p.Reconcile(ctx)
		if err != nil {
			logger.Error(err, "provisioning failed, retrying on the next batch")
			again = true
		}
		if again {
			p.Trigger()
		}
	}
	return nil
}

// poll re-triggers while pods are pending: no event may come for pods whose plan failed.
func (p *Provisioner) poll(ctx context.Context) {
	ticker := p.clk.NewTicker(p.opts.PollInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
			if len(p.cluster.PendingPods()) > 0 {
				p.Trigger()
			}
		}
	}
}

// Reconcile is one provisioning pass: plan the pending pods and launch the plan's new nodes. It
// says whether another pass should follow soon (the model was not synced, or the deadline left
// pods unplanned).
func (p *Provisioner) Reconcile(ctx context.Context) (bool, error) {
	logger := log.FromContext(ctx)
	if !p.cluster.Synced() {
		logger.V(1).Info("waiting for the cluster state to sync")
		return true, nil
	}
	snap := p.cluster.Snapshot()
	metrics.PendingPods.Set(float64(len(snap.Pending) + snap.Nominated))
	p.forget(snap.Pending)
	if len(snap.Pending) == 0 {
		return false, nil
	}
	metrics.BatchSize.Observe(float64(len(snap.Pending)))

	offerings, err := p.offerings(ctx, snap.NodeGroups)
	if err != nil {
		return false, err
	}
	in := simulator.Input{
		NodeGroups: snap.NodeGroups, Offerings: offerings, Nodes: snap.Nodes, Pods: snap.Pods, DaemonSets: snap.DaemonSets,
		PersistentVolumeClaims: snap.PersistentVolumeClaims, PersistentVolumes: snap.PersistentVolumes, StorageClasses: snap.StorageClasses,
		SkipReplay: p.opts.SkipReplay,
	}
	solveCtx, cancel := context.WithTimeout(ctx, p.opts.SolveDeadline)
	plan, err := simulator.SolveContext(solveCtx, in)
	cancel()
	if err != nil {
		return false, fmt.Errorf("planning %d pending pods, %w", len(snap.Pending), err)
	}
	p.record(ctx, plan)

	pods := map[string]*corev1.Pod{}
	for _, pod := range snap.Pending {
		pods[pod.Namespace+"/"+pod.Name] = pod
	}
	for _, e := range plan.Existing {
		vn, inFlight := snap.InFlight[e.Node]
		if !inFlight {
			continue // the scheduler will find the room on a running node by itself
		}
		for _, key := range e.Pods {
			p.tell(pods[key], corev1.EventTypeNormal, EventNominated, vn, fmt.Sprintf("Waiting for VPSieNode %s, which is being launched", vn))
		}
		p.cluster.Nominate(uids(pods, e.Pods), vn)
	}
	for _, u := range plan.Unschedulable {
		msg := "No NodeGroup can host this pod: " + strings.Join(u.Reasons, "; ")
		p.tell(pods[u.Pod], corev1.EventTypeWarning, EventFailedProvisioning, msg, msg)
	}
	for _, key := range plan.Deferred {
		p.tell(pods[key], corev1.EventTypeWarning, EventSolveDeadline, "",
			fmt.Sprintf("The plan ran out of time (solve deadline %s) before this pod; it is planned on the next pass", p.opts.SolveDeadline))
	}
	if err := p.launch(ctx, snap, plan, pods); err != nil {
		return len(plan.Deferred) > 0, err
	}
	return len(plan.Deferred) > 0, nil
}

// offerings is the union of the catalogues of the NodeGroups' datacenters.
func (p *Provisioner) offerings(ctx context.Context, groups []*v1alpha1.NodeGroup) ([]cloudprovider.Offering, error) {
	seenDC := map[string]bool{}
	seen := map[string]bool{}
	var out []cloudprovider.Offering
	var lastErr error
	for _, ng := range groups {
		if seenDC[ng.Spec.DatacenterID] {
			continue
		}
		seenDC[ng.Spec.DatacenterID] = true
		offs, err := p.cp.Offerings(ctx, ng)
		if err != nil {
			// The nodegroup controller reports it on the group; plan with the others.
			log.FromContext(ctx).Error(err, "listing offerings", "NodeGroup", ng.Name, "datacenter", ng.Spec.DatacenterID)
			lastErr = err
			continue
		}
		for _, o := range offs {
			if !seen[o.ID] {
				seen[o.ID] = true
				out = append(out, o)
			}
		}
	}
	if len(out) == 0 && lastErr != nil {
		return nil, fmt.Errorf("listing offerings, %w", lastErr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (p *Provisioner) record(ctx context.Context, plan *simulator.Plan) {
	cut := "false"
	if plan.DeadlineExceeded {
		cut = "true"
		metrics.SolveDeadlineExceeded.Inc()
	}
	metrics.SolveDuration.WithLabelValues(cut).Observe(plan.SolveTime.Seconds())
	metrics.PlanCost.Set(plan.HourlyCost)
	packed := plan.HourlyCost
	if r := plan.Replay; r != nil && r.Ran {
		packed = r.PackedHourlyCost
	}
	metrics.PlanPackedCost.Set(packed)
	metrics.PlanLowerBound.Set(plan.LowerBound)
	metrics.UnschedulablePods.Set(float64(len(plan.Unschedulable)))
	logger := log.FromContext(ctx)
	kv := []any{
		"pending", plan.Pending, "onExisting", plan.OnExisting(), "onNew", plan.OnNew(), "newNodes", len(plan.NewNodes),
		"unschedulable", len(plan.Unschedulable), "hourlyCost", plan.HourlyCost, "lowerBound", plan.LowerBound,
		"solveSeconds", plan.SolveTime.Seconds(),
	}
	if r := plan.Replay; r != nil && r.Ran {
		metrics.ReplayStranded.WithLabelValues("packed").Set(float64(r.Stranded))
		metrics.ReplayStranded.WithLabelValues("launched").Set(float64(r.Remaining))
		kv = append(kv, "packedHourlyCost", r.PackedHourlyCost, "replayStranded", r.Stranded, "replayAddedNodes", r.AddedNodes,
			"replayRemaining", r.Remaining, "replayAlternative", r.Alternative, "replaySeconds", plan.ReplayTime.Seconds())
	}
	if plan.DeadlineExceeded {
		logger.Info("solve deadline reached, using the best plan found so far", append(kv, "deadline", p.opts.SolveDeadline.String(), "deferred", len(plan.Deferred))...)
		return
	}
	logger.Info("planned", kv...)
}

// liveCounts are the VPSieNodes (not being deleted) per NodeGroup as the API server has them now.
type liveCounts struct{ nodes, cpu, memory map[string]int64 }

func (p *Provisioner) liveCounts(ctx context.Context) (liveCounts, error) {
	c := liveCounts{nodes: map[string]int64{}, cpu: map[string]int64{}, memory: map[string]int64{}}
	var list v1alpha1.VPSieNodeList
	if err := p.liveReader.List(ctx, &list); err != nil {
		return c, fmt.Errorf("listing vpsienodes, %w", err)
	}
	for _, vn := range list.Items {
		if vn.DeletionTimestamp != nil {
			continue
		}
		capacity := vn.Status.Capacity
		if capacity == nil {
			capacity = vn.Spec.Resources
		}
		cpu, mem := capacity[corev1.ResourceCPU], capacity[corev1.ResourceMemory]
		c.nodes[vn.Spec.NodeGroup]++
		c.cpu[vn.Spec.NodeGroup] += cpu.MilliValue()
		c.memory[vn.Spec.NodeGroup] += mem.Value()
	}
	return c, nil
}

// allows says why one more node of offering o would break the group's maxNodes or limits
// ("" when it would not).
func (c liveCounts) allows(ng *v1alpha1.NodeGroup, o cloudprovider.Offering) string {
	if ng.Spec.MaxNodes > 0 && c.nodes[ng.Name]+1 > int64(ng.Spec.MaxNodes) {
		return fmt.Sprintf("maxNodes %d reached", ng.Spec.MaxNodes)
	}
	capacity := scheduling.Capacity(o.CPU, o.MemoryMiB, 0, 0)
	for name, used := range map[corev1.ResourceName]int64{corev1.ResourceCPU: c.cpu[ng.Name], corev1.ResourceMemory: c.memory[ng.Name]} {
		limit, ok := ng.Spec.Limits[name]
		if !ok {
			continue
		}
		add := capacity[name]
		if name == corev1.ResourceCPU {
			if used+add.MilliValue() > limit.MilliValue() {
				return fmt.Sprintf("cpu limit %s reached", limit.String())
			}
		} else if used+add.Value() > limit.Value() {
			return fmt.Sprintf("memory limit %s reached", limit.String())
		}
	}
	return ""
}

func (c liveCounts) add(ng string, o cloudprovider.Offering) {
	c.nodes[ng]++
	c.cpu[ng] += o.CPU * 1000
	c.memory[ng] += o.MemoryMiB << 20
}

// launch creates one VPSieNode per new node of the plan, re-checking each against the live
// NodeGroup counts.
func (p *Provisioner) launch(ctx context.Context, snap *state.Snapshot, plan *simulator.Plan, pods map[string]*corev1.Pod) error {
	if len(plan.NewNodes) == 0 {
		return nil
	}
	logger := log.FromContext(ctx)
	groups := map[string]*v1alpha1.NodeGroup{}
	for _, ng := range snap.NodeGroups {
		groups[ng.Name] = ng
	}
	counts, err := p.liveCounts(ctx)
	if err != nil {
		return err
	}
	// Limits are decided in plan order, one node after the other; the decided nodes are then
	// created side by side, so a burst of hundreds of nodes is not one API round trip apiece.
	type decided struct {
		nn simulator.NewNode
		ng *v1alpha1.NodeGroup
		vn *v1alpha1.VPSieNode
	}
	var creates []decided
	for _, nn := range plan.NewNodes {
		ng := groups[nn.NodeGroup]
		if ng == nil {
			continue
		}
		if why := counts.allows(ng, nn.Offering); why != "" {
			msg := fmt.Sprintf("Not launching %s for %d pods: %s", nn.Offering.Name, len(nn.Pods), why)
			p.recorder.Event(ng, corev1.EventTypeWarning, EventLimitReached, msg)
			for _, key := range nn.Pods {
				msg := fmt.Sprintf("NodeGroup %s: %s", ng.Name, why)
				p.tell(pods[key], corev1.EventTypeWarning, EventLimitReached, msg, msg)
			}
			logger.Info("not launching: nodegroup limit", "NodeGroup", ng.Name, "offering", nn.Offering.Name, "reason", why)
			continue
		}
		counts.add(ng.Name, nn.Offering)
		if p.opts.DryRun {
			p.recorder.Eventf(ng, corev1.EventTypeNormal, EventDryRun, "Would launch %s for %d pods (dry run)", nn.Offering.Name, len(nn.Pods))
			logger.Info("dry run: would launch", "NodeGroup", ng.Name, "offering", nn.Offering.Name, "pods", len(nn.Pods))
			continue
		}
		creates = append(creates, decided{nn: nn, ng: ng, vn: cloudprovider.NewVPSieNode(ng, nn.Offering, scheduling.DefaultReservation())})
	}
	// The pass's nodes were planned as one packing; if they came up one by one the scheduler
	// would fill the first ones greedily and strand some pods, so they are released together.
	// A single node has nobody to wait for.
	batch := ""
	if p.opts.BatchReleaseWindow > 0 && len(creates) > 1 {
		batch = utilrand.String(batchIDLength)
		for _, d := range creates {
			d.vn.Labels[v1alpha1.LabelBatch] = batch
		}
		logger.V(1).Info("launching a batch", "batch", batch, "nodes", len(creates), "releaseWindow", p.opts.BatchReleaseWindow.String())
	}
	errs := make([]error, len(creates))
	workqueue.ParallelizeUntil(ctx, parallelCreates, len(creates), func(i int) {
		d := creates[i]
		if err := p.kubeClient.Create(ctx, d.vn); err != nil {
			errs[i] = fmt.Errorf("creating vpsienode for nodegroup %s, %w", d.ng.Name, err)
			return
		}
		p.cluster.MarkLaunched(d.vn.Name)
		p.cluster.Nominate(uids(pods, d.nn.Pods), d.vn.Name)
		metrics.NodesCreated.WithLabelValues(d.ng.Name, "provisioning").Inc()
		logger.Info("launching", "VPSieNode", d.vn.Name, "NodeGroup", d.ng.Name, "offering", d.nn.Offering.Name, "hourlyPrice", d.nn.Offering.HourlyPrice, "pods", len(d.nn.Pods), "batch", batch)
		for _, key := range d.nn.Pods {
			p.tell(pods[key], corev1.EventTypeNormal, EventNominated, d.vn.Name,
				fmt.Sprintf("Planned onto new VPSieNode %s (%s, NodeGroup %s)", d.vn.Name, d.nn.Offering.Name, d.ng.Name))
		}
	})
	return multierr.Combine(errs...)
}

// tell emits an event on the pod unless the last verdict the pod heard was the same reason
// and subject: a pod nominated for a VPSieNode when it was planned hears nothing more while it
// waits for that node, however the message is worded.
func (p *Provisioner) tell(pod *corev1.Pod, eventType, reason, subject, msg string) {
	if pod == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	verdict := reason + "\x00" + subject
	if p.told[pod.UID] == verdict {
		return
	}
	p.told[pod.UID] = verdict
	p.recorder.Event(pod, eventType, reason, msg)
}

// forget drops what was told to pods that are no longer pending.
func (p *Provisioner) forget(pending []*corev1.Pod) {
	keep := map[types.UID]bool{}
	for _, pod := range pending {
		keep[pod.UID] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for uid := range p.told {
		if !keep[uid] {
			delete(p.told, uid)
		}
	}
}

// parallelCreates is how many VPSieNodes one pass creates at once.
const parallelCreates = 16

// batchIDLength is the length of a v1alpha1.LabelBatch value: random lower-case alphanumerics,
// unique enough among the batches in flight at one time.
const batchIDLength = 10

// uids are the UIDs of the pods with these keys.
func uids(pods map[string]*corev1.Pod, keys []string) []types.UID {
	out := make([]types.UID, 0, len(keys))
	for _, key := range keys {
		if pod := pods[key]; pod != nil {
			out = append(out, pod.UID)
		}
	}
	return out
}
