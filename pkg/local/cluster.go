// Package local runs the built-in local environment on loopback: etcd, kube-apiserver (generated
// certificates, RBAC), kube-controller-manager (node lifecycle, service accounts, workload
// controllers), kube-scheduler (default profile), kwok (Nodes and Pods without kubelets), the
// VPSie emulator (one managed cluster, the shipped catalogue, a boot delay), the Helm chart and
// the autoscaler as the chart's ServiceAccount. `make demo`, `make e2e` and hack/local-up use it.
//
// Every child runs in its own process group and is stopped, in reverse order, by Stop; the state
// file (<dir>/state.json) lists their pids so that `vpsie-local down` and the tests can check
// that nothing was left behind.
package local

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/multierr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/toolcache"
)

//go:embed kwok-stages.yaml
var kwokStages []byte

const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1"
	// ClusterID is the managed cluster the emulator serves and the autoscaler manages.
	ClusterID = "c0000000-0000-4000-8000-0000000000aa"
	// Namespace receives the chart (release ReleaseName) and the VPSie credentials.
	Namespace   = "kube-system"
	ReleaseName = "vpsie-autoscaler"
	// ControlPlaneNode is a kwok Node that is not ours: it hosts the chart's Deployment pods
	// (they tolerate its taint), as the existing nodes of a real managed cluster would.
	ControlPlaneNode = "local-control-plane"
	// stopGrace is how long a child gets between SIGTERM and SIGKILL.
	stopGrace = 10 * time.Second
)

// Options configure Start. Zero values take the defaults.
type Options struct {
	// Dir holds certificates, kubeconfigs, logs, data and the state file; empty: a new temp dir,
	// removed by Stop unless KeepDir.
	Dir     string
	KeepDir bool
	// BinDir holds vpsie-autoscaler and vpsie-emulator; empty: they are built into <Dir>/bin.
	BinDir string
	// Offerings is the emulator's catalogue; default <repo>/hack/examples/offerings.json.
	Offerings string
	// BootDelay is how long a new worker stays provisioning in the emulator (default 3s).
	BootDelay time.Duration
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// Detach lets the children outlive the launcher (for `demo --keep`): Stop or `vpsie-local
	// down` stops them. Otherwise they are killed when the launcher dies.
	Detach bool
	// Bare starts only etcd, kube-apiserver and kube-scheduler: the plan-fidelity measurement
	// creates Nodes itself and watches where the real scheduler binds pods.
	Bare bool
}

// Cluster is a running local environment.
type Cluster struct {
	Dir string
	// Kubeconfig is the admin kubeconfig (system:masters).
	Kubeconfig string
	// AutoscalerKubeconfig holds the chart ServiceAccount's token, once StartAutoscaler ran.
	AutoscalerKubeconfig string
	APIServerURL         string
	EmulatorURL          string
	EmulatorToken        string
	// MetricsURL is the autoscaler's /metrics, once StartAutoscaler ran.
	MetricsURL string
	Config     *rest.Config
	Kube       kubernetes.Interface

	opts       Options
	root       string
	binDir     string
	pki        *pki
	mu         sync.Mutex
	procs      []*process
	autoscaler *process
	removeDir  bool
}

// State is what <dir>/state.json records for `vpsie-local down` and stray-process checks.
type State struct {
	LauncherPid   int            `json:"launcherPid"`
	Kubeconfig    string         `json:"kubeconfig"`
	EmulatorURL   string         `json:"emulatorURL"`
	Pids          map[string]int `json:"pids"`
	Ready         bool           `json:"ready"`
	AutoscalerLog string         `json:"autoscalerLog,omitempty"`
}

// StateFile is the state file of a cluster directory.
func StateFile(dir string) string { return filepath.Join(dir, "state.json") }

// ReadState reads a cluster directory's state file.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(StateFile(dir))
	if err != nil {
		return nil, fmt.Errorf("reading state, %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decoding %s, %w", StateFile(dir), err)
	}
	return &s, nil
}

func (c *Cluster) progress(format string, args ...any) {
	if c.opts.Progress != nil {
		fmt.Fprintf(c.opts.Progress, format+"\n", args...)
	}
}

