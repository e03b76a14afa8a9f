package simulator

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	fwk "k8s.io/kube-scheduler/framework"
)

// podClass is a set of pending pods the scheduler cannot tell apart: same namespace, labels and
// scheduling-relevant spec. Filter gives the same answer for every member on every node, so
// one PreFilter run and one Filter call per node decide for the whole class.
type podClass struct {
	key  string
	pods []*corev1.Pod
	// infos are the members' PodInfos (affinity terms parsed once), aligned with pods.
	infos []fwk.PodInfo
	req   [numDims]int64
	// selfHostnameLimited: the class keeps its own members apart per node (required hostname
	// anti-affinity or a DoNotSchedule hostname spread on its own labels). Packing estimates
	// put at most one member per new node; Filter still decides.
	selfHostnameLimited bool
	// selfAntiAffinity: required hostname anti-affinity against its own labels, or host
	// ports, so never two members on one node - a hard fact the lower bound may use (a
	// spread allows more than one per node once every node has one, so it may not).
	selfAntiAffinity bool
	// dependsOnOthers: Filter for this class changes as other pods are placed elsewhere
	// (spread, pod affinity), so a node that rejected it once may accept it later.
	dependsOnOthers bool
	prep            *Prepared
	// lenient is the members' original spec when their ScheduleAnyway spread was made
	// strict (nil otherwise); lenientPrep is its PreFilter result.
	lenient     *corev1.Pod
	lenientPrep *Prepared
}

// classKey covers every field the Filter plugins of the default profile read from the pod.
// The owner is not part of it, nor are labels no selector reads: two pods with identical
// relevant labels and spec are interchangeable for the scheduler whoever owns them, and coarser
// classes are cheaper.
type classKey struct {
	Namespace         string
	Labels            map[string]string
	SchedulerName     string
	NodeName          string
	NodeSelector      map[string]string
	Affinity          *corev1.Affinity
	Tolerations       []corev1.Toleration
	Spread            []corev1.TopologySpreadConstraint
	Containers        []containerKey
	InitContainers    []containerKey
	Overhead          corev1.ResourceList
	Resources         *corev1.ResourceRequirements
	Volumes           []corev1.Volume
	PriorityClassName string
	RuntimeClassName  *string
	HostNetwork       bool
	ResourceClaims    []corev1.PodResourceClaim
	OS                *corev1.PodOS
}

type containerKey struct {
	Resources     corev1.ResourceRequirements
	Ports         []corev1.ContainerPort
	RestartPolicy *corev1.ContainerRestartPolicy
}

func keyOf(p *corev1.Pod, keys labelKeys) string {
	k := classKey{
		Namespace: p.Namespace, Labels: keys.relevant(p.Labels), SchedulerName: p.Spec.SchedulerName, NodeName: p.Spec.NodeName,
		NodeSelector: p.Spec.NodeSelector, Affinity: p.Spec.Affinity, Tolerations: p.Spec.Tolerations,
		Spread: p.Spec.TopologySpreadConstraints, Overhead: p.Spec.Overhead, Resources: p.Spec.Resources,
		Volumes: p.Spec.Volumes, PriorityClassName: p.Spec.PriorityClassName, RuntimeClassName: p.Spec.RuntimeClassName,
		HostNetwork: p.Spec.HostNetwork, ResourceClaims: p.Spec.ResourceClaims, OS: p.Spec.OS,
	}
	for _, c := range p.Spec.Containers {
		k.Containers = append(k.Containers, containerKey{Resources: c.Resources, Ports: c.Ports, RestartPolicy: c.RestartPolicy})
	}
	for _, c := range p.Spec.InitContainers {
		k.InitContainers = append(k.InitContainers, containerKey{Resources: c.Resources, Ports: c.Ports, RestartPolicy: c.RestartPolicy})
	}
	// json.Marshal sorts map keys, so equal specs give equal bytes.
	b, err := json.Marshal(k)
	if err != nil {
		// Cannot happen for API types; a unique key keeps the pod in a class of its own.
		return "unhashable/" + string(p.UID)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// buildClasses groups pods into classes, ordered largest first (by the larger of their cpu and
// memory share of a reference node), then by key, so the order is deterministic. lenient (may
// be nil) maps pods whose spread was made strict to their originals: members of a class must
// share the original spec too.
func buildClasses(pods []*corev1.Pod, lenient map[string]*corev1.Pod, keys labelKeys) ([]*podClass, error) {
	byKey := map[string]*podClass{}
	var out []*podClass
	infos, err := NewPodInfos(pods)
	if err != nil {
		return nil, err
	}
	for i, p := range pods {
		pi := infos[i]
		key := keyOf(p, keys)
		orig := lenient[podKey(p)]
		if orig != nil {
			key += "/" + keyOf(orig, keys)
		}
		c, ok := byKey[key]
		if !ok {
			c = &podClass{key: key}
			if orig != nil {
				c.lenient = orig.DeepCopy()
				c.lenient.UID = p.UID
			}
			res := pi.CalculateResource()
			c.req[dimCPU] = res.Resource.GetMilliCPU()
			c.req[dimMemory] = res.Resource.GetMemory()
			c.req[dimPods] = 1
			c.selfHostnameLimited, c.selfAntiAffinity, c.dependsOnOthers = constraintsOf(p)
			byKey[key] = c
			out = append(out, c)
		}
		c.pods = append(c.pods, p)
		c.infos = append(c.infos, pi)
	}
	slices.SortStableFunc(out, func(a, b *podClass) int {
		if c := cmp.Compare(sizeScore(b.req), sizeScore(a.req)); c != 0 {
			return c
		}
		return cmp.Compare(a.key, b.key)
	})
	return out, nil
}

// sizeScore weighs a pod by its dominant resource, taking 1 cpu ~ 4 GiB (the shape of a
// general-purpose node) so cpu- and memory-heavy pods compare sensibly.
func sizeScore(req [numDims]int64) float64 {
	cpu := float64(req[dimCPU]) / 1000
	mem := float64(req[dimMemory]) / (4 << 30)
	return max(cpu, mem)
}

func constraintsOf(p *corev1.Pod) (selfHostname, selfAnti, dependsOnOthers bool) {
	for _, c := range p.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != corev1.DoNotSchedule {
			continue
		}
		dependsOnOthers = true
		if c.TopologyKey == corev1.LabelHostname && selectsPod(c.LabelSelector, p) {
			selfHostname = true
		}
	}
	if a := p.Spec.Affinity; a != nil {
		if a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0 {
			dependsOnOthers = true
		}
		if a.PodAntiAffinity != nil {
			for _, t := range a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
				if t.TopologyKey == corev1.LabelHostname && selectsPod(t.LabelSelector, p) &&
					(len(t.Namespaces) == 0 || slices.Contains(t.Namespaces, p.Namespace)) && t.NamespaceSelector == nil {
					selfHostname, selfAnti = true, true
				}
			}
		}
	}
	// Two members of a class ask for the same host ports, so they never share a node either.
	for _, c := range slices.Concat(p.Spec.InitContainers, p.Spec.Containers) {
		for _, port := range c.Ports {
			if port.HostPort > 0 {
				selfHostname, selfAnti = true, true
			}
		}
	}
	return selfHostname, selfAnti, dependsOnOthers
}

