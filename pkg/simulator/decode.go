package simulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/apis/v1alpha1"
	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/cloudprovider"
)

// Workload is a decoded cluster dump: what Input needs, plus PDBs (for consolidation) and the
// warnings about documents that were skipped.
type Workload struct {
	NodeGroups []*v1alpha1.NodeGroup
	Nodes      []*corev1.Node
	Pods       []*corev1.Pod
	DaemonSets []*appsv1.DaemonSet
	PDBs       []*policyv1.PodDisruptionBudget
	PVCs       []*corev1.PersistentVolumeClaim
	PVs        []*corev1.PersistentVolume
	Classes    []*storagev1.StorageClass
	Warnings   []string
}

// LoadWorkload reads a multi-document YAML or JSON stream (see DecodeWorkload).
func LoadWorkload(path string) (*Workload, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening workload, %w", err)
	}
	defer func() { _ = f.Close() }()
	w, err := DecodeWorkload(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// DecodeWorkload decodes NodeGroups, Nodes, Pods, DaemonSets, PodDisruptionBudgets and storage
// (PersistentVolumeClaims, PersistentVolumes, StorageClasses) from a
// stream of YAML or JSON documents; "List" documents (kubectl get -o yaml) are unpacked.
// Unknown kinds are skipped with a warning; a malformed document is an error naming its index.
func DecodeWorkload(r io.Reader) (*Workload, error) {
	w := &Workload{}
	reader := utilyaml.NewYAMLReader(bufio.NewReaderSize(r, 1<<20))
	for index := 0; ; index++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return w, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", index, err)
		}
		doc = bytes.TrimSpace(doc)
		if len(doc) == 0 || isComment(doc) {
			continue
		}
		if err := w.add(doc, fmt.Sprintf("document %d", index)); err != nil {
			return nil, err
		}
	}
}

// isComment says whether a document holds nothing but comments and separators.
func isComment(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && !bytes.Equal(line, []byte("---")) {
			return false
		}
	}
	return true
}

func toJSON(doc []byte) ([]byte, error) {
	if doc[0] == '{' {
		return doc, nil
	}
	return yaml.YAMLToJSON(doc)
}

func (w *Workload) add(doc []byte, where string) error {
	data, err := toJSON(doc)
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	var meta struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Items      []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	decode := func(into any) error {
		if err := json.Unmarshal(data, into); err != nil {
			return fmt.Errorf("%s (%s): %w", where, meta.Kind, err)
		}
		return nil
	}
	switch meta.Kind {
	case "List", "NodeList", "PodList", "DaemonSetList", "NodeGroupList", "PodDisruptionBudgetList",
		"PersistentVolumeClaimList", "PersistentVolumeList", "StorageClassList":
		for i, item := range meta.Items {
			if err := w.add(item, fmt.Sprintf("%s item %d", where, i)); err != nil {
				return err
			}
		}
	case "NodeGroup":
		o := &v1alpha1.NodeGroup{}
		if err := decode(o); err != nil {
			return err
		}
		w.NodeGroups = append(w.NodeGroups, o)
	case "Node":
		o := &corev1.Node{}
		if err := decode(o); err != nil {
			return err
		}
		w.Nodes = append(w.Nodes, o)
	case "Pod":
		o := &corev1.Pod{}
		if err := decode(o); err != nil {
			return err
		}
		w.Pods = append(w.Pods, o)
	case "DaemonSet":
		o := &appsv1.DaemonSet{}
		if err := decode(o); err != nil {
			return err
		}
		w.DaemonSets = append(w.DaemonSets, o)
	case "PodDisruptionBudget":
		o := &policyv1.PodDisruptionBudget{}
		if err := decode(o); err != nil {
			return err
		}
		w.PDBs = append(w.PDBs, o)
	case "PersistentVolumeClaim":
		o := &corev1.PersistentVolumeClaim{}
		if err := decode(o); err != nil {
			return err
		}
		w.PVCs = append(w.PVCs, o)
	case "PersistentVolume":
		o := &corev1.PersistentVolume{}
		if err := decode(o); err != nil {
			return err
		}
		w.PVs = append(w.PVs, o)
	case "StorageClass":
		o := &storagev1.StorageClass{}
		if err := decode(o); err != nil {
			return err
		}
		w.Classes = append(w.Classes, o)
	case "":
		return fmt.Errorf("%s: no kind", where)
	default:
		w.Warnings = append(w.Warnings, fmt.Sprintf("%s: skipping unsupported kind %s/%s", where, meta.APIVersion, meta.Kind))
	}
	return nil
}

// Input turns the workload into simulator input with the given offerings.
func (w *Workload) Input(offerings []cloudprovider.Offering) Input {
	return Input{
		NodeGroups: w.NodeGroups, Offerings: offerings, Nodes: w.Nodes, Pods: w.Pods, DaemonSets: w.DaemonSets,
		PersistentVolumeClaims: w.PVCs, PersistentVolumes: w.PVs, StorageClasses: w.Classes,
	}
}
