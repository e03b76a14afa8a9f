package v1alpha1

// Condition types and reasons (metav1.Condition) of both kinds. Reasons are CamelCase, as
// metav1.Condition requires, and are part of the API: alerts and tests match on them.

// NodeGroup condition types.
const (
	// NodeGroupReady is True when the group can launch nodes: offerings resolved and limits not hit.
	NodeGroupReady = "Ready"
	// NodeGroupOfferingsResolved is True when at least one VPSie offering satisfies the group's
	// requirements, offeringIDs and maxHourlyPrice in its datacenter.
	NodeGroupOfferingsResolved = "OfferingsResolved"
	// NodeGroupLimitsExceeded is True when the group is at maxNodes or at spec.limits, so no new
	// node can come from it.
	NodeGroupLimitsExceeded = "LimitsExceeded"
)

// NodeGroup condition reasons.
const (
	ReasonReady                = "Ready"
	ReasonNotReady             = "NotReady"
	ReasonOfferingsResolved    = "OfferingsResolved"
	ReasonNoMatchingOfferings  = "NoMatchingOfferings"
	ReasonCatalogUnavailable   = "CatalogUnavailable"
	ReasonMaxNodesReached      = "MaxNodesReached"
	ReasonResourceLimitReached = "ResourceLimitReached"
	ReasonWithinLimits         = "WithinLimits"
	// ReasonInvalidBudgetSchedule: a disruption budget's schedule is not a cron expression.
	ReasonInvalidBudgetSchedule = "InvalidBudgetSchedule"
	// ReasonInvalidRequirements: the requirements or maxHourlyPrice cannot be evaluated.
	ReasonInvalidRequirements = "InvalidRequirements"
)

// VPSieNode condition types, in lifecycle order.
const (
	// VPSieNodeLaunched is True once the VM exists at VPSie (instance id known).
	VPSieNodeLaunched = "Launched"
	// VPSieNodeRegistered is True once a Node with the matching providerID joined the cluster.
	VPSieNodeRegistered = "Registered"
	// VPSieNodeInitialized is True once that Node is Ready and its startup taints are gone.
	VPSieNodeInitialized = "Initialized"
	// VPSieNodeConsolidatable is True while the node is a consolidation candidate (reason Empty or
	// Underutilized); its lastTransitionTime is when it became one, so consolidation acts once
	// that is the NodeGroup's consolidateAfter ago. False (NotConsolidatable) says why not.
	VPSieNodeConsolidatable = "Consolidatable"
	// VPSieNodeDisrupting is True while the node is being voluntarily removed or replaced.
	VPSieNodeDisrupting = "Disrupting"
)

// VPSieNode condition reasons.
const (
	ReasonLaunching            = "Launching"
	ReasonLaunched             = "Launched"
	ReasonLaunchFailed         = "LaunchFailed"
	ReasonInsufficientQuota    = "InsufficientQuota"
	ReasonOfferingUnavailable  = "OfferingUnavailable"
	ReasonAwaitingNode         = "AwaitingNode"
	ReasonRegistered           = "Registered"
	ReasonRegistrationTimeout  = "RegistrationTimeout"
	ReasonNodeNotReady         = "NodeNotReady"
	ReasonStartupTaintsPresent = "StartupTaintsPresent"
	ReasonInitialized          = "Initialized"
	ReasonEmpty                = "Empty"
	ReasonUnderutilized        = "Underutilized"
	ReasonNotConsolidatable    = "NotConsolidatable"
	ReasonConsolidating        = "Consolidating"
	ReasonExpired              = "Expired"
	ReasonDrifted              = "Drifted"
	ReasonDraining             = "Draining"
	ReasonInstanceDeleted      = "InstanceDeleted"
	ReasonInstanceNotFound     = "InstanceNotFound"

	// ReasonBatchHeld (Initialized=False): the Node is Ready but held under TaintKeyBatchPending
	// until the rest of its provisioning batch is Ready too, or the release window has passed.
	ReasonBatchHeld = "BatchHeld"
)
