package e2e

import (
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/emulator"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/local"
)

var _ = Describe("The autoscaler on the local cluster", Ordered, func() {
	It("is installed and upgraded with helm, and runs as the chart's ServiceAccount", func(ctx SpecContext) {
		out, err := cluster.Helm(ctx, "status", local.ReleaseName, "-n", local.Namespace)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("REVISION: 1"))

		start := time.Now()
		Expect(cluster.InstallChart(ctx, "logLevel=debug")).To(Succeed())
		out, err = cluster.Helm(ctx, "status", local.ReleaseName, "-n", local.Namespace)
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("REVISION: 2"))
		Expect(cluster.StartAutoscaler(ctx)).To(Succeed())
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cluster.AutoscalerPid()))
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Split(string(cmdline), "\x00")).To(ContainElement("--log-level=debug"), "the upgraded Deployment's arguments")
		fmt.Fprintf(&report, "helm upgrade + autoscaler restart %.1fs\n", time.Since(start).Seconds())

		// The identity the process has is the chart's ServiceAccount.
		cfg, err := clientcmd.BuildConfigFromFlags("", cluster.AutoscalerKubeconfig)
		Expect(err).NotTo(HaveOccurred())
		cs, err := kubernetes.NewForConfig(cfg)
		Expect(err).NotTo(HaveOccurred())
		review, err := cs.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(review.Status.UserInfo.Username).To(Equal("system:serviceaccount:" + local.Namespace + ":" + local.ReleaseName))
		// and its RBAC is the chart's: no access to what no controller needs
		_, err = cs.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{})
		Expect(err).To(MatchError(ContainSubstring("forbidden")))
	})

	It("scales up from zero: three shapes, a category NodeGroup, hostname spread", func(ctx SpecContext) {
		ns := namespace(ctx, "scale-up")
		createNodeGroup(ctx, nodeGroup("general", nil))
		createNodeGroup(ctx, nodeGroup("memory", func(ng *v1alpha1.NodeGroup) {
			ng.Spec.Requirements[0].Values = []string{"memory-optimized"}
			ng.Spec.MaxNodes = 10
		}))
		start := time.Now()
		for _, d := range []any{
			deployment(ns, "web", 20, podShape{cpu: "250m", memory: "256Mi"}),
			deployment(ns, "cache", 4, podShape{cpu: "500m", memory: "6Gi", mutate: func(s *corev1.PodSpec) {
				s.NodeSelector = map[string]string{v1alpha1.LabelCategory: "memory-optimized"}
			}}),
			deployment(ns, "spread", 6, podShape{cpu: "500m", memory: "512Mi", mutate: func(s *corev1.PodSpec) {
				s.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
					MaxSkew: 1, TopologyKey: corev1.LabelHostname, WhenUnsatisfiable: corev1.DoNotSchedule,
					LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "spread"}},
				}}
			}}),
		} {
			Expect(kube.Create(ctx, d.(client.Object))).To(Succeed())
		}
		Eventually(func(g Gomega) { allRunningOnOurNodes(ctx, g, ns, 30) }).
			WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		elapsed := time.Since(start)
		// A second round may still be in flight for a pod the scheduler placed elsewhere than
		// planned (and that found room meanwhile): it becomes Ready too.
		var vns []v1alpha1.VPSieNode
		Eventually(func(g Gomega) {
			vns = vpsieNodes(ctx, "")
			for _, vn := range vns {
				g.Expect(vn.Status.Phase).To(Equal(v1alpha1.VPSieNodeReady), vn.Name)
			}
			g.Expect(adminList[emulator.AdminWorker](ctx, "/admin/workers")).To(HaveLen(len(vns)), "emulator workers == VPSieNodes")
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		group := map[string]string{}
		for _, vn := range vns {
			group[vn.Status.NodeName] = vn.Spec.NodeGroup
		}
		spreadPerNode := map[string]int{}
		for _, p := range podsIn(ctx, ns) {
			if p.Labels["app"] == "cache" {
				Expect(group[p.Spec.NodeName]).To(Equal("memory"), "cache pod %s", p.Name)
			}
			if p.Labels["app"] == "spread" {
				spreadPerNode[p.Spec.NodeName]++
			}
		}
		for node, n := range spreadPerNode {
			Expect(n).To(Equal(1), "spread pods on %s (maxSkew 1 with the control-plane node as an empty domain)", node)
		}
		fmt.Fprintf(&report, "scale-up from zero: 30 pods Running on %d nodes ($%.4f/h) in %.1fs\n", len(vns), hourlyCost(vns), elapsed.Seconds())
	})

	It("respects maxNodes under a burst, with events on the pods beyond it", func(ctx SpecContext) {
		ns := namespace(ctx, "limits")
		createNodeGroup(ctx, nodeGroup("capped", func(ng *v1alpha1.NodeGroup) { ng.Spec.MaxNodes = 2 }))
		// one pod per node (hostname anti-affinity), only on the capped group
		Expect(kube.Create(ctx, deployment(ns, "solo", 8, podShape{cpu: "250m", memory: "256Mi", mutate: func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"e2e/pool": "capped"}
			s.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				TopologyKey: corev1.LabelHostname, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "solo"}},
			}}}}
		}}))).To(Succeed())
		Eventually(func(g Gomega) {
			running := 0
			for _, p := range podsIn(ctx, ns) {
				if p.Status.Phase == corev1.PodRunning {
					running++
				}
			}
			g.Expect(running).To(Equal(2))
			failed := map[string]bool{}
			for _, e := range eventsFor(ctx, ns, "FailedProvisioning") {
				g.Expect(e.Message).To(ContainSubstring("capped: maxNodes 2 reached"))
				failed[e.InvolvedObject.Name] = true
			}
			g.Expect(failed).To(HaveLen(6))
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
		Consistently(func() int { return len(vpsieNodes(ctx, "capped")) }).
			WithContext(ctx).WithTimeout(5 * time.Second).WithPolling(500 * time.Millisecond).Should(Equal(2))
		fmt.Fprintf(&report, "limits: maxNodes 2 held under an 8-pod one-per-node burst; 6 pods told why\n")
	})

	It("launches nothing for a pod no NodeGroup can host, and says why", func(ctx SpecContext) {
		ns := namespace(ctx, "unplaceable")
		before := len(vpsieNodes(ctx, ""))
		Expect(kube.Create(ctx, deployment(ns, "huge", 1, podShape{cpu: "500", memory: "1Gi"}))).To(Succeed())
		Eventually(func(g Gomega) {
			evs := eventsFor(ctx, ns, "FailedProvisioning")
			g.Expect(evs).NotTo(BeEmpty())
			g.Expect(evs[0].Message).To(ContainSubstring("No NodeGroup can host this pod"))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		Consistently(func() int { return len(vpsieNodes(ctx, "")) }).
			WithContext(ctx).WithTimeout(5 * time.Second).WithPolling(500 * time.Millisecond).Should(Equal(before))
	})

	It("drains and removes a deleted VPSieNode, then a deleted NodeGroup's nodes", func(ctx SpecContext) {
		vns := vpsieNodes(ctx, "general")
		Expect(vns).NotTo(BeEmpty())
		victim := vns[0]
		workerID := strings.TrimPrefix(victim.Status.ProviderID, "vpsie://")
		start := time.Now()
		Expect(kube.Delete(ctx, &victim)).To(Succeed())
		Eventually(func(g Gomega) {
			err := kube.Get(ctx, client.ObjectKey{Name: victim.Status.NodeName}, &corev1.Node{})
			g.Expect(client.IgnoreNotFound(err)).To(Succeed())
			g.Expect(err).To(HaveOccurred(), "node %s still there", victim.Status.NodeName)
			for _, w := range adminList[emulator.AdminWorker](ctx, "/admin/workers") {
				g.Expect(w.Identifier).NotTo(Equal(workerID), "worker still there")
			}
		}).WithContext(ctx).WithTimeout(2 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		// its pods were evicted and rescheduled: everything runs again on our nodes
		Eventually(func(g Gomega) { allRunningOnOurNodes(ctx, g, "scale-up", 30) }).
			WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(500 * time.Millisecond).Should(Succeed())
		fmt.Fprintf(&report, "VPSieNode deletion: drained, node and worker gone, pods running again in %.1fs\n", time.Since(start).Seconds())

		start = time.Now()
		capped := len(vpsieNodes(ctx, "capped"))
		deleteNodeGroupAndWait(ctx, "capped")
		fmt.Fprintf(&report, "NodeGroup deletion: %d nodes drained and removed in %.1fs\n", capped, time.Since(start).Seconds())
	})
})
