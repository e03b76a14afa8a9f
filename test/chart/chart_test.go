// Package chart checks the Helm chart against the binary and its own documentation: every flag
// of the binary is set by the Deployment, and the chart README's values table matches
// values.yaml, and the dashboard and alert rules use only exported metrics. (helm lint and helm
// template run in `make chart-check`.)
package chart

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/metrics"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/operator"
)

const chartDir = "../../charts/vpsie-autoscaler"

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(chartDir, name))
	if err != nil {
		t.Fatalf("reading chart file: %v", err)
	}
	return string(b)
}

// notFromTheChart are flags the Deployment leaves at their in-cluster defaults.
var notFromTheChart = map[string]bool{"kubeconfig": true}

func TestDeploymentSetsEveryFlag(t *testing.T) {
	g := NewWithT(t)
	deployment := read(t, "templates/deployment.yaml")
	fs := flag.NewFlagSet("vpsie-autoscaler", flag.ContinueOnError)
	(&operator.Options{}).AddFlags(fs)
	var missing []string
	fs.VisitAll(func(f *flag.Flag) {
		if !notFromTheChart[f.Name] && !strings.Contains(deployment, "- --"+f.Name+"=") {
			missing = append(missing, f.Name)
		}
	})
	g.Expect(missing).To(BeEmpty(), "flags the chart cannot set")
}

var (
	docLine  = regexp.MustCompile(`^\s*# -- `)
	keyLine  = regexp.MustCompile(`^(\s*)([A-Za-z][A-Za-z0-9]*):\s*(.*)$`)
	tableRow = regexp.MustCompile("^\\| `([^`]+)` \\| `([^`]*)` \\|")
)

// documented returns each key of values.yaml that has a "# --" comment, with its default as
// written (or "see values.yaml" for a block).
func documented(values string) map[string]string {
	out := map[string]string{}
	var path []string
	doc := false
	for _, ln := range strings.Split(values, "\n") {
		if docLine.MatchString(ln) {
			doc = true
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(ln), "#") {
			continue
		}
		m := keyLine.FindStringSubmatch(ln)
		if m == nil {
			continue
		}
		depth := len(m[1]) / 2
		path = append(path[:min(depth, len(path))], m[2])
		if doc {
			def := m[3]
			if def == "" {
				def = "see values.yaml"
			}
			out[strings.Join(path, ".")] = def
			doc = false
		}
	}
	return out
}

// leaves lists the dotted paths of values that are not maps (or are empty maps).
func leaves(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for k, child := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leaves(p, child, out)
	}
}

func TestReadmeTableMatchesValues(t *testing.T) {
	g := NewWithT(t)
	values := read(t, "values.yaml")
	docs := documented(values)

	table := map[string]string{}
	for _, ln := range strings.Split(read(t, "README.md"), "\n") {
		if m := tableRow.FindStringSubmatch(ln); m != nil {
			table[m[1]] = m[2]
		}
	}
	g.Expect(table).To(Equal(docs), "charts/vpsie-autoscaler/README.md's table and values.yaml disagree")

	// Every value is documented, itself or through the block it belongs to.
	var parsed map[string]any
	g.Expect(yaml.Unmarshal([]byte(values), &parsed)).To(Succeed())
	var all []string
	leaves("", parsed, &all)
	sort.Strings(all)
	var undocumented []string
	for _, leaf := range all {
		covered := false
		for p := leaf; p != ""; p = p[:max(strings.LastIndex(p, "."), 0)] {
			if _, ok := docs[p]; ok {
				covered = true
				break
			}
			if !strings.Contains(p, ".") {
				break
			}
		}
		if !covered {
			undocumented = append(undocumented, leaf)
		}
	}
	g.Expect(undocumented).To(BeEmpty(), "values without a \"# --\" description")
}

var metricRef = regexp.MustCompile(`vpsie_autoscaler_[a-z_]+`)
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// The dashboard and the alert rules only use metrics the binary exports.
func TestDashboardAndAlertsUseExportedMetrics(t *testing.T) {
	g := NewWithT(t)
	defined := map[string]bool{}
	for _, c := range metrics.All() {
		ch := make(chan *prometheus.Desc, 16)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				defined[m[1]] = true
			}
		}
	}
	g.Expect(defined).NotTo(BeEmpty())
	for _, file := range []string{"files/dashboard.json", "files/alerts.yaml"} {
		text := read(t, file)
		refs := metricRef.FindAllString(text, -1)
		g.Expect(refs).NotTo(BeEmpty(), file)
		for _, ref := range refs {
			name := ref
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if !defined[name] {
					name = strings.TrimSuffix(name, suffix)
				}
			}
			g.Expect(defined).To(HaveKey(name), "%s uses %s, which the binary does not export", file, ref)
		}
	}
	// Each alert says what happened.
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	}
	g.Expect(yaml.Unmarshal([]byte(read(t, "files/alerts.yaml")), &rules)).To(Succeed())
	g.Expect(rules.Groups).NotTo(BeEmpty())
	for _, r := range rules.Groups[0].Rules {
		g.Expect(r.Alert).NotTo(BeEmpty())
		g.Expect(r.Expr).NotTo(BeEmpty(), r.Alert)
		g.Expect(r.Annotations).To(HaveKey("summary"), r.Alert)
	}
}
