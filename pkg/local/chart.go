package local

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/toolcache"
)

// ChartValues are the --set values every install of the local cluster gives: the managed
// cluster, the emulator's URL and token (the chart puts them in its Secret), and a toleration and
// nodeSelector that keep the chart's pods on the control-plane node.
func (c *Cluster) ChartValues() []string {
	return []string{
		"clusterID=" + ClusterID,
		"datacenter=dc-hel1",
		"vpsie.token=" + c.EmulatorToken,
		"vpsie.url=" + c.EmulatorURL,
		"nodeSelector.node-role\\.kubernetes\\.io/control-plane=",
		"tolerations[0].key=node-role.kubernetes.io/control-plane",
		"tolerations[0].operator=Exists",
		"tolerations[0].effect=NoSchedule",
	}
}

// Helm runs the helm binary of the tool cache against the cluster and returns its output.
func (c *Cluster) Helm(ctx context.Context, args ...string) (string, error) {
	helm, err := toolcache.Path("helm")
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, helm, append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = append(cmd.Environ(), "HELM_CACHE_HOME="+filepath.Join(c.Dir, "helm", "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(c.Dir, "helm", "config"), "HELM_DATA_HOME="+filepath.Join(c.Dir, "helm", "data"))
	if err := cmd.Run(); err != nil {
		// the output may echo --set values; the emulator token is a throwaway of this run
		return out.String(), fmt.Errorf("helm %s: %s, %w", args[0], strings.TrimSpace(out.String()), err)
	}
	return out.String(), nil
}

// InstallChart installs (or upgrades) the chart into Namespace as ReleaseName with ChartValues
// plus extra --set values, and waits for its Deployment to be available.
func (c *Cluster) InstallChart(ctx context.Context, extra ...string) error {
	args := []string{"upgrade", "--install", ReleaseName, filepath.Join(c.root, "charts", "vpsie-autoscaler"),
		"--namespace", Namespace, "--wait", "--timeout", "2m"}
	for _, v := range append(c.ChartValues(), extra...) {
		args = append(args, "--set", v)
	}
	_, err := c.Helm(ctx, args...)
	return err
}

// StartAutoscaler (re)starts the autoscaler as a process on this machine, with the arguments
// of the chart's Deployment as installed and the identity of the chart's ServiceAccount: a token
// from the TokenRequest API in its own kubeconfig. So the chart's RBAC is exactly what it has.
// Only the listen addresses change (free loopback ports); extra arguments come last and win.
func (c *Cluster) StartAutoscaler(ctx context.Context, extra ...string) error {
	c.StopAutoscaler()
	dep, err := c.Kube.AppsV1().Deployments(Namespace).Get(ctx, ReleaseName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the chart's Deployment, %w", err)
	}
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) == 0 {
		return fmt.Errorf("deployment %s has no container", ReleaseName)
	}
	tr, err := c.Kube.CoreV1().ServiceAccounts(Namespace).CreateToken(ctx, pod.ServiceAccountName, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](24 * 3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("requesting a token for service account %s, %w", pod.ServiceAccountName, err)
	}
	c.AutoscalerKubeconfig = filepath.Join(c.Dir, "autoscaler.kubeconfig")
	if err := c.writeKubeconfig(c.AutoscalerKubeconfig, clientcmdapi.AuthInfo{Token: tr.Status.Token}); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	var args []string
	for _, a := range pod.Containers[0].Args {
		if strings.HasPrefix(a, "--metrics-bind-address=") || strings.HasPrefix(a, "--health-probe-bind-address=") {
			continue
		}
		args = append(args, a)
	}
	args = append(args, "--kubeconfig="+c.AutoscalerKubeconfig,
		"--metrics-bind-address=127.0.0.1:"+strconv.Itoa(ports[0]),
		"--health-probe-bind-address=127.0.0.1:"+strconv.Itoa(ports[1]))
	args = append(args, extra...)
	p, err := startProcess("vpsie-autoscaler", filepath.Join(c.Dir, "logs"), filepath.Join(c.binDir, "vpsie-autoscaler"), args, c.opts.Detach)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.autoscaler = p
	c.mu.Unlock()
	c.MetricsURL = "http://127.0.0.1:" + strconv.Itoa(ports[0]) + "/metrics"
	if err := c.waitHTTP(ctx, p, "http://127.0.0.1:"+strconv.Itoa(ports[1])+"/readyz", 60*time.Second); err != nil {
		return fmt.Errorf("autoscaler not ready, %w", err)
	}
	// leading: the Lease names this process's identity and its controllers run
	lease := ReleaseName
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--leader-election-id="); ok {
			lease = v
		}
	}
	if err := c.waitFor(ctx, p, 60*time.Second, func(ctx context.Context) (bool, error) {
		l, err := c.Kube.CoordinationV1().Leases(Namespace).Get(ctx, lease, metav1.GetOptions{})
		return err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity != "" && l.Spec.RenewTime != nil &&
			time.Since(l.Spec.RenewTime.Time) < 5*time.Second, nil
	}); err != nil {
		return fmt.Errorf("autoscaler did not take the leader lease %s, %w", lease, err)
	}
	return c.writeState(true)
}

// StopAutoscaler stops the autoscaler process, if running.
func (c *Cluster) StopAutoscaler() {
	c.mu.Lock()
	p := c.autoscaler
	c.autoscaler = nil
	if p != nil {
		kept := c.procs[:0]
		for _, q := range c.procs {
			if q != p {
				kept = append(kept, q)
			}
		}
		c.procs = kept
	}
	c.mu.Unlock()
	if p != nil {
		p.stop(stopGrace)
	}
}

// AutoscalerPid is the autoscaler process id, 0 when not running.
func (c *Cluster) AutoscalerPid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.autoscaler == nil {
		return 0
	}
	return c.autoscaler.Pid()
}

// Scrape fetches the autoscaler's metrics text.
func (c *Cluster) Scrape(ctx context.Context) (string, error) {
	var body string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.MetricsURL, nil)
		if err != nil {
			return false, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(resp.Body)
		body = buf.String()
		return resp.StatusCode == http.StatusOK, nil
	})
	return body, err
}
