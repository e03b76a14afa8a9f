package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/local"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/toolcache"
)

type demoOptions struct {
	dir, binDir string
	bootDelay   time.Duration
	keep, plain bool
	// stepTimeout bounds each waiting step.
	stepTimeout time.Duration
}

// demoSummary is what the demo reports at the end.
type demoSummary struct {
	launched, removed     int
	peakCost, finalCost   float64
	peakLB, finalLB       float64
	secondsToRunning      float64
	secondsToScaledDown   float64
	peakNodes, finalNodes int
	peakPods, finalPods   int
	startupSeconds        float64
	nodesByOfferingAtPeak string
	bootDelay             time.Duration
}

func demo(ctx context.Context, o demoOptions, stdout io.Writer) (err error) {
	if o.stepTimeout == 0 {
		o.stepTimeout = 3 * time.Minute
	}
	root, err := toolcache.RepoRoot()
	if err != nil {
		return err
	}
	dir := o.dir
	if dir == "" && o.keep {
		dir = DefaultDir
		_ = os.RemoveAll(dir)
	}
	fmt.Fprintln(stdout, "== vpsie-autoscaler demo: a local cluster (kube-apiserver, controller-manager, scheduler, kwok), the VPSie emulator, the Helm chart")
	t0 := time.Now()
	c, err := bringUp(ctx, local.Options{Dir: dir, BinDir: o.binDir, BootDelay: o.bootDelay, Progress: stdout, Detach: o.keep}, stdout)
	if err != nil {
		return fmt.Errorf("step \"start the local cluster\" failed: %w", err)
	}
	defer func() {
		if o.keep {
			fmt.Fprintf(stdout, "\nthe cluster keeps running (stop it with `bin/vpsie-local down --dir %s` or hack/local-down):\nexport KUBECONFIG=%s\n", c.Dir, c.Kubeconfig)
			return
		}
		if serr := c.Stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the local cluster: %w", serr))
		}
	}()
	sum := demoSummary{startupSeconds: time.Since(t0).Seconds(), bootDelay: o.bootDelay}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	kube, err := client.New(c.Config, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("building client, %w", err)
	}
	offerings, err := cloudprovider.LoadOfferings(filepath.Join(root, "hack", "examples", "offerings.json"))
	if err != nil {
		return err
	}
	price := map[string]float64{}
	name := map[string]string{}
	for _, off := range offerings {
		price[off.ID], name[off.ID] = off.HourlyPrice, off.Name
	}
	obs := &observer{kube: kube, price: price, name: name, seen: map[string]bool{}}
	view := newView(stdout, o.plain || !isTerminal(stdout))
	watchCtx, stopWatch := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		obs.run(watchCtx, view)
	}()
	defer func() {
		stopWatch()
		wg.Wait()
	}()

	step := func(name string, f func(context.Context) error) error {
		view.step(name)
		sctx, cancel := context.WithTimeout(ctx, o.stepTimeout)
		defer cancel()
		if err := f(sctx); err != nil {
			return fmt.Errorf("step %q failed: %w", name, err)
		}
		return nil
	}
	examples := filepath.Join(root, "hack", "examples", "demo")
	if err := step("apply the example NodeGroups (hack/examples/demo/nodegroups.yaml)", func(ctx context.Context) error {
		if err := applyFile(ctx, kube, filepath.Join(examples, "nodegroups.yaml")); err != nil {
			return err
		}
		return waitUntil(ctx, func(ctx context.Context) (bool, error) {
			var ngs v1alpha1.NodeGroupList
			if err := kube.List(ctx, &ngs); err != nil {
				return false, err
			}
			for _, ng := range ngs.Items {
				if !ngReady(&ng) {
					return false, nil
				}
			}
			return len(ngs.Items) > 0, nil
		})
	}); err != nil {
		return err
	}
	var upAt time.Time
	if err := step("scale up: web 40 x (250m, 256Mi), api 12 x (1 cpu, 1Gi) spread over hostnames, cache 6 x (500m, 6Gi) on memory nodes", func(ctx context.Context) error {
		upAt = time.Now()
		if err := applyFile(ctx, kube, filepath.Join(examples, "workloads.yaml")); err != nil {
			return err
		}
		return waitUntil(ctx, func(ctx context.Context) (bool, error) {
			s, err := obs.sample(ctx)
			if err != nil {
				return false, err
			}
			return s.running == 58 && s.pending == 0 && s.notReadyNodes == 0, nil
		})
	}); err != nil {
		return err
	}
	sum.secondsToRunning = time.Since(upAt).Seconds()
	peak, err := obs.sample(ctx)
	if err != nil {
		return err
	}
	sum.peakCost, sum.peakNodes, sum.peakPods, sum.nodesByOfferingAtPeak = peak.cost, peak.nodes, peak.running, peak.byOffering
	if sum.peakLB, err = lowerBound(ctx, kube, offerings); err != nil {
		return err
	}
	var downAt time.Time
	if err := step("scale down: web to 6, api and cache to 0; empty nodes are removed", func(ctx context.Context) error {
		downAt = time.Now()
		for d, n := range map[string]int32{"web": 6, "api": 0, "cache": 0} {
			dep := &appsv1.Deployment{}
			if err := kube.Get(ctx, client.ObjectKey{Namespace: "default", Name: d}, dep); err != nil {
				return fmt.Errorf("getting deployment %s, %w", d, err)
			}
			patch := client.MergeFrom(dep.DeepCopy())
			dep.Spec.Replicas = &n
			if err := kube.Patch(ctx, dep, patch); err != nil {
				return fmt.Errorf("scaling deployment %s, %w", d, err)
			}
		}
		return waitUntil(ctx, func(ctx context.Context) (bool, error) {
			s, err := obs.sample(ctx)
			if err != nil {
				return false, err
			}
			return s.running == 6 && s.pending == 0 && s.emptyNodes == 0 && s.deletingNodes == 0 && s.nodes > 0, nil
		})
	}); err != nil {
		return err
	}
	sum.secondsToScaledDown = time.Since(downAt).Seconds()
	final, err := obs.sample(ctx)
	if err != nil {
		return err
	}
	sum.finalCost, sum.finalNodes, sum.finalPods = final.cost, final.nodes, final.running
	if sum.finalLB, err = lowerBound(ctx, kube, offerings); err != nil {
		return err
	}
	stopWatch()
	wg.Wait()
	obs.mu.Lock()
	sum.launched = len(obs.seen)
	obs.mu.Unlock()
	sum.removed = sum.launched - final.nodes
	view.done()
	printSummary(stdout, sum)
	return nil
}

