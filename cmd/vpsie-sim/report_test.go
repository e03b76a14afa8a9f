package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	"golang.org/x/net/html"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// renderedReport runs plan with --report on file and returns the parsed page with the JSON
// summary of the same plan.
func renderedReport(t *testing.T, file string) (*html.Node, *summary) {
	t.Helper()
	g := NewWithT(t)
	out := filepath.Join(t.TempDir(), "plan.html")
	s := planJSON(t, "--input", file, "--report", out)
	f, err := os.Open(out)
	g.Expect(err).NotTo(HaveOccurred())
	defer func() { _ = f.Close() }()
	doc, err := html.Parse(f)
	g.Expect(err).NotTo(HaveOccurred())
	return doc, s
}

func walk(n *html.Node, visit func(*html.Node)) {
	visit(n)
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, visit)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func hasClass(n *html.Node, class string) bool {
	v, _ := attr(n, "class")
	return strings.Contains(" "+v+" ", " "+class+" ")
}

func text(n *html.Node) string {
	var b strings.Builder
	walk(n, func(c *html.Node) {
		if c.Type == html.TextNode {
			b.WriteString(c.Data)
		}
	})
	return strings.TrimSpace(b.String())
}

func byID(doc *html.Node, id string) *html.Node {
	var found *html.Node
	walk(doc, func(n *html.Node) {
		if v, ok := attr(n, "id"); ok && v == id && found == nil {
			found = n
		}
	})
	return found
}

func TestReportIsSelfContained(t *testing.T) {
	g := NewWithT(t)
	doc, _ := renderedReport(t, mixedExample)
	walk(doc, func(n *html.Node) {
		if n.Type != html.ElementNode {
			return
		}
		g.Expect(n.Data).NotTo(BeElementOf("script", "link", "iframe", "img", "object", "embed"), "element %s", n.Data)
		for _, a := range n.Attr {
			if a.Key == "src" || a.Key == "href" || strings.HasSuffix(a.Key, ":href") {
				g.Expect(a.Val).To(HavePrefix("#"), "%s=%q on <%s> reaches outside the page", a.Key, a.Val, n.Data)
			}
			g.Expect(a.Val).NotTo(ContainSubstring("url("), "attribute %s of <%s>", a.Key, n.Data)
		}
		if n.Data == "style" {
			g.Expect(text(n)).NotTo(ContainSubstring("url("))
			g.Expect(text(n)).NotTo(ContainSubstring("@import"))
		}
	})
}

func TestReportTotalsMatchThePlan(t *testing.T) {
	g := NewWithT(t)
	doc, s := renderedReport(t, constrainedFile)
	want := map[string]string{
		"pending":       strconv.Itoa(s.Pending),
		"on-existing":   strconv.Itoa(s.OnExisting),
		"on-new":        strconv.Itoa(s.OnNew),
		"unschedulable": strconv.Itoa(s.Unschedulable),
		"new-nodes":     strconv.Itoa(s.NewNodeCount),
		"hourly-cost":   fmt.Sprintf("$%.4f", s.HourlyCost),
		"lower-bound":   fmt.Sprintf("$%.4f", s.LowerBoundHourly),
		"ratio":         fmt.Sprintf("%.3f", s.CostOverLowerBound),
	}
	for id, v := range want {
		n := byID(doc, id)
		g.Expect(n).NotTo(BeNil(), id)
		g.Expect(text(n)).To(Equal(v), id)
	}
	// The cost bar is never shorter than the lower-bound bar.
	cost, _ := attr(byID(doc, "cost-bar"), "width")
	lower, _ := attr(byID(doc, "lower-bound-bar"), "width")
	cw, err := strconv.ParseFloat(cost, 64)
	g.Expect(err).NotTo(HaveOccurred())
	lw, err := strconv.ParseFloat(lower, 64)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cw).To(BeNumerically(">=", lw))
	g.Expect(cw).To(BeNumerically("~", barPixels, 0.1))

	unschedulable := text(byID(doc, "unschedulable-pods"))
	for _, u := range s.UnschedulableReasons {
		g.Expect(unschedulable).To(ContainSubstring(u.Pod))
	}
}

