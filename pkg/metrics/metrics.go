// Package metrics defines every vpsie_autoscaler_* metric in one place, registered with
// controller-runtime's registry (served on the manager's metrics endpoint). Controllers and the
// cloud provider record them; a manager-level test scrapes the endpoint after a scenario and
// expects every metric of All to have a value.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Namespace prefixes every metric name.
const Namespace = "vpsie_autoscaler"

// Label names.
const (
	LabelNodeGroup = "nodegroup"
	LabelReason    = "reason"
	LabelPhase     = "phase"
	LabelMethod    = "method"
	LabelProvider  = "provider"
	LabelError     = "error"
	LabelResource  = "resource"
	LabelCut       = "deadline_exceeded"
	LabelOffering  = "offering"
)

var durationBuckets = []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200}

var (
	// PendingPods is the number of pods the provisioner saw as pending in its last batch.
	PendingPods = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "provisioner", Name: "pending_pods",
		Help: "Pods that are unschedulable and wait for capacity, as of the last provisioning pass.",
	})
	// BatchSize is the number of pending pods per provisioning batch.
	BatchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "provisioner", Name: "batch_size",
		Help:    "Pending pods per provisioning batch.",
		Buckets: prometheus.ExponentialBuckets(1, 2, 16),
	})
	// SolveDuration is the simulator's wall time per batch, labelled by whether the deadline cut it.
	SolveDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "provisioner", Name: "solve_duration_seconds",
		Help:    "Wall time of one provisioning simulation; deadline_exceeded=true when the solve deadline cut it short and the best plan so far was used.",
		Buckets: durationBuckets,
	}, []string{LabelCut})
	// SolveDeadlineExceeded counts solves the deadline cut short.
	SolveDeadlineExceeded = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "provisioner", Name: "solve_deadline_exceeded_total",
		Help: "Provisioning simulations cut short by the solve deadline (the best plan found so far was used).",
	})
	// PlanCost and PlanLowerBound are the new nodes' $/h of the last plan and its LP lower bound.
	PlanCost = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "provisioner", Name: "plan_cost_dollars_per_hour",
		Help: "Hourly cost (USD) of the new nodes of the last provisioning plan.",
	})
	// PlanPackedCost is the last plan's new nodes' $/h as packed, before the scheduler replay
	// changed the plan (equal to PlanCost when it did not).
	PlanPackedCost = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "provisioner", Name: "plan_packed_cost_dollars_per_hour",
		Help: "Hourly cost (USD) of the new nodes of the last provisioning plan as packed, before the scheduler replay repaired or replaced it.",
	})
	PlanLowerBound = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "provisioner", Name: "plan_lower_bound_dollars_per_hour",
		Help: "Lower bound (USD per hour, LP relaxation) no plan for the last batch could beat.",
	})
	// ReplayStranded is what kube-scheduler would strand of the last plan, by the replay: of the
	// packed plan ("packed") and of the plan launched ("launched").
	ReplayStranded = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "provisioner", Name: "replay_stranded_pods",
		Help: "Pending pods the scheduler replay of the last plan left without a node: of the packed plan and of the plan launched.",
	}, []string{"plan"})
	// UnschedulablePods is the number of pending pods the last plan could place nowhere.
	UnschedulablePods = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "provisioner", Name: "unschedulable_pods",
		Help: "Pending pods the last plan could place on no existing, in-flight or new node.",
	})

	// NodesCreated and NodesTerminated count VPSieNodes by NodeGroup and reason.
	NodesCreated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "nodes", Name: "created_total",
		Help: "VPSieNodes created, by NodeGroup and reason (provisioning, min_nodes).",
	}, []string{LabelNodeGroup, LabelReason})
	NodesTerminated = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "nodes", Name: "terminated_total",
		Help: "VPSieNodes whose termination finished, by NodeGroup and reason (deleted, launch_failed, registration_timeout, instance_gone, ...).",
	}, []string{LabelNodeGroup, LabelReason})
	// NodesDisrupted counts VPSieNodes deleted by voluntary disruption, by NodeGroup and reason.
	NodesDisrupted = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "nodes", Name: "disrupted_total",
		Help: "VPSieNodes deleted by voluntary disruption, by NodeGroup and reason (empty).",
	}, []string{LabelNodeGroup, LabelReason})
	// VPSieNodes is the number of VPSieNodes per NodeGroup and phase.
	VPSieNodes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "vpsienodes", Name: "count",
		Help: "VPSieNodes by NodeGroup and phase.",
	}, []string{LabelNodeGroup, LabelPhase})
	// LaunchDuration is the time from a VPSieNode's creation to its VM being known (instance id).
	LaunchDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "vpsienodes", Name: "launch_duration_seconds",
		Help:    "Time from a VPSieNode's creation until the cloud named its VM.",
		Buckets: durationBuckets,
	}, []string{LabelNodeGroup})
	// RegistrationDuration is the time from a VPSieNode's creation to its Node registering.
	RegistrationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "vpsienodes", Name: "registration_duration_seconds",
		Help:    "Time from a VPSieNode's creation until its Node registered.",
		Buckets: durationBuckets,
	}, []string{LabelNodeGroup})
	// InitializationDuration is the time from a VPSieNode's creation to its Node being initialized.
	InitializationDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "vpsienodes", Name: "initialization_duration_seconds",
		Help:    "Time from a VPSieNode's creation until its Node was Ready without startup taints.",
		Buckets: durationBuckets,
	}, []string{LabelNodeGroup})

	// CloudProviderDuration and CloudProviderErrors are per CloudProvider method.
	CloudProviderDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "cloudprovider", Name: "duration_seconds",
		Help:    "Duration of CloudProvider calls, by method.",
		Buckets: durationBuckets,
	}, []string{LabelProvider, LabelMethod})
	CloudProviderErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "cloudprovider", Name: "errors_total",
		Help: "Failed CloudProvider calls, by method and error kind (not_found, insufficient_capacity, nodegroup_not_ready, launch_pending, other).",
	}, []string{LabelProvider, LabelMethod, LabelError})

	// NodeGroupUsage and NodeGroupLimit are a NodeGroup's resources in use and its limits
	// (resource: cpu in cores, memory in bytes, nodes).
	NodeGroupUsage = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "nodegroup", Name: "usage",
		Help: "Resources of a NodeGroup's nodes (cpu cores, memory bytes, nodes).",
	}, []string{LabelNodeGroup, LabelResource})
	NodeGroupLimit = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "nodegroup", Name: "limit",
		Help: "Limits of a NodeGroup (cpu cores, memory bytes, nodes = maxNodes); absent when unlimited.",
	}, []string{LabelNodeGroup, LabelResource})

	// ClusterCost is the hourly price of every VPSieNode that is not terminating.
	ClusterCost = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "cluster", Name: "cost_dollars_per_hour",
		Help: "Hourly price (USD) of all VPSieNodes that are not terminating.",
	})

	// GarbageCollected counts instances and VPSieNodes removed by garbage collection.
	GarbageCollected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "garbagecollection", Name: "deleted_total",
		Help: "Objects removed by garbage collection: reason=orphan_instance (a VM with no VPSieNode), instance_gone (a VPSieNode whose VM vanished).",
	}, []string{LabelReason})

	// CatalogOfferings is the number of offerings in the cached catalogue, and
	// OfferingsUnavailable the number marked unavailable after capacity errors.
	CatalogOfferings = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "catalog", Name: "offerings",
		Help: "Offerings in the cached VPSie catalogue.",
	})
	OfferingsUnavailable = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace, Subsystem: "catalog", Name: "unavailable_offerings",
		Help: "Offerings currently marked unavailable after a launch failed for capacity or quota.",
	})
	CatalogRefreshes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: Namespace, Subsystem: "catalog", Name: "refreshes_total",
		Help: "Catalogue refreshes, by result (success, error).",
	}, []string{"result"})
)

// All is every metric this package defines.
func All() []prometheus.Collector {
	return []prometheus.Collector{
		PendingPods, BatchSize, SolveDuration, SolveDeadlineExceeded, PlanCost, PlanPackedCost, PlanLowerBound, ReplayStranded, UnschedulablePods,
		NodesCreated, NodesTerminated, NodesDisrupted, VPSieNodes, LaunchDuration, RegistrationDuration, InitializationDuration,
		CloudProviderDuration, CloudProviderErrors, NodeGroupUsage, NodeGroupLimit, ClusterCost,
		GarbageCollected, CatalogOfferings, OfferingsUnavailable, CatalogRefreshes,
	}
}

func init() {
	crmetrics.Registry.MustRegister(All()...)
}