func printSummary(w io.Writer, s demoSummary) {
	ratio := func(cost, lb float64) string {
		if lb <= 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.3fx", cost/lb)
	}
	fmt.Fprintf(w, `
== summary
local cluster up in             %.1fs (control plane, kwok, emulator, chart, autoscaler)
scale-up to all Running         %.1fs  (58 pods; emulated boot %s)
nodes launched / removed        %d / %d
peak                            %d nodes (%s), $%.4f/h; lower bound $%.4f/h (%s)
after scale-down                %d nodes in %.1fs, $%.4f/h for %d pods; lower bound of that load $%.4f/h (%s)
`, s.startupSeconds, s.secondsToRunning, s.bootDelay, s.launched, s.removed, s.peakNodes, s.nodesByOfferingAtPeak, s.peakCost, s.peakLB, ratio(s.peakCost, s.peakLB),
		s.finalNodes, s.secondsToScaledDown, s.finalCost, s.finalPods, s.finalLB, ratio(s.finalCost, s.finalLB))
	if s.finalCost > s.finalLB*1.05 {
		fmt.Fprintln(w, "(the nodes left are partly used, not empty: removing or replacing those is consolidation's job, which comes with its issue)")
	}
}

func ngReady(ng *v1alpha1.NodeGroup) bool {
	for _, c := range ng.Status.Conditions {
		if c.Type == v1alpha1.NodeGroupReady {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

func waitUntil(ctx context.Context, cond func(context.Context) (bool, error)) error {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var lastErr error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("%w (last error: %w)", ctx.Err(), lastErr)
			}
			return fmt.Errorf("timed out, %w", ctx.Err())
		case <-t.C:
		}
	}
}

// lowerBound is the LP bound of running the cluster's current workload pods on new nodes of
// the NodeGroups: the cost per hour no packing can beat.
func lowerBound(ctx context.Context, kube client.Client, offerings []cloudprovider.Offering) (float64, error) {
	var ngs v1alpha1.NodeGroupList
	var pods corev1.PodList
	var dss appsv1.DaemonSetList
	if err := kube.List(ctx, &ngs); err != nil {
		return 0, fmt.Errorf("listing NodeGroups, %w", err)
	}
	if err := kube.List(ctx, &pods); err != nil {
		return 0, fmt.Errorf("listing pods, %w", err)
	}
	if err := kube.List(ctx, &dss); err != nil {
		return 0, fmt.Errorf("listing daemonsets, %w", err)
	}
	in := simulator.Input{Offerings: offerings}
	for i := range ngs.Items {
		in.NodeGroups = append(in.NodeGroups, &ngs.Items[i])
	}
	for i := range dss.Items {
		in.DaemonSets = append(in.DaemonSets, &dss.Items[i])
	}
	for i := range pods.Items {
		p := pods.Items[i].DeepCopy()
		if p.Spec.NodeName == local.ControlPlaneNode || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		p.Spec.NodeName = ""
		p.Status = corev1.PodStatus{Phase: corev1.PodPending}
		in.Pods = append(in.Pods, p)
	}
	plan, err := simulator.SolveContext(ctx, in)
	if err != nil {
		return 0, fmt.Errorf("computing the lower bound, %w", err)
	}
	return plan.LowerBound, nil
}

// observer samples the cluster for the progress view and the summary.
type observer struct {
	kube  client.Client
	price map[string]float64
	name  map[string]string
	mu    sync.Mutex
	seen  map[string]bool
}

