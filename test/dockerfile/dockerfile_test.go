// Package dockerfile lints the Dockerfile (there is no container engine or hadolint on the build
// machines) and keeps its build flags the same as `make build`'s, so the binary CI tests is the
// binary the image ships.
package dockerfile

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/test/tools"
)

func read(t *testing.T, name string) string {
	t.Helper()
	root, err := tools.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// instructions joins continuation lines and drops comments.
func instructions(src string) []string {
	var out []string
	cur := ""
	for _, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur += strings.TrimSuffix(trimmed, "\\") + " "
			continue
		}
		out = append(out, cur+trimmed)
		cur = ""
	}
	return out
}

func TestDockerfileLint(t *testing.T) {
	g := NewWithT(t)
	ins := instructions(read(t, "Dockerfile"))
	var froms, users []string
	args := map[string]bool{}
	for _, in := range ins {
		op, rest, _ := strings.Cut(in, " ")
		switch strings.ToUpper(op) {
		case "FROM":
			froms = append(froms, rest)
		case "USER":
			users = append(users, rest)
		case "ARG":
			name, _, _ := strings.Cut(rest, "=")
			args[name] = true
		case "ADD":
			t.Errorf("use COPY, not ADD: %s", in)
		case "RUN":
			g.Expect(rest).NotTo(MatchRegexp(`\bsudo\b|apt-get upgrade|\bcd `), "RUN: %s", in)
		}
		g.Expect(op).To(Equal(strings.ToUpper(op)), "instructions are upper case: %s", in)
	}
	g.Expect(froms).To(HaveLen(2), "multi-stage: a build stage and the runtime stage")
	for _, f := range froms {
		g.Expect(f).NotTo(ContainSubstring(":latest"), "pinned base images")
		g.Expect(f).To(MatchRegexp(`:`), "every base image has a tag: %s", f)
	}
	g.Expect(froms[0]).To(ContainSubstring(" AS build"))
	g.Expect(froms[1]).To(HavePrefix("gcr.io/distroless/static"))
	g.Expect(froms[1]).To(HaveSuffix(":nonroot"))
	g.Expect(users).To(ConsistOf("65532:65532"), "runs as the distroless nonroot user")
	g.Expect(args).To(HaveKey("TARGETOS"))
	g.Expect(args).To(HaveKey("TARGETARCH"))
	g.Expect(ins[len(ins)-1]).To(HavePrefix(`ENTRYPOINT ["`), "exec-form entrypoint")
}

func TestDockerfileBuildsLikeMakeBuild(t *testing.T) {
	g := NewWithT(t)
	flags := regexp.MustCompile(`(?m)^GO_BUILD_FLAGS := (.+)$`).FindStringSubmatch(read(t, "Makefile"))
	g.Expect(flags).To(HaveLen(2), "Makefile defines GO_BUILD_FLAGS")
	var build string
	for _, in := range instructions(read(t, "Dockerfile")) {
		if strings.Contains(in, "go build") {
			build = in
		}
	}
	g.Expect(build).To(ContainSubstring("CGO_ENABLED=0"), "static binary")
	g.Expect(build).To(ContainSubstring("go build " + strings.TrimSpace(flags[1]) + " "))
	g.Expect(read(t, "Makefile")).To(MatchRegexp(`CGO_ENABLED=0 \$\(GO\) build \$\(GO_BUILD_FLAGS\)`))
}
