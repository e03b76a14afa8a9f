package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/environment"
)

const catalogue = "../../hack/examples/offerings.json"

func TestParseFlags(t *testing.T) {
	g := NewWithT(t)
	o, err := parseFlags([]string{
		"--listen", "127.0.0.1:0", "--offerings", catalogue,
		"--cluster", "c1,c2", "--cluster", "c3", "--datacenter", "dc-x",
		"--token", "t1", "--client-id", "id", "--client-secret", "sec",
		"--boot-delay", "3s", "--add-worker-mode", "async",
		"--error-rate", "add-worker=0.1, *=0.01", "--latency", "add-worker=2s,*=50ms",
		"--rate-limit-per-minute", "60", "--max-workers", "7", "--unavailable-sizes", "s-1vcpu-1gb,104",
		"--token-ttl", "90s", "--seed", "9", "--hostname-prefix", "e2e",
		"--async-list-delay", "5s", "--delete-provisioning-conflict",
	}, io.Discard)
	g.Expect(err).NotTo(HaveOccurred())
	c := o.config
	g.Expect(c.Clusters).To(Equal([]emulator.ClusterConfig{
		{Identifier: "c1", Datacenter: "dc-x"}, {Identifier: "c2", Datacenter: "dc-x"}, {Identifier: "c3", Datacenter: "dc-x"},
	}))
	g.Expect(c.Tokens).To(Equal([]string{"t1"}))
	g.Expect(c.ClientID).To(Equal("id"))
	g.Expect(c.ClientSecret).To(Equal("sec"))
	g.Expect(c.Seed).To(Equal(uint64(9)))
	g.Expect(c.HostnamePrefix).To(Equal("e2e"))
	sw := c.Switches
	g.Expect(sw.BootDelay).To(Equal(emulator.Duration(3 * time.Second)))
	g.Expect(sw.AddWorkerMode).To(Equal("async"))
	g.Expect(sw.ErrorRates).To(Equal(map[string]float64{"add-worker": 0.1, "*": 0.01}))
	g.Expect(sw.Latencies).To(Equal(map[string]emulator.Duration{
		"add-worker": emulator.Duration(2 * time.Second), "*": emulator.Duration(50 * time.Millisecond)}))
	g.Expect(sw.RateLimit).To(Equal(60))
	g.Expect(sw.MaxWorkers).To(Equal(7))
	g.Expect(sw.UnavailableSizes).To(Equal([]string{"s-1vcpu-1gb", "104"}))
	g.Expect(sw.TokenTTL).To(Equal(emulator.Duration(90 * time.Second)))
	g.Expect(sw.AsyncListDelay).To(Equal(emulator.Duration(5 * time.Second)))
	g.Expect(sw.DeleteProvisioningConflict).To(BeTrue())

	o, err = parseFlags([]string{"--token", "t", "--latency", "100ms"}, io.Discard)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(o.config.Switches.Latencies).To(Equal(map[string]emulator.Duration{"*": emulator.Duration(100 * time.Millisecond)}))
	g.Expect(o.config.Clusters).To(Equal([]emulator.ClusterConfig{{Identifier: emulator.DefaultClusterID, Datacenter: emulator.DefaultDatacenter}}))
	g.Expect(o.config.ListenAddress).To(Equal("127.0.0.1:8090"))
}

func TestParseFlagsErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		msg  string
	}{
		{"non-loopback", []string{"--listen", "0.0.0.0:8090"}, "allow-non-loopback"},
		{"bad error rate", []string{"--error-rate", "add-worker=lots"}, "not a number"},
		{"error rate without call", []string{"--error-rate", "0.5"}, "not call=value"},
		{"bad latency", []string{"--latency", "add-worker=slow"}, "--latency"},
		{"bad duration", []string{"--boot-delay", "soon"}, "invalid value"},
		{"unknown flag", []string{"--nope"}, "not defined"},
		{"extra argument", []string{"serve"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, io.Discard)
			NewWithT(t).Expect(err).To(MatchError(ContainSubstring(tc.msg)))
		})
	}
	_, err := parseFlags([]string{"--listen", "0.0.0.0:0", "--allow-non-loopback"}, io.Discard)
	NewWithT(t).Expect(err).NotTo(HaveOccurred())
}