// Start brings the environment up to the point where the chart can be installed: the control
// plane, kwok with the control-plane Node Ready, and the emulator. On error it stops whatever it
// started.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	root, err := toolcache.RepoRoot()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, root: root}
	if c.opts.BootDelay == 0 {
		c.opts.BootDelay = 3 * time.Second
	}
	if c.opts.Offerings == "" {
		c.opts.Offerings = filepath.Join(root, "hack", "examples", "offerings.json")
	}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "vpsie-local-")
		if err != nil {
			return nil, fmt.Errorf("creating temp dir, %w", err)
		}
		c.Dir, c.removeDir = d, !opts.KeepDir
	} else {
		c.Dir = opts.Dir
		if err := os.MkdirAll(c.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s, %w", c.Dir, err)
		}
	}
	defer func() {
		if err != nil {
			err = multierr.Append(err, c.Stop())
		}
	}()
	steps := []struct {
		name string
		run  func(context.Context) error
	}{
		{"building binaries", c.buildBinaries},
		{"generating certificates", c.certificates},
		{"starting etcd and kube-apiserver", c.startAPIServer},
		{"starting kube-controller-manager, kube-scheduler and kwok", c.startControllers},
		{"starting the VPSie emulator", c.startEmulator},
		{"registering the control-plane node", c.controlPlaneNode},
	}
	if opts.Bare {
		steps = append(steps[:3], struct {
			name string
			run  func(context.Context) error
		}{"starting kube-scheduler", c.startScheduler})
	}
	for _, s := range steps {
		start := time.Now()
		if err := s.run(ctx); err != nil {
			return nil, fmt.Errorf("%s, %w", s.name, err)
		}
		c.progress("%-58s %5.1fs", s.name, time.Since(start).Seconds())
	}
	return c, c.writeState(true)
}

func (c *Cluster) buildBinaries(ctx context.Context) error {
	if c.opts.Bare {
		return nil
	}
	c.binDir = c.opts.BinDir
	if c.binDir != "" {
		for _, b := range []string{"vpsie-autoscaler", "vpsie-emulator"} {
			if _, err := os.Stat(filepath.Join(c.binDir, b)); err != nil {
				return fmt.Errorf("%s not found in %s (run `make build`)", b, c.binDir)
			}
		}
		return nil
	}
	c.binDir = filepath.Join(c.Dir, "bin")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", c.binDir+"/", "./cmd/vpsie-autoscaler", "./cmd/vpsie-emulator")
	cmd.Dir = c.root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go build: %s, %w", strings.TrimSpace(string(out)), err)
	}
	return nil
}

func (c *Cluster) certificates(context.Context) error {
	p, err := newPKI(filepath.Join(c.Dir, "pki"))
	c.pki = p
	return err
}

func (c *Cluster) tool(name string) (string, error) {
	return toolcache.Path(name)
}

func (c *Cluster) start(name, bin string, args ...string) (*process, error) {
	p, err := startProcess(name, filepath.Join(c.Dir, "logs"), bin, args, c.opts.Detach)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// BinDir holds the vpsie-autoscaler and vpsie-emulator binaries the cluster runs.
func (c *Cluster) BinDir() string { return c.binDir }

// LogFile is where a component's output goes.
func (c *Cluster) LogFile(component string) string {
	return filepath.Join(c.Dir, "logs", component+".log")
}

func (c *Cluster) startAPIServer(ctx context.Context) error {
	etcd, err := c.tool("etcd")
	if err != nil {
		return err
	}
	apiserver, err := c.tool("kube-apiserver")
	if err != nil {
		return err
	}
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	pe, err := c.start("etcd", etcd,
		"--name=local", "--data-dir="+filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls="+clientURL, "--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=local="+peerURL, "--unsafe-no-fsync=true", "--log-level=warn")
	if err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, pe, clientURL+"/health", 60*time.Second); err != nil {
		return fmt.Errorf("etcd not healthy, %w (log: %s)", err, c.LogFile("etcd"))
	}
	c.APIServerURL = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	pa, err := c.start("kube-apiserver", apiserver,
		"--etcd-servers="+clientURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[2]),
		"--tls-cert-file="+c.pki.ServingCert, "--tls-private-key-file="+c.pki.ServingKey,
		"--client-ca-file="+c.pki.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+c.pki.SAPub, "--service-account-signing-key-file="+c.pki.SAKey,
		"--service-cluster-ip-range="+serviceCIDR,
		"--authorization-mode=Node,RBAC", "--allow-privileged=true",
		// a loopback advertise address cannot be the kubernetes Service endpoint
		"--endpoint-reconciler-type=none",
		// the bursts of the tests and the demo are not what priority and fairness is tuned for
		"--enable-priority-and-fairness=false", "--max-requests-inflight=2000", "--max-mutating-requests-inflight=1000",
		"--profiling=false", "--v=0")
	if err != nil {
		return err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := c.writeKubeconfig(c.Kubeconfig, clientcmdapi.AuthInfo{ClientCertificate: c.pki.AdminCert, ClientKey: c.pki.AdminKey}); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig, %w", err)
	}
	cfg.QPS, cfg.Burst = 500, 1000
	c.Config = cfg
	if c.Kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return fmt.Errorf("building client, %w", err)
	}
	return c.waitFor(ctx, pa, 120*time.Second, func(ctx context.Context) (bool, error) {
		body, err := c.Kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return err == nil && string(body) == "ok", nil
	})
}

