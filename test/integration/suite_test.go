// Package integration starts the autoscaler's real wiring (operator, controllers, VPSie cloud
// provider) against a real kube-apiserver + etcd (envtest) and the VPSie emulator over HTTP, the
// emulator creating the Nodes of the workers it boots.
package integration

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
)

var env *environment.Environment

func TestIntegration(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Manager integration")
}

var _ = BeforeSuite(func() {
	var err error
	env, err = environment.Start()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { Expect(env.Stop()).To(Succeed()) })
})
