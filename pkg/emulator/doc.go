// Package emulator implements the VPSie API contract of VPSIE_API.md from in-memory state, so the
// client, the cloud provider and the end-to-end tests can run without the real cloud.
//
// Workers and VMs "boot": they stay "provisioning" for the boot delay (on the injected clock),
// then run and, when a Kubernetes client is configured, become Nodes named after their hostname
// with providerID vpsie://<identifier> and the kwok annotation, so kwok keeps them Ready.
// Deleting a worker or VM deletes its Node. Start runs a loop that does this on a ticker; tests
// with a fake clock call Reconcile instead.
//
// With the registerUninitialized switch, Nodes register as a kubelet run with an external cloud
// provider does: with the NoSchedule taint node.cloudprovider.kubernetes.io/uninitialized, which
// a later Reconcile removes once uninitializedDelay has passed since the Node was created (as a
// cloud controller manager would), keeping every other taint. This is the window in which the
// autoscaler must apply its labels and taints before any pod can land on the node.
//
// Admin API (loopback clients only; header X-Admin-Token when Config.AdminToken is set), each
// answer in the VPSie envelope:
//
//	GET  /admin/workers    every worker of every cluster (AdminWorker), to assert nothing leaked
//	GET  /admin/vms        every VM (AdminVM)
//	GET  /admin/groups     every node group (AdminGroup)
//	GET  /admin/calls      calls received and answers by status, per call name (CallStats)
//	GET  /admin/config     the current Switches
//	PUT  /admin/config     merge a partial Switches document, e.g. {"maxWorkers":3,"errorRates":{"add-worker":1}}
//	POST /admin/reset      forget groups, workers, VMs and counters; restore the initial switches
//	POST /admin/reconcile  run one boot pass now
//
// Call names (for errorRates, latencies and counters): see AllCalls; "*" matches every call.
package emulator
