package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/vpsie/vpsie-k8s-autoscaler/pkg/simulator"
)

// loadInputs decodes every file and merges them into one workload, in the order given.
func loadInputs(paths []string) (*simulator.Workload, error) {
	all := &simulator.Workload{}
	for _, path := range paths {
		w, err := loadFile(path)
		if err != nil {
			return nil, err
		}
		all.NodeGroups = append(all.NodeGroups, w.NodeGroups...)
		all.Nodes = append(all.Nodes, w.Nodes...)
		all.Pods = append(all.Pods, w.Pods...)
		all.DaemonSets = append(all.DaemonSets, w.DaemonSets...)
		all.PDBs = append(all.PDBs, w.PDBs...)
		for _, warning := range w.Warnings {
			all.Warnings = append(all.Warnings, path+": "+warning)
		}
	}
	return all, nil
}

// loadFile decodes one file. The simulator's decoder reads "---"-separated YAML (each document
// may be JSON); a file that starts with '{' or '[' may instead be a stream of concatenated JSON
// values (or a JSON array of objects), which is rewritten into that form first so document
// indexes in errors still count the values of the file.
//
// Errors read "FILE: document N: ..." (N counts from 0), warnings likewise.
func loadFile(path string) (*simulator.Workload, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading input, %w", err)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	// JSON escapes newlines inside strings, so a line starting with "---" is always a YAML
	// document separator, and then the YAML reader splits the documents itself.
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') && !bytes.Contains(trimmed, []byte("\n---")) {
		data, err = jsonStreamToDocuments(trimmed)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	w, err := simulator.DecodeWorkload(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// jsonStreamToDocuments turns concatenated JSON values into one compact document per line,
// separated by "---". A top-level array contributes one document per element.
func jsonStreamToDocuments(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out bytes.Buffer
	index := 0
	emit := func(raw json.RawMessage) error {
		if index > 0 {
			out.WriteString("\n---\n")
		}
		if err := json.Compact(&out, raw); err != nil {
			return fmt.Errorf("document %d: %w", index, err)
		}
		index++
		return nil
	}
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", index, err)
		}
		if raw[0] != '[' {
			if err := emit(raw); err != nil {
				return nil, err
			}
			continue
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("document %d: %w", index, err)
		}
		for _, item := range items {
			if err := emit(item); err != nil {
				return nil, err
			}
		}
	}
}
