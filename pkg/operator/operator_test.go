package operator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider/fake"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
)

const (
	testToken        = "tok-must-never-be-logged-7f3a"
	testClientSecret = "client-secret-must-never-be-logged-91c2"
	testClusterID    = "c0000000-0000-4000-8000-0000000000aa"
)

var nsCounter atomic.Int32

func newNamespace(ctx context.Context) string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("operator-test-%d", nsCounter.Add(1))}}
	Expect(env.Client.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// freeAddress finds a loopback port nobody listens on: the manager does not report the port it
// bound when given port 0.
func freeAddress() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer func() { Expect(ln.Close()).To(Succeed()) }()
	return ln.Addr().String()
}

// syncBuffer is written by the logger from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func get(url string) (int, string) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func startEmulator(ctx context.Context) string {
	emu, err := emulator.New(emulator.Config{
		Offerings:    []emulator.Offering{{ID: 105, Name: "s-2vcpu-4gb", CPU: 2, RAM: 4096, Disk: 80, Price: 20}},
		Clusters:     []emulator.ClusterConfig{{Identifier: testClusterID}},
		Tokens:       []string{testToken},
		ClientID:     "operator-test",
		ClientSecret: testClientSecret,
	})
	Expect(err).NotTo(HaveOccurred())
	url, err := emu.Start(ctx)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) { Expect(emu.Stop(ctx)).To(Succeed()) })
	return url
}

func testOptions(ns string, logs io.Writer) *Options {
	o, err := Parse([]string{
		"--cluster-id=" + testClusterID,
		"--vpsie-secret-namespace=" + ns,
		"--leader-election-namespace=" + ns,
		"--metrics-bind-address=" + freeAddress(),
		"--health-probe-bind-address=" + freeAddress(),
		"--graceful-shutdown-timeout=5s",
		"--log-level=debug",
	}, nil)
	Expect(err).NotTo(HaveOccurred())
	o.LogOutput = logs
	return o
}

