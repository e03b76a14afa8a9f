package v1alpha1

// Every label, annotation, taint and finalizer key the autoscaler reads or writes lives here, so a
// grep for one key finds all of them and no package invents its own spelling.

// Labels the autoscaler puts on every Node (and VPSieNode) it creates.
const (
	// LabelNodeGroup names the NodeGroup a node belongs to.
	LabelNodeGroup = Group + "/nodegroup"
	// LabelOffering is the VPSie offering (size) id of the node, e.g. "105".
	LabelOffering = Group + "/offering"
	// LabelCategory is the offering category, e.g. "standard" or "memory-optimized".
	LabelCategory = Group + "/category"
	// LabelCPU is the offering's vCPU count as a decimal integer, so Gt/Lt requirements work on it.
	LabelCPU = Group + "/cpu"
	// LabelMemoryMiB is the offering's memory in MiB as a decimal integer (Gt/Lt usable).
	LabelMemoryMiB = Group + "/memory-mib"
	// LabelDatacenter is the VPSie datacenter identifier of the node.
	LabelDatacenter = Group + "/datacenter"
	// LabelVPSieNode names the VPSieNode that launched a Node.
	LabelVPSieNode = Group + "/vpsienode"
	// LabelBatch names the provisioning pass that created a VPSieNode (a short random id), when
	// that pass created more than one and --batch-release-window is on. Registration copies it
	// onto the Node, so the nodes of one batch are selectable together: they are held under
	// TaintKeyBatchPending and released at once (see the lifecycle controller).
	LabelBatch = Group + "/batch"
)

// Well-known Kubernetes labels set on our nodes.
const (
	LabelInstanceType = "node.kubernetes.io/instance-type"
	LabelZone         = "topology.kubernetes.io/zone"
	LabelArch         = "kubernetes.io/arch"
	LabelOS           = "kubernetes.io/os"
	LabelHostname     = "kubernetes.io/hostname"
)

// Annotations.
const (
	// AnnotationDoNotDisrupt on a Pod or a Node blocks voluntary disruption (consolidation,
	// expiry) of the node. Its value must be "true".
	AnnotationDoNotDisrupt = Group + "/do-not-disrupt"
	// AnnotationWorkerRequested on a VPSieNode records (RFC3339) that the cloud provider asked
	// VPSie for a worker for it and had not yet been told which one: written before the request,
	// so a restarted controller waits for that worker instead of asking for a second one.
	AnnotationWorkerRequested = Group + "/worker-requested"
	// AnnotationWorkerGroup on a VPSieNode is the VPSie node group id the worker was asked from.
	AnnotationWorkerGroup = Group + "/worker-group"
	// AnnotationBatchHeldSince on a VPSieNode records (RFC3339, nanoseconds) when the lifecycle
	// controller first found its Node Ready and held only by TaintKeyBatchPending; the batch's
	// release window runs from the earliest such time of its VPSieNodes. Kept on the object, so
	// a restarted or newly elected controller does not start the window again.
	AnnotationBatchHeldSince = Group + "/batch-held-since"
)

// Labels the lifecycle controller puts on Nodes it has taken over.
const (
	// LabelRegistered marks a Node whose labels, taints and owner were applied from its VPSieNode.
	LabelRegistered = Group + "/registered"
	// LabelInitialized marks a Node that is Ready with its startup taints gone.
	LabelInitialized = Group + "/initialized"
)

// TaintKeyExternalCloudProviderUninitialized is the taint a kubelet run with an external cloud
// provider registers with, until the cloud controller manager initialises the node.
const TaintKeyExternalCloudProviderUninitialized = "node.cloudprovider.kubernetes.io/uninitialized"

// Taints.
const (
	// TaintKeyDisrupted is put (NoSchedule) on a node chosen for disruption before it is drained,
	// so the scheduler stops placing pods there.
	TaintKeyDisrupted = Group + "/disrupted"
	// TaintKeyBatchPending is put (NoSchedule, value: the batch id) on each new Node of a
	// provisioning batch at registration and taken off all of them together once the whole batch
	// is Ready (or the release window has passed): the scheduler then sees the planned capacity at
	// once instead of packing the waiting pods greedily onto the first nodes that come up. The
	// simulator never sees it (pkg/state strips it), since it goes away by itself.
	TaintKeyBatchPending = Group + "/batch-pending"
)

// Finalizers.
const (
	// TerminationFinalizer holds a VPSieNode (and its Node) until the node is drained, the VM is
	// deleted and the Node object is gone.
	TerminationFinalizer = Group + "/termination"
)

// RequirementKeys are the label keys a NodeGroup's requirements may constrain: the properties of
// an offering that are known before a node exists. The CRD enforces the same list (see the
// XValidation rule on NodeSelectorRequirement.Key); keep the two in sync.
var RequirementKeys = []string{
	LabelOffering,
	LabelCategory,
	LabelCPU,
	LabelMemoryMiB,
	LabelInstanceType,
	LabelZone,
	LabelArch,
	LabelOS,
}

// WellKnownLabels are the labels the autoscaler itself sets on nodes; a NodeGroup template may not
// set them (the CRD rejects them in spec.template.labels), because the autoscaler's values would
// silently win.
var WellKnownLabels = []string{
	LabelNodeGroup,
	LabelOffering,
	LabelCategory,
	LabelCPU,
	LabelMemoryMiB,
	LabelDatacenter,
	LabelVPSieNode,
	LabelBatch,
	LabelInstanceType,
	LabelZone,
	LabelArch,
	LabelOS,
	LabelHostname,
}
