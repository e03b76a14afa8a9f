// Package fidelity measures how closely the real kube-scheduler follows the simulator's plans.
// Each workload is planned with pkg/simulator; a bare local control plane (etcd, kube-apiserver,
// the real kube-scheduler with its default profile; see pkg/local) then gets the workload's
// existing Nodes and pods and, for every planned new node, a Node shaped as the autoscaler's
// launched node would be (the NodeGroup template's labels and taints, the offering's labels, the
// emulator's capacity and allocatable), with the daemonset pods bound to it. The pending pods are
// created either after all the nodes (mode "all nodes first") or before them, the nodes then
// arriving one by one in a seeded random order (mode "one by one"). Once the scheduler is
// quiescent the suite counts the pods left unschedulable (stranded), the pods bound somewhere
// other than the plan said (elsewhere) and the planned nodes left empty with their share of the
// planned cost, and writes the table to GinkgoWriter and _output/fidelity.txt.
package fidelity

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestFidelity(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Plan fidelity through the bare kube-scheduler")
}

// The table is written here rather than in an AfterAll: an ordered container whose last specs
// are skipped (no shared benchmark data) never runs its AfterAll.
var _ = AfterSuite(writeTable)