func TestReportHasABarPairForEveryNode(t *testing.T) {
	g := NewWithT(t)
	doc, s := renderedReport(t, mixedExample)
	newCount, newPods, existingRows, existingPods := 0, 0, 0, 0
	walk(doc, func(n *html.Node) {
		if !hasClass(n, "node") {
			return
		}
		count, _ := attr(n, "data-count")
		pods, _ := attr(n, "data-pods")
		c, err := strconv.Atoi(count)
		g.Expect(err).NotTo(HaveOccurred())
		p, err := strconv.Atoi(pods)
		g.Expect(err).NotTo(HaveOccurred())
		if hasClass(n, "new") {
			newCount += c
			newPods += c * p
		} else {
			existingRows++
			existingPods += p
		}
		bars := 0
		walk(n, func(b *html.Node) {
			if !hasClass(b, "bar") {
				return
			}
			bars++
			total := 0.0
			segments := 0
			for seg := b.FirstChild; seg != nil; seg = seg.NextSibling {
				if seg.Type != html.ElementNode || seg.Data != "span" {
					continue
				}
				segments++
				style, _ := attr(seg, "style")
				var w float64
				_, err := fmt.Sscanf(style, "width:%f%%", &w)
				g.Expect(err).NotTo(HaveOccurred(), style)
				total += w
				title, _ := attr(seg, "title")
				g.Expect(title).To(MatchRegexp(`: \d+ pods, `))
			}
			g.Expect(segments).To(BeNumerically(">", 0))
			g.Expect(total).To(BeNumerically("<=", 100.01))
		})
		g.Expect(bars).To(Equal(2), "a cpu and a memory bar")
	})
	g.Expect(newCount).To(Equal(s.NewNodeCount))
	g.Expect(newPods).To(Equal(s.OnNew))
	g.Expect(existingPods).To(Equal(s.OnExisting))
	existing := 0
	for _, p := range s.Placements {
		if !p.New {
			existing++
		}
	}
	g.Expect(existingRows).To(Equal(existing))
}

func TestReportEscapesNames(t *testing.T) {
	g := NewWithT(t)
	in := writeFile(t, "in.yaml", nodeGroupDoc+"---\n"+podDoc(`"x<script>alert(1)</script>"`, "1", "1Gi"))
	out := filepath.Join(t.TempDir(), "r.html")
	code, _, stderr := runCmd("plan", "--offerings", offeringsFile, "--input", in, "--report", out)
	// The name is not a valid pod name, but the report must not care: it is text, never markup.
	g.Expect(code).To(Equal(exitOK), stderr)
	data, err := os.ReadFile(out)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(data)).NotTo(ContainSubstring("<script>"))
}

func TestFoldIdentical(t *testing.T) {
	g := NewWithT(t)
	rows := []nodeRow{
		{Count: 1, Name: "n-1", New: true, NodeGroup: "a", Offering: "small", Price: 1, key: "small|web:4"},
		{Count: 1, Name: "n-2", New: true, NodeGroup: "a", Offering: "big", Price: 2, key: "big|web:8"},
		{Count: 1, Name: "n-3", New: true, NodeGroup: "a", Offering: "small", Price: 1, key: "small|web:4"},
		{Count: 1, Name: "n-4", New: true, NodeGroup: "a", Offering: "small", Price: 1, key: "small|web:3"},
		{Count: 1, Name: "n-5", New: true, NodeGroup: "a", Offering: "small", Price: 1, key: "small|web:4"},
	}
	out := foldIdentical(rows)
	g.Expect(out).To(HaveLen(3))
	g.Expect(out[0].Name).To(Equal("n-2"), "pricier offering first")
	g.Expect(out[1].Count).To(Equal(3))
	g.Expect(out[1].Name).To(Equal("n-1"))
	g.Expect(out[1].Range).To(Equal("3 nodes: n-1 … n-5"))
	g.Expect(out[2].Name).To(Equal("n-4"))
}

func TestWorkloadOf(t *testing.T) {
	g := NewWithT(t)
	owned := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web-abc-1", Labels: map[string]string{"app": "web"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "web-abc", Controller: ptrTo(true)}}}}
	labelled := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "x", Labels: map[string]string{"app": "cron"}}}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "y"}}
	g.Expect(workloadOf(owned)).To(Equal("shop/web-abc"))
	g.Expect(workloadOf(labelled)).To(Equal("shop/cron"))
	g.Expect(workloadOf(bare)).To(Equal("shop/(bare pods)"))
}

func ptrTo[T any](v T) *T { return &v }

func TestHumanUnits(t *testing.T) {
	g := NewWithT(t)
	g.Expect(cores(4000)).To(Equal("4"))
	g.Expect(cores(3900)).To(Equal("3.9"))
	g.Expect(cores(250)).To(Equal("0.25"))
	g.Expect(gib(1536 << 20)).To(Equal("1.5 GiB"))
	g.Expect(percent(1, 0)).To(BeZero())
	segs := []segment{{Width: 70}, {Width: 50}, {Width: 10}}
	clampSegments(segs)
	g.Expect(segs[1].Width).To(Equal(30.0))
	g.Expect(segs[2].Width).To(Equal(0.0))
}
