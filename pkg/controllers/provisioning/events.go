package provisioning

// Event reasons.
const (
	// EventNominated (Normal, Pod): the plan put the pod on a VPSieNode (new or in flight).
	EventNominated = "Nominated"
	// EventFailedProvisioning (Warning, Pod): no NodeGroup can host the pod; the message has the
	// simulator's reason per NodeGroup.
	EventFailedProvisioning = "FailedProvisioning"
	// EventLimitReached (Warning, NodeGroup and Pod): a planned node was not launched because the
	// NodeGroup's maxNodes or limits would be exceeded by the live count.
	EventLimitReached = "LimitReached"
	// EventDryRun (Normal, NodeGroup): what would have been launched.
	EventDryRun = "DryRunLaunch"
	// EventSolveDeadline (Warning, NodeGroup-less: logged and on each deferred pod once): the
	// solve deadline cut the plan short.
	EventSolveDeadline = "SolveDeadlineExceeded"
)