func TestRunRefusesBadSwitchesAndMissingCredentials(t *testing.T) {
	g := NewWithT(t)
	var out bytes.Buffer
	err := run(t.Context(), []string{"--listen", "127.0.0.1:0", "--offerings", catalogue}, &out, &out, nil)
	g.Expect(err).To(MatchError(ContainSubstring("no credentials")))
	err = run(t.Context(), []string{"--listen", "127.0.0.1:0", "--offerings", catalogue, "--token", "t",
		"--add-worker-mode", "maybe"}, &out, &out, nil)
	g.Expect(err).To(MatchError(ContainSubstring("addWorkerMode")))
	err = run(t.Context(), []string{"--token", "t", "--offerings", "/nonexistent.json"}, &out, &out, nil)
	g.Expect(err).To(MatchError(ContainSubstring("reading offerings")))
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunServesAndShutsDownWithoutLoggingSecrets(t *testing.T) {
	g := NewWithT(t)
	const token, secret = "tok-never-logged-1234", "secret-never-logged-5678"
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr syncBuffer
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--offerings", catalogue, "--token", token,
			"--client-id", "cid", "--client-secret", secret, "--boot-delay", "0s"}, &stdout, &stderr,
			func(url string) { ready <- url })
	}()
	var url string
	g.Eventually(ready, 10*time.Second).Should(Receive(&url))

	call := func(method, path, body, tok string) (int, string) {
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Content-Type", "application/json")
		if tok != "" {
			req.Header.Set("Vpsie-Auth", tok)
		}
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := call("POST", "/apps/v2/k8s/cluster/add/group",
		`{"clusterIdentifier":"`+emulator.DefaultClusterID+`","groupName":"g","KubeSizeID":104}`, token)
	g.Expect(status).To(Equal(http.StatusOK), body)
	status, _ = call("POST", "/apps/v2/k8s/cluster/byId/"+emulator.DefaultClusterID+"/add/slave/group/1", "", token)
	g.Expect(status).To(Equal(http.StatusOK))
	status, _ = call("POST", "/apps/v2/auth/from/api", `{"clientId":"cid","clientSecret":"`+secret+`"}`, "")
	g.Expect(status).To(Equal(http.StatusOK))
	status, _ = call("GET", "/api/v2/vm", "", "wrong-token")
	g.Expect(status).To(Equal(http.StatusUnauthorized))
	status, body = call("GET", "/admin/workers", "", "")
	g.Expect(status).To(Equal(http.StatusOK))
	var workers struct {
		Data []emulator.AdminWorker `json:"data"`
	}
	g.Expect(json.Unmarshal([]byte(body), &workers)).To(Succeed())
	g.Expect(workers.Data).To(HaveLen(1))
	g.Expect(workers.Data[0].Size).To(Equal("s-2vcpu-4gb"))

	cancel()
	g.Eventually(done, 10*time.Second).Should(Receive(BeNil()))
	g.Expect(stdout.String()).To(HavePrefix(url))
	logs := stderr.String()
	g.Expect(logs).To(ContainSubstring("worker added"))
	g.Expect(logs).To(ContainSubstring(`"msg":"stopped"`))
	g.Expect(logs).NotTo(ContainSubstring(token))
	g.Expect(logs).NotTo(ContainSubstring(secret))
	_, err := http.Get(url + "/admin/calls")
	g.Expect(err).To(HaveOccurred(), "the listener is closed")
}

// writeKubeconfig turns the envtest rest.Config into a kubeconfig file for --kubeconfig.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken,
	}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatalf("writing kubeconfig: %v", err)
	}
	return path
}

// TestRunBootsNodesThroughKubeconfig runs the command against a real apiserver: a worker added
// over HTTP becomes a Node, and deleting it removes the Node, with the command's own loop.
func TestRunBootsNodesThroughKubeconfig(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	env := environment.New(t)
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--listen", "127.0.0.1:0", "--offerings", catalogue, "--token", "t",
			"--kubeconfig", writeKubeconfig(t, env.Config), "--boot-delay", "0s", "--reconcile-interval", "50ms",
			"--hostname-prefix", "cmd-w"}, io.Discard, io.Discard, func(url string) { ready <- url })
	}()
	var url string
	g.Eventually(ready, 10*time.Second).Should(Receive(&url))
	call := func(method, path, body string) map[string]any {
		req, err := http.NewRequest(method, url+path, strings.NewReader(body))
		g.Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Vpsie-Auth", "t")
		resp, err := http.DefaultClient.Do(req)
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		g.Expect(resp.StatusCode).To(Equal(http.StatusOK))
		var out map[string]any
		g.Expect(json.NewDecoder(resp.Body).Decode(&out)).To(Succeed())
		return out
	}
	call("POST", "/apps/v2/k8s/cluster/add/group", `{"clusterIdentifier":"`+emulator.DefaultClusterID+`","groupName":"g","KubeSizeID":105}`)
	added := call("POST", "/apps/v2/k8s/cluster/byId/"+emulator.DefaultClusterID+"/add/slave/group/1", "")
	worker := added["data"].(map[string]any)
	hostname, id := worker["hostname"].(string), worker["identifier"].(string)

	nodes := env.KubeClient.CoreV1().Nodes()
	var node *corev1.Node
	g.Eventually(func() error {
		var err error
		node, err = nodes.Get(ctx, hostname, metav1.GetOptions{})
		return err
	}, 10*time.Second).Should(Succeed())
	g.Expect(node.Spec.ProviderID).To(Equal("vpsie://" + id))
	g.Expect(node.Labels).To(HaveKeyWithValue("node.kubernetes.io/instance-type", "s-4vcpu-8gb"))

	call("DELETE", "/apps/v2/k8s/cluster/byId/"+emulator.DefaultClusterID+"/delete/slave", `{"identifier":"`+id+`"}`)
	g.Eventually(func() bool {
		_, err := nodes.Get(ctx, hostname, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 10*time.Second).Should(BeTrue())
	cancel()
	g.Eventually(done, 10*time.Second).Should(Receive(BeNil()))
}
