// Package toolcache finds the binaries that hack/tools.sh builds into the tool cache, so that a plain
// `go test ./...` works after `make tools` with no environment variable set.
package toolcache

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Module is the project's Go module path; RepoRoot looks for the go.mod that declares it.
const Module = "github.com/vpsie/vpsie-k8s-autoscaler"

var (
	rootOnce sync.Once
	root     string
	errRoot  error
)

// RepoRoot returns the directory holding the project's go.mod, found by walking up from the
// working directory (go test runs each package in its own directory).
func RepoRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			errRoot = fmt.Errorf("getting working directory, %w", err)
			return
		}
		for {
			data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && declaresModule(string(data), Module) {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				errRoot = fmt.Errorf("no go.mod declaring module %s above the working directory", Module)
				return
			}
			dir = parent
		}
	})
	return root, errRoot
}

func declaresModule(gomod, module string) bool {
	for _, line := range strings.Split(gomod, "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "module" && f[1] == module {
			return true
		}
	}
	return false
}

// Versions reads tools/versions.env (KEY=VALUE lines, # comments).
func Versions() (map[string]string, error) {
	r, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(filepath.Join(r, "tools", "versions.env"))
	if err != nil {
		return nil, fmt.Errorf("reading tool versions, %w", err)
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("tools/versions.env: malformed line %q", line)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, s.Err()
}

// CacheDir is where hack/tools.sh puts the tools: $VPSIE_TOOLS_CACHE, else
// $XDG_CACHE_HOME/vpsie-autoscaler/tools, else ~/.cache/vpsie-autoscaler/tools.
func CacheDir() (string, error) {
	if d := os.Getenv("VPSIE_TOOLS_CACHE"); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "vpsie-autoscaler", "tools"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the tool cache, %w", err)
	}
	return filepath.Join(home, ".cache", "vpsie-autoscaler", "tools"), nil
}

// dirName mirrors hack/tools.sh's version_of: <tool>-<version>.
func dirName(name string, v map[string]string) (string, error) {
	key := map[string]string{
		"etcd":                    "ETCD_VERSION",
		"kube-apiserver":          "KUBERNETES_VERSION",
		"kube-controller-manager": "KUBERNETES_VERSION",
		"kube-scheduler":          "KUBERNETES_VERSION",
		"kwok":                    "KWOK_VERSION",
		"helm":                    "HELM_VERSION",
		"controller-gen":          "CONTROLLER_TOOLS_VERSION",
		"golangci-lint":           "GOLANGCI_LINT_VERSION",
	}
	if name == "envtest" {
		return fmt.Sprintf("envtest-%s-etcd-%s", v["KUBERNETES_VERSION"], v["ETCD_VERSION"]), nil
	}
	k, ok := key[name]
	if !ok {
		return "", fmt.Errorf("unknown tool %q", name)
	}
	if v[k] == "" {
		return "", fmt.Errorf("tools/versions.env has no %s", k)
	}
	return name + "-" + v[k], nil
}

// ErrNotBuilt is wrapped by Path when the tool cache lacks the binary.
var ErrNotBuilt = errors.New("tool not built")

// Path returns the absolute path of a tool binary in the cache, or an error wrapping
// ErrNotBuilt that tells how to build it.
func Path(name string) (string, error) {
	dir, err := toolDir(name)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, name)
	if st, err := os.Stat(p); err != nil || st.IsDir() {
		return "", fmt.Errorf("%w: %s not found at %s; run `make tools` (or `hack/tools.sh %s`) first", ErrNotBuilt, name, p, name)
	}
	return p, nil
}

// toolDir is the cache directory hack/tools.sh builds a tool into.
func toolDir(name string) (string, error) {
	v, err := Versions()
	if err != nil {
		return "", err
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	d, err := dirName(name, v)
	if err != nil {
		return "", err
	}
	return filepath.Join(cache, d), nil
}

// EnvtestAssets returns a directory holding both etcd and kube-apiserver: $KUBEBUILDER_ASSETS when
// it has them, else the envtest directory of the tool cache.
func EnvtestAssets() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		if hasFiles(d, "etcd", "kube-apiserver") {
			return d, nil
		}
	}
	dir, err := toolDir("envtest")
	if err != nil {
		return "", err
	}
	if hasFiles(dir, "etcd", "kube-apiserver") {
		return dir, nil
	}
	return "", fmt.Errorf("%w: etcd and kube-apiserver not found in %s; run `make tools` (or `hack/tools.sh envtest`) first", ErrNotBuilt, dir)
}

func hasFiles(dir string, names ...string) bool {
	for _, n := range names {
		st, err := os.Stat(filepath.Join(dir, n))
		if err != nil || st.IsDir() {
			return false
		}
	}
	return true
}

// SharedBench returns ../shared/bench next to the repository (the benchmark catalogue and
// workloads, present in CI and the developers' workplace but not in a user's clone) and whether
// it exists. Callers skip with a clear message when it does not.
func SharedBench() (string, bool) {
	r, err := RepoRoot()
	if err != nil {
		return "", false
	}
	d := filepath.Join(filepath.Dir(r), "shared", "bench")
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		return d, false
	}
	return d, true
}
