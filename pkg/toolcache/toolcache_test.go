package toolcache

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/gomega"
)

func TestRepoRootHasToolVersions(t *testing.T) {
	g := NewWithT(t)
	r, err := RepoRoot()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(filepath.Join(r, "tools", "versions.env")).To(BeAnExistingFile())
	v, err := Versions()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(v).To(HaveKeyWithValue("KUBERNETES_VERSION", MatchRegexp(`^v1\.\d+\.\d+$`)))
	g.Expect(v).To(HaveKey("ETCD_VERSION"))
}

func TestPathReportsHowToBuildMissingTools(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("VPSIE_TOOLS_CACHE", t.TempDir())
	_, err := Path("kwok")
	g.Expect(err).To(MatchError(ErrNotBuilt))
	g.Expect(err.Error()).To(ContainSubstring("make tools"))
	_, err = Path("no-such-tool")
	g.Expect(err).To(MatchError(ContainSubstring(`unknown tool "no-such-tool"`)))
}

func TestPathFindsCachedTool(t *testing.T) {
	g := NewWithT(t)
	cache := t.TempDir()
	t.Setenv("VPSIE_TOOLS_CACHE", cache)
	v, err := Versions()
	g.Expect(err).NotTo(HaveOccurred())
	dir := filepath.Join(cache, "helm-"+v["HELM_VERSION"])
	g.Expect(os.MkdirAll(dir, 0o755)).To(Succeed())
	g.Expect(os.WriteFile(filepath.Join(dir, "helm"), []byte("#!/bin/sh\n"), 0o755)).To(Succeed())
	p, err := Path("helm")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(p).To(Equal(filepath.Join(dir, "helm")))
}

func TestEnvtestAssetsPrefersKubebuilderAssets(t *testing.T) {
	g := NewWithT(t)
	t.Setenv("VPSIE_TOOLS_CACHE", t.TempDir())
	assets := t.TempDir()
	t.Setenv("KUBEBUILDER_ASSETS", assets)
	_, err := EnvtestAssets()
	g.Expect(err).To(MatchError(ErrNotBuilt), "an assets dir without the binaries is not used")
	for _, n := range []string{"etcd", "kube-apiserver"} {
		g.Expect(os.WriteFile(filepath.Join(assets, n), nil, 0o755)).To(Succeed())
	}
	d, err := EnvtestAssets()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(d).To(Equal(assets))
}