func (c *Cluster) writeKubeconfig(path string, user clientcmdapi.AuthInfo) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: c.APIServerURL, CertificateAuthority: c.pki.CACert}
	cfg.AuthInfos["user"] = &user
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "user"}
	cfg.CurrentContext = "local"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("writing kubeconfig, %w", err)
	}
	return nil
}

func (c *Cluster) startControllers(ctx context.Context) error {
	kcm, err := c.tool("kube-controller-manager")
	if err != nil {
		return err
	}
	sched, err := c.tool("kube-scheduler")
	if err != nil {
		return err
	}
	kwok, err := c.tool("kwok")
	if err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	pk, err := c.start("kube-controller-manager", kcm,
		"--kubeconfig="+c.Kubeconfig, "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[0]),
		"--leader-elect=false", "--controllers=*",
		"--service-account-private-key-file="+c.pki.SAKey, "--root-ca-file="+c.pki.CACert,
		"--use-service-account-credentials=false", "--kube-api-qps=300", "--kube-api-burst=600",
		"--concurrent-deployment-syncs=10", "--concurrent-replicaset-syncs=10", "--v=0")
	if err != nil {
		return err
	}
	schedConfig, err := c.schedulerConfig()
	if err != nil {
		return err
	}
	ps, err := c.start("kube-scheduler", sched, "--config="+schedConfig,
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[1]), "--v=0")
	if err != nil {
		return err
	}
	stages := filepath.Join(c.Dir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return fmt.Errorf("writing kwok stages, %w", err)
	}
	pw, err := c.start("kwok", kwok, "--kubeconfig="+c.Kubeconfig, "--config="+stages,
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		"--node-lease-duration-seconds=40", "--cidr=10.244.0.0/16")
	if err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, pk, "https://127.0.0.1:"+strconv.Itoa(ports[0])+"/healthz", 60*time.Second); err != nil {
		return fmt.Errorf("kube-controller-manager not healthy, %w (log: %s)", err, c.LogFile("kube-controller-manager"))
	}
	if err := c.waitHTTP(ctx, ps, "https://127.0.0.1:"+strconv.Itoa(ports[1])+"/healthz", 60*time.Second); err != nil {
		return fmt.Errorf("kube-scheduler not healthy, %w (log: %s)", err, c.LogFile("kube-scheduler"))
	}
	// the service account controller creates "default" in every namespace; pods need it
	return c.waitFor(ctx, pw, 60*time.Second, func(ctx context.Context) (bool, error) {
		_, err := c.Kube.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// startScheduler is the scheduler alone, for Bare clusters.
func (c *Cluster) startScheduler(ctx context.Context) error {
	sched, err := c.tool("kube-scheduler")
	if err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	cfg, err := c.schedulerConfig()
	if err != nil {
		return err
	}
	ps, err := c.start("kube-scheduler", sched, "--config="+cfg, "--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(ports[0]), "--v=0")
	if err != nil {
		return err
	}
	return c.waitHTTP(ctx, ps, "https://127.0.0.1:"+strconv.Itoa(ports[0])+"/healthz", 60*time.Second)
}

func (c *Cluster) schedulerConfig() (string, error) {
	path := filepath.Join(c.Dir, "scheduler.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 500
  burst: 1000
leaderElection:
  leaderElect: false
`, c.Kubeconfig)), 0o644); err != nil {
		return "", fmt.Errorf("writing scheduler config, %w", err)
	}
	return path, nil
}

func (c *Cluster) startEmulator(ctx context.Context) error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	c.EmulatorToken = randomHex(16)
	c.EmulatorURL = "http://127.0.0.1:" + strconv.Itoa(ports[0])
	p, err := c.start("vpsie-emulator", filepath.Join(c.binDir, "vpsie-emulator"),
		"--listen=127.0.0.1:"+strconv.Itoa(ports[0]), "--offerings="+c.opts.Offerings,
		"--cluster="+ClusterID, "--token="+c.EmulatorToken, "--kubeconfig="+c.Kubeconfig,
		"--boot-delay="+c.opts.BootDelay.String(), "--hostname-prefix=vpsie-w")
	if err != nil {
		return err
	}
	return c.waitHTTP(ctx, p, c.EmulatorURL+"/admin/workers", 30*time.Second)
}

// controlPlaneNode registers a kwok Node that is not ours, tainted for the control plane.
func (c *Cluster) controlPlaneNode(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ControlPlaneNode,
			Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
			Labels: map[string]string{
				corev1.LabelHostname: ControlPlaneNode, corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64",
				"node-role.kubernetes.io/control-plane": "",
			},
		},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}},
		Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110"),
			},
			Allocatable: corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse("8"), corev1.ResourceMemory: resource.MustParse("16Gi"), corev1.ResourcePods: resource.MustParse("110"),
			},
		},
	}
	if _, err := c.Kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating node, %w", err)
	}
	// Ready, and the node lifecycle controller has removed the not-ready taint the admission
	// plugin put on it: the same path every launched node takes.
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := c.Kube.CoreV1().Nodes().Get(ctx, ControlPlaneNode, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		for _, t := range n.Spec.Taints {
			if t.Key == corev1.TaintNodeNotReady {
				return false, nil
			}
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// waitHTTP polls url until it answers 200 (TLS not verified: these are our own loopback
// children, and only their liveness is asked).
func (c *Cluster) waitHTTP(ctx context.Context, p *process, url string, timeout time.Duration) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // loopback liveness probe of our own children
	return c.waitFor(ctx, p, timeout, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
}

// waitFor polls cond, failing early with the log's tail when the process exits.
func (c *Cluster) waitFor(ctx context.Context, p *process, timeout time.Duration, cond func(context.Context) (bool, error)) error {
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		if done, err := p.exited(); done {
			return false, fmt.Errorf("%s exited (%w); last lines of %s:\n%s", p.name, err, c.LogFile(p.name), tail(c.LogFile(p.name), 15))
		}
		return cond(ctx)
	})
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Pids lists the running children by name.
func (c *Cluster) Pids() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for _, p := range c.procs {
		if done, _ := p.exited(); !done {
			out[p.name] = p.Pid()
		}
	}
	return out
}

func (c *Cluster) writeState(ready bool) error {
	s := State{LauncherPid: os.Getpid(), Kubeconfig: c.Kubeconfig, EmulatorURL: c.EmulatorURL, Pids: c.Pids(), Ready: ready}
	if c.autoscaler != nil {
		s.AutoscalerLog = c.LogFile("vpsie-autoscaler")
	}
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding state, %w", err)
	}
	if err := os.WriteFile(StateFile(c.Dir), data, 0o644); err != nil {
		return fmt.Errorf("writing state, %w", err)
	}
	return nil
}

// Stop stops every child in reverse start order and removes a temp dir. It is safe to call twice.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop(stopGrace)
	}
	var errs error
	for _, p := range procs {
		if Alive(p.Pid()) {
			errs = multierr.Append(errs, fmt.Errorf("%s (pid %d) still running after stop", p.name, p.Pid()))
		}
	}
	if c.removeDir && c.Dir != "" {
		if err := os.RemoveAll(c.Dir); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = multierr.Append(errs, fmt.Errorf("removing %s, %w", c.Dir, err))
		}
	} else if c.Dir != "" {
		_ = c.writeState(false)
	}
	return errs
}