type sample struct {
	nodes, notReadyNodes, emptyNodes, deletingNodes int
	pending, running                                int
	cost                                            float64
	byOffering                                      string
	events                                          []string
}

func (o *observer) sample(ctx context.Context) (sample, error) {
	var s sample
	var vns v1alpha1.VPSieNodeList
	var pods corev1.PodList
	if err := o.kube.List(ctx, &vns); err != nil {
		return s, fmt.Errorf("listing VPSieNodes, %w", err)
	}
	if err := o.kube.List(ctx, &pods); err != nil {
		return s, fmt.Errorf("listing pods, %w", err)
	}
	perNode := map[string]int{}
	for _, p := range pods.Items {
		if p.Namespace != "default" || p.DeletionTimestamp != nil {
			continue
		}
		switch {
		case p.Spec.NodeName == "":
			s.pending++
		case p.Status.Phase == corev1.PodRunning:
			s.running++
			perNode[p.Spec.NodeName]++
		default:
			perNode[p.Spec.NodeName]++
		}
	}
	counts := map[string]int{}
	o.mu.Lock()
	for _, vn := range vns.Items {
		o.seen[vn.Name] = true
		if vn.DeletionTimestamp != nil {
			s.deletingNodes++
			continue
		}
		s.nodes++
		s.cost += o.price[vn.Spec.OfferingID]
		counts[o.name[vn.Spec.OfferingID]]++
		if vn.Status.Phase != v1alpha1.VPSieNodeReady {
			s.notReadyNodes++
		} else if perNode[vn.Status.NodeName] == 0 {
			s.emptyNodes++
		}
	}
	o.mu.Unlock()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+" x"+strconv.Itoa(counts[k]))
	}
	s.byOffering = strings.Join(parts, ", ")
	return s, nil
}

func (o *observer) recentEvents(ctx context.Context, n int) []string {
	var evs corev1.EventList
	if err := o.kube.List(ctx, &evs); err != nil {
		return nil
	}
	items := evs.Items
	sort.Slice(items, func(i, j int) bool { return eventTime(items[i]).Before(eventTime(items[j])) })
	var out []string
	for i := len(items) - 1; i >= 0 && len(out) < n; i-- {
		e := items[i]
		if e.Source.Component != "vpsie-autoscaler" && e.ReportingController != "vpsie-autoscaler" && !strings.HasPrefix(e.ReportingController, "vpsie") {
			continue
		}
		msg := e.Message
		if len(msg) > 110 {
			msg = msg[:107] + "..."
		}
		out = append(out, fmt.Sprintf("%s %s/%s: %s", e.Reason, e.InvolvedObject.Kind, e.InvolvedObject.Name, msg))
	}
	return out
}

func eventTime(e corev1.Event) time.Time {
	if !e.LastTimestamp.IsZero() {
		return e.LastTimestamp.Time
	}
	if !e.EventTime.IsZero() {
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func (o *observer) run(ctx context.Context, v *view) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s, err := o.sample(ctx)
		if err == nil {
			s.events = o.recentEvents(ctx, 5)
			v.update(s)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// view renders progress: redrawn in place on a terminal, one line per change otherwise.
type view struct {
	w       io.Writer
	plain   bool
	start   time.Time
	mu      sync.Mutex
	current string
	last    string
}

func newView(w io.Writer, plain bool) *view { return &view{w: w, plain: plain, start: time.Now()} }

func (v *view) step(name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.current = name
	v.last = ""
	fmt.Fprintf(v.w, "\n== %s\n", name)
}

func (v *view) update(s sample) {
	v.mu.Lock()
	defer v.mu.Unlock()
	line := fmt.Sprintf("nodes %d (%s) | pending %d | running %d | $%.4f/h", s.nodes, orNone(s.byOffering), s.pending, s.running, s.cost)
	if v.plain {
		if line != v.last {
			fmt.Fprintf(v.w, "[%5.1fs] %s\n", time.Since(v.start).Seconds(), line)
			v.last = line
		}
		return
	}
	var b strings.Builder
	b.WriteString("\033[H\033[2J")
	fmt.Fprintf(&b, "vpsie-autoscaler demo  [%5.1fs]  step: %s\n\n", time.Since(v.start).Seconds(), v.current)
	fmt.Fprintf(&b, "  nodes      %d  %s\n  pending    %d pods\n  running    %d pods\n  cost       $%.4f/h\n\n  recent events\n", s.nodes, orNone(s.byOffering), s.pending, s.running, s.cost)
	for _, e := range s.events {
		fmt.Fprintf(&b, "    %s\n", e)
	}
	fmt.Fprint(v.w, b.String())
	v.last = line
}

func (v *view) done() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.plain {
		fmt.Fprintf(v.w, "\n")
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// applyFile creates every object of a multi-document YAML file.
func applyFile(ctx context.Context, kube client.Client, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening %s, %w", path, err)
	}
	defer f.Close()
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("decoding %s, %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := kube.Create(ctx, u); err != nil {
			return fmt.Errorf("creating %s %s from %s, %w", u.GetKind(), u.GetName(), filepath.Base(path), err)
		}
	}
}
