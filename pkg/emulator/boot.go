package emulator

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/multierr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and annotations put on emulated Nodes.
const (
	// KwokAnnotation makes kwok (run with its node selector on this annotation) keep the Node Ready.
	KwokAnnotation = "kwok.x-k8s.io/node"
	KwokValue      = "fake"
	// MaxPods is the pods capacity of every emulated Node (the kubelet default).
	MaxPods = 110
)

// machine is what a Node is built from: a worker or a VM.
type machine struct {
	identifier  string
	hostname    string
	size        Offering
	privateIP   string
	kubeVersion string
}

// NodeCapacity returns the capacity an emulated Node of this size reports: cpu cores, ram MiB,
// 110 pods and the disk (GB, taken as GiB) as ephemeral storage.
func NodeCapacity(o Offering) corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewQuantity(int64(o.CPU), resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(int64(o.RAM)*1024*1024, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(MaxPods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: *resource.NewQuantity(int64(o.Disk)*1024*1024*1024, resource.BinarySI),
	}
}

// NodeAllocatable returns capacity minus the system reservation: 100m cpu and
// 256Mi + 5% of memory + 100Mi (eviction threshold) of memory.
func NodeAllocatable(o Offering) corev1.ResourceList {
	alloc := NodeCapacity(o)
	cpu := int64(o.CPU)*1000 - 100
	memBytes := int64(o.RAM) * 1024 * 1024
	reserved := 256*1024*1024 + memBytes*5/100 + 100*1024*1024
	alloc[corev1.ResourceCPU] = *resource.NewMilliQuantity(max(cpu, 0), resource.DecimalSI)
	alloc[corev1.ResourceMemory] = *resource.NewQuantity(max(memBytes-reserved, 0), resource.BinarySI)
	return alloc
}

// uninitializedNode is a Node created with the uninitialized taint, still to be initialised.
type uninitializedNode struct {
	providerID string
	created    time.Time
}

// UninitializedTaint is the taint Nodes register with under the RegisterUninitialized switch.
func UninitializedTaint() corev1.Taint {
	return corev1.Taint{Key: "node.cloudprovider.kubernetes.io/uninitialized", Value: "true", Effect: corev1.TaintEffectNoSchedule}
}

func buildNode(m machine, now time.Time, uninitialized bool) *corev1.Node {
	var taints []corev1.Taint
	if uninitialized {
		taints = []corev1.Taint{UninitializedTaint()}
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: m.hostname,
			Labels: map[string]string{
				corev1.LabelHostname:           m.hostname,
				corev1.LabelArchStable:         "amd64",
				corev1.LabelOSStable:           "linux",
				corev1.LabelInstanceTypeStable: m.size.Name,
			},
			Annotations: map[string]string{KwokAnnotation: KwokValue},
		},
		Spec: corev1.NodeSpec{ProviderID: providerID(m.identifier), Taints: taints},
		Status: corev1.NodeStatus{
			Capacity:    NodeCapacity(m.size),
			Allocatable: NodeAllocatable(m.size),
			Phase:       corev1.NodeRunning,
			Conditions:  nodeConditions(now),
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: m.privateIP},
				{Type: corev1.NodeHostName, Address: m.hostname},
			},
			NodeInfo: corev1.NodeSystemInfo{
				Architecture:    "amd64",
				OperatingSystem: "linux",
				KubeletVersion:  m.kubeVersion,
			},
		},
	}
}

func nodeConditions(now time.Time) []corev1.NodeCondition {
	t := metav1.NewTime(now)
	cond := func(typ corev1.NodeConditionType, status corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: msg,
			LastHeartbeatTime: t, LastTransitionTime: t}
	}
	return []corev1.NodeCondition{
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status (emulated)"),
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "emulated"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "emulated"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "emulated"),
	}
}

func hasReadyCondition(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return true
		}
	}
	return false
}

// loop drives boots on the injected clock until ctx ends; a poke runs it early.
func (s *Server) loop(ctx context.Context, done chan struct{}) {
	defer close(done)
	ticker := s.clock.NewTicker(s.cfg.ReconcileInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C():
		case <-s.nudge:
		}
		if err := s.Reconcile(ctx); err != nil && ctx.Err() == nil {
			s.log.Error(err, "reconcile failed, retrying on the next tick")
		}
	}
}

