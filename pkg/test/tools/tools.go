// Package tools gives tests the tool cache of hack/tools.sh (see pkg/toolcache) under the names
// the suites have always used.
package tools

import "github.com/vpsie/vpsie-k8s-autoscaler/pkg/toolcache"

// Module is the project's Go module path.
const Module = toolcache.Module

// ErrNotBuilt is wrapped by Path when the tool cache lacks the binary.
var ErrNotBuilt = toolcache.ErrNotBuilt

var (
	// RepoRoot returns the directory holding the project's go.mod.
	RepoRoot = toolcache.RepoRoot
	// Versions reads tools/versions.env.
	Versions = toolcache.Versions
	// CacheDir is where hack/tools.sh puts the tools.
	CacheDir = toolcache.CacheDir
	// Path returns the absolute path of a tool binary in the cache.
	Path = toolcache.Path
	// EnvtestAssets returns a directory holding both etcd and kube-apiserver.
	EnvtestAssets = toolcache.EnvtestAssets
	// SharedBench returns ../shared/bench next to the repository and whether it exists.
	SharedBench = toolcache.SharedBench
)