// selectsPod says whether a term's selector matches the pod's own labels (same namespace
// assumed: the estimate only needs to know whether a class repels itself).
func selectsPod(sel *metav1.LabelSelector, p *corev1.Pod) bool {
	if sel == nil {
		return false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(p.Labels))
}

// labelKeys is the set of pod label keys some selector in the cluster reads. A label whose key
// no selector reads cannot change any Filter or Score answer, so classes ignore it: Karpenter's
// diverse benchmark gives every pod its own app label, and classes by full labels would be one
// pod each.
type labelKeys map[string]bool

// selectedLabelKeys collects the keys read by the pod (anti-)affinity terms and topology spread
// constraints of the given pods (pending and bound alike: a bound pod's anti-affinity reads the
// labels of incoming pods) and of the daemonset templates.
func selectedLabelKeys(pods []*corev1.Pod, daemonSets []*appsv1.DaemonSet) labelKeys {
	keys := labelKeys{}
	addSelector := func(sel *metav1.LabelSelector) {
		if sel == nil {
			return
		}
		for k := range sel.MatchLabels {
			keys[k] = true
		}
		for _, e := range sel.MatchExpressions {
			keys[e.Key] = true
		}
	}
	addTerm := func(t corev1.PodAffinityTerm) {
		addSelector(t.LabelSelector)
		for _, k := range slices.Concat(t.MatchLabelKeys, t.MismatchLabelKeys) {
			keys[k] = true
		}
	}
	addSpec := func(spec *corev1.PodSpec) {
		for _, c := range spec.TopologySpreadConstraints {
			addSelector(c.LabelSelector)
			for _, k := range c.MatchLabelKeys {
				keys[k] = true
			}
		}
		a := spec.Affinity
		if a == nil {
			return
		}
		if pa := a.PodAffinity; pa != nil {
			for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				addTerm(t)
			}
			for _, t := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				addTerm(t.PodAffinityTerm)
			}
		}
		if pa := a.PodAntiAffinity; pa != nil {
			for _, t := range pa.RequiredDuringSchedulingIgnoredDuringExecution {
				addTerm(t)
			}
			for _, t := range pa.PreferredDuringSchedulingIgnoredDuringExecution {
				addTerm(t.PodAffinityTerm)
			}
		}
	}
	for _, p := range pods {
		addSpec(&p.Spec)
	}
	for _, ds := range daemonSets {
		addSpec(&ds.Spec.Template.Spec)
	}
	return keys
}

// relevant keeps only the labels some selector reads (all of them when keys is nil).
func (keys labelKeys) relevant(l map[string]string) map[string]string {
	if keys == nil {
		return l
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		if keys[k] {
			out[k] = v
		}
	}
	return out
}