// Reconcile moves every worker and VM whose boot delay has passed to "running", creates the
// Nodes still missing, removes the uninitialized taint of Nodes whose UninitializedDelay passed
// and deletes the Nodes of deleted machines. Failed Node operations stay
// queued and are retried on the next call; the returned error joins them.
func (s *Server) Reconcile(ctx context.Context) error {
	s.reconcileMu.Lock()
	defer s.reconcileMu.Unlock()

	type pending struct {
		m    machine
		mark func() // sets NodeCreated; called with s.mu held
	}
	var creates []pending
	s.mu.Lock()
	now := s.clock.Now()
	delay := time.Duration(s.switches.BootDelay)
	uninitialized := s.switches.RegisterUninitialized
	initDelay := time.Duration(s.switches.UninitializedDelay)
	for _, w := range s.workers {
		if w.Status == StatusProvisioning && !now.Before(w.CreatedAt.Add(delay)) {
			w.Status = StatusRunning
			s.log.Info("worker booted", "worker", w.Identifier, "hostname", w.Hostname)
		}
		if w.Status == StatusRunning && !w.NodeCreated && s.cfg.KubeClient != nil {
			w := w
			creates = append(creates, pending{
				m: machine{identifier: w.Identifier, hostname: w.Hostname, size: w.Size, privateIP: w.PrivateIP,
					kubeVersion: s.clusters[w.ClusterID].cfg.KubeVersion},
				mark: func() { w.NodeCreated = true },
			})
		}
	}
	for _, v := range s.vms {
		if v.Status == StatusProvisioning && !now.Before(v.CreatedAt.Add(delay)) {
			v.Status = StatusRunning
			s.log.Info("vm booted", "vm", v.Identifier, "hostname", v.Hostname)
		}
		if v.Status == StatusRunning && !v.NodeCreated && s.cfg.KubeClient != nil {
			v := v
			creates = append(creates, pending{
				m:    machine{identifier: v.Identifier, hostname: v.Hostname, size: v.Plan, privateIP: v.PrivateIP, kubeVersion: DefaultKubeVersion},
				mark: func() { v.NodeCreated = true },
			})
		}
	}
	s.mu.Unlock()
	if s.cfg.KubeClient == nil {
		return nil
	}

	var errs error
	for _, c := range creates {
		tainted, err := s.ensureNode(ctx, c.m, now, uninitialized)
		if err != nil {
			s.log.Error(err, "creating node failed, retrying on the next tick", "node", c.m.hostname)
			errs = multierr.Append(errs, err)
			continue
		}
		s.mu.Lock()
		c.mark()
		if tainted {
			if _, ok := s.uninitialized[c.m.hostname]; !ok {
				s.uninitialized[c.m.hostname] = uninitializedNode{providerID: providerID(c.m.identifier), created: now}
			}
		}
		s.mu.Unlock()
		s.log.Info("node created", "node", c.m.hostname, "providerID", providerID(c.m.identifier))
	}

	errs = multierr.Append(errs, s.initializeNodes(ctx, now.Add(-initDelay)))

	// Deletes are read after the creates, so a machine deleted while its Node was being created
	// loses that Node in this same pass.
	s.mu.Lock()
	deletes := make([]nodeRef, 0, len(s.pendingDeletes))
	for _, ref := range s.pendingDeletes {
		deletes = append(deletes, ref)
	}
	s.mu.Unlock()
	for _, ref := range deletes {
		if err := s.deleteNode(ctx, ref); err != nil {
			s.log.Error(err, "deleting node failed, retrying on the next tick", "node", ref.Name)
			errs = multierr.Append(errs, err)
			continue
		}
		s.mu.Lock()
		if cur, ok := s.pendingDeletes[ref.Name]; ok && cur == ref {
			delete(s.pendingDeletes, ref.Name)
		}
		s.mu.Unlock()
	}
	return errs
}