var _ = Describe("Operator", func() {
	It("serves probes and metrics, acquires and releases the Lease, and never logs credentials", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		url := startEmulator(ctx)
		Expect(env.Client.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vpsie-credentials"},
			Data: map[string][]byte{
				"token": []byte(testToken), "clientId": []byte("operator-test"),
				"clientSecret": []byte(testClientSecret), "url": []byte(url),
			},
		})).To(Succeed())
		logs := &syncBuffer{}
		opts := testOptions(ns, logs)

		op, err := NewOperator(ctx, env.Config, opts)
		Expect(err).NotTo(HaveOccurred())
		Expect(op.CloudProvider.Name()).To(Equal("vpsie"))
		Expect(op.Clock).NotTo(BeNil())
		// The scheme is the operator's own and knows our kinds.
		Expect(op.Manager.GetScheme().Recognizes(v1alpha1.GroupVersion.WithKind("VPSieNode"))).To(BeTrue())

		var catalogueLoaded atomic.Bool
		Expect(op.AddReadyzChecks(map[string]func() error{
			"catalogue-loaded": func() error {
				if !catalogueLoaded.Load() {
					return errors.New("catalogue not loaded")
				}
				return nil
			},
		})).To(Succeed())

		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		var startErr error
		finished := make(chan struct{})
		go func() {
			defer GinkgoRecover()
			startErr = op.Start(runCtx)
			close(finished)
		}()
		DeferCleanup(func() {
			cancel()
			Eventually(finished).WithTimeout(30 * time.Second).Should(BeClosed())
		})

		probes := "http://" + opts.HealthProbeBindAddress
		Eventually(func() int { code, _ := get(probes + "/healthz"); return code }).WithTimeout(30 * time.Second).Should(Equal(http.StatusOK))
		Eventually(func() string { _, body := get(probes + "/readyz?verbose"); return body }).WithTimeout(30 * time.Second).
			Should(And(ContainSubstring("[+]informer-caches ok"), ContainSubstring("[-]catalogue-loaded failed")))
		code, _ := get(probes + "/readyz")
		Expect(code).To(Equal(http.StatusInternalServerError))
		catalogueLoaded.Store(true)
		Eventually(func() int { code, _ := get(probes + "/readyz"); return code }).WithTimeout(10 * time.Second).Should(Equal(http.StatusOK))

		Eventually(func() int { code, _ := get("http://" + opts.MetricsBindAddress + "/metrics"); return code }).WithTimeout(10 * time.Second).Should(Equal(http.StatusOK))

		Eventually(op.Manager.Elected()).WithTimeout(30 * time.Second).Should(BeClosed())
		lease := &coordinationv1.Lease{}
		Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: opts.LeaderElectionID}, lease)).To(Succeed())
		Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
		Expect(*lease.Spec.HolderIdentity).NotTo(BeEmpty())

		// The credentials reach the emulator: the provider can list (no instances yet).
		instances, err := op.CloudProvider.List(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(instances).To(BeEmpty())
		_, err = op.CloudProvider.Offerings(ctx, &v1alpha1.NodeGroup{Spec: v1alpha1.NodeGroupSpec{DatacenterID: emulator.DefaultDatacenter}})
		Expect(err).NotTo(HaveOccurred())

		cancel()
		Eventually(finished).WithTimeout(30 * time.Second).Should(BeClosed())
		Expect(startErr).NotTo(HaveOccurred())
		Eventually(func(g Gomega) {
			g.Expect(env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: opts.LeaderElectionID}, lease)).To(Succeed())
			g.Expect(lease.Spec.HolderIdentity).To(Or(BeNil(), HaveValue(BeEmpty())), "the Lease is released on shutdown")
		}).WithTimeout(10 * time.Second).Should(Succeed())

		out := logs.String()
		Expect(out).To(ContainSubstring(`"msg":"operator built"`), "logs are JSON")
		Expect(out).NotTo(ContainSubstring(testToken))
		Expect(out).NotTo(ContainSubstring(testClientSecret))
	})

	It("fails clearly when the credentials secret is missing or incomplete", func(ctx SpecContext) {
		ns := newNamespace(ctx)
		opts := testOptions(ns, io.Discard)
		_, err := NewOperator(ctx, env.Config, opts)
		Expect(err).To(MatchError(ContainSubstring(ns + "/vpsie-credentials not found")))

		Expect(env.Client.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "vpsie-credentials"},
			Data:       map[string][]byte{"clientId": []byte("id")},
		})).To(Succeed())
		_, err = NewOperator(ctx, env.Config, opts)
		Expect(err).To(MatchError(ContainSubstring(`no (or an empty) key "clientSecret"`)))
	})

	It("refuses invalid options before touching the cluster", func(ctx SpecContext) {
		opts := testOptions("default", io.Discard)
		opts.ClusterID = ""
		_, err := NewOperator(ctx, env.Config, opts)
		Expect(err).To(MatchError(ContainSubstring("--cluster-id")))
	})

	It("logs as console text when asked", func() {
		var buf bytes.Buffer
		log, err := NewLogger(&Options{LogLevel: "warn", LogFormat: "console", LogOutput: &buf})
		Expect(err).NotTo(HaveOccurred())
		log.Info("hidden at warn")
		log.Error(errors.New("boom"), "shown")
		Expect(buf.String()).NotTo(ContainSubstring("hidden at warn"))
		Expect(buf.String()).To(ContainSubstring("shown"))
		Expect(buf.String()).NotTo(HavePrefix("{"))
	})
})

var _ = Describe("DryRun", func() {
	It("passes reads through and changes nothing in the cloud", func(ctx SpecContext) {
		cp := fake.New()
		var buf bytes.Buffer
		log, err := NewLogger(&Options{LogLevel: "info", LogFormat: "json", LogOutput: &buf})
		Expect(err).NotTo(HaveOccurred())
		dry := NewDryRun(cp, log)
		vn := &v1alpha1.VPSieNode{ObjectMeta: metav1.ObjectMeta{Name: "vn-1"}, Spec: v1alpha1.VPSieNodeSpec{NodeGroup: "general", OfferingID: "105"}}
		_, err = dry.Create(ctx, vn)
		Expect(err).To(MatchError(ErrDryRun))
		Expect(dry.Delete(ctx, vn)).To(MatchError(ErrDryRun))
		Expect(cp.CallCount("Create")).To(BeZero())
		Expect(cp.CallCount("Delete")).To(BeZero())
		_, err = dry.List(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(cp.CallCount("List")).To(Equal(1))
		Expect(dry.Name()).To(Equal("fake"))
		Expect(buf.String()).To(ContainSubstring("would launch an instance"))
	})
})
