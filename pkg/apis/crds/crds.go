// Package crds embeds the CustomResourceDefinitions generated from pkg/apis/v1alpha1 (by
// `make generate`), so tests and the controller can install exactly what the chart ships.
package crds

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

//go:embed *.yaml
var files embed.FS

// CRDs decodes every embedded CRD, in file-name order. Decoding is strict: a field the
// apiextensions types do not know is an error, so a stale or hand-edited file fails loudly.
func CRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	return decodeAll(files)
}

func decodeAll(fsys fs.FS) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("listing embedded crds, %w", err)
	}
	sort.Strings(names)
	out := make([]*apiextensionsv1.CustomResourceDefinition, 0, len(names))
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("reading crd %s, %w", name, err)
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(data, crd); err != nil {
			return nil, fmt.Errorf("decoding crd %s, %w", name, err)
		}
		if crd.Kind != "CustomResourceDefinition" || crd.Name == "" {
			return nil, fmt.Errorf("decoding crd %s, not a named CustomResourceDefinition (kind %q)", name, crd.Kind)
		}
		out = append(out, crd)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no crds embedded")
	}
	return out, nil
}