// initializeNodes removes the uninitialized taint from the Nodes created at or before createdBy,
// as a cloud controller manager does once it has initialised a node.
func (s *Server) initializeNodes(ctx context.Context, createdBy time.Time) error {
	s.mu.Lock()
	due := map[string]uninitializedNode{}
	for name, u := range s.uninitialized {
		if !u.created.After(createdBy) {
			due[name] = u
		}
	}
	s.mu.Unlock()
	var errs error
	for name, u := range due {
		if err := s.removeUninitializedTaint(ctx, name, u.providerID); err != nil {
			s.log.Error(err, "initializing node failed, retrying on the next tick", "node", name)
			errs = multierr.Append(errs, err)
			continue
		}
		s.mu.Lock()
		if cur, ok := s.uninitialized[name]; ok && cur == u {
			delete(s.uninitialized, name)
		}
		s.mu.Unlock()
		s.log.Info("node initialized", "node", name)
	}
	return errs
}

// removeUninitializedTaint drops the taint and keeps every other (ours or the autoscaler's); a
// Node that is gone or now belongs to another machine needs nothing.
func (s *Server) removeUninitializedTaint(ctx context.Context, name, providerID string) error {
	nodes := s.cfg.KubeClient.CoreV1().Nodes()
	node, err := nodes.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting node %s, %w", name, err)
	}
	if node.Spec.ProviderID != providerID {
		return nil
	}
	key := UninitializedTaint().Key
	taints := make([]corev1.Taint, 0, len(node.Spec.Taints))
	for _, t := range node.Spec.Taints {
		if t.Key != key {
			taints = append(taints, t)
		}
	}
	if len(taints) == len(node.Spec.Taints) {
		return nil
	}
	node = node.DeepCopy()
	node.Spec.Taints = taints
	// Update carries the resourceVersion, so a concurrent change (the autoscaler's registration
	// patch) makes this fail with a conflict and retry rather than be overwritten.
	if _, err := nodes.Update(ctx, node, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("removing the uninitialized taint of node %s, %w", name, err)
	}
	return nil
}

// ensureNode creates the Node and sets its status. It is idempotent, so a half-done earlier
// attempt (created but status not yet written) is finished rather than repeated. It reports
// whether the Node carries the uninitialized taint.
func (s *Server) ensureNode(ctx context.Context, m machine, now time.Time, uninitialized bool) (bool, error) {
	nodes := s.cfg.KubeClient.CoreV1().Nodes()
	want := buildNode(m, now, uninitialized)
	node, err := nodes.Create(ctx, want, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		node, err = nodes.Get(ctx, m.hostname, metav1.GetOptions{})
		if err == nil && node.Spec.ProviderID != want.Spec.ProviderID {
			// A leftover of an earlier emulator run with the same hostname: replace it, since two
			// machines must never share one Node.
			if err := nodes.Delete(ctx, m.hostname, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return false, fmt.Errorf("deleting stale node %s, %w", m.hostname, err)
			}
			return false, fmt.Errorf("node %s belonged to %s; deleted it, will recreate", m.hostname, node.Spec.ProviderID)
		}
	}
	if err != nil {
		return false, fmt.Errorf("creating node %s, %w", m.hostname, err)
	}
	tainted := hasTaint(node, UninitializedTaint().Key)
	if hasReadyCondition(node) {
		return tainted, nil
	}
	node = node.DeepCopy()
	node.Status = want.Status
	if _, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		return false, fmt.Errorf("setting status of node %s, %w", m.hostname, err)
	}
	return tainted, nil
}

func hasTaint(n *corev1.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key {
			return true
		}
	}
	return false
}

// deleteNode deletes a Node the emulator created, unless it now belongs to another machine.
func (s *Server) deleteNode(ctx context.Context, ref nodeRef) error {
	nodes := s.cfg.KubeClient.CoreV1().Nodes()
	node, err := nodes.Get(ctx, ref.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting node %s, %w", ref.Name, err)
	}
	if node.Spec.ProviderID != ref.ProviderID {
		return nil
	}
	err = nodes.Delete(ctx, ref.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &node.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting node %s, %w", ref.Name, err)
	}
	return nil
}
