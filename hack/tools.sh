#!/usr/bin/env bash
# Builds the project's tools from the Go module proxy into a cache outside the work tree, keyed by
# version, and skips whatever is already there. Nothing is downloaded but Go modules.
#
# usage: hack/tools.sh [TOOL...]     (default: all)
#        hack/tools.sh --dir TOOL     print the directory that holds TOOL's binary
# tools: etcd kube-apiserver kube-controller-manager kube-scheduler kwok helm controller-gen golangci-lint
#        envtest (etcd + kube-apiserver linked into one directory, the KUBEBUILDER_ASSETS layout)
#
# Cold build of everything takes ~15-25 minutes on 2 cores (kube-apiserver alone ~5); a warm
# cache makes this a no-op.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck disable=SC1091
source "$root/tools/versions.env"
cache=${VPSIE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vpsie-autoscaler/tools}
all=(etcd kube-apiserver envtest kube-controller-manager kube-scheduler kwok helm controller-gen golangci-lint)

version_of() {
  case "$1" in
    etcd) echo "$ETCD_VERSION" ;;
    kube-apiserver|kube-controller-manager|kube-scheduler) echo "$KUBERNETES_VERSION" ;;
    kwok) echo "$KWOK_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    controller-gen) echo "$CONTROLLER_TOOLS_VERSION" ;;
    golangci-lint) echo "$GOLANGCI_LINT_VERSION" ;;
    envtest) echo "$KUBERNETES_VERSION-etcd-$ETCD_VERSION" ;;
    *) echo "error: unknown tool '$1' (known: ${all[*]})" >&2; return 1 ;;
  esac
}
dir_of() { echo "$cache/$1-$(version_of "$1")"; }

if [ "${1:-}" = "--dir" ]; then
  dir_of "$2"
  exit 0
fi

check_tools_mod() {
  local k e
  k=$(awk '$1=="k8s.io/kubernetes"{print $2; exit}' "$root/tools/go.mod")
  e=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$root/tools/go.mod")
  if [ "$k" != "$KUBERNETES_VERSION" ] || [ "$e" != "$ETCD_VERSION" ]; then
    echo "error: tools/go.mod (kubernetes $k, etcd $e) does not match tools/versions.env ($KUBERNETES_VERSION, $ETCD_VERSION)" >&2
    exit 1
  fi
}

# Built from the module proxy the Kubernetes binaries would report v0.0.0-master, which Helm
# (kubeVersion constraints) and version-skew checks refuse: stamp the real version in, the way
# the Kubernetes release build does.
k8s_version_ldflags() {
  local v=${KUBERNETES_VERSION#v} pkg=k8s.io/component-base/version
  local major=${v%%.*} rest=${v#*.}
  echo "-X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=${rest%%.*} -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
}

# stamped: a Kubernetes binary in the cache reports the pinned version (older caches held
# unstamped builds, which are rebuilt; the Go build cache makes that a relink).
stamped() {
  case "$1" in
    kube-apiserver|kube-controller-manager|kube-scheduler)
      "$2" --version 2>/dev/null | grep -qF "Kubernetes $KUBERNETES_VERSION" ;;
    *) return 0 ;;
  esac
}

# go install into a temporary dir then move, so an interrupted build never leaves a half tool.
install_one() {
  local name=$1 dir tmp
  dir=$(dir_of "$name")
  if [ "$name" = envtest ]; then
    install_one etcd
    install_one kube-apiserver
    mkdir -p "$dir"
    ln -sf "$(dir_of etcd)/etcd" "$dir/etcd"
    ln -sf "$(dir_of kube-apiserver)/kube-apiserver" "$dir/kube-apiserver"
    return 0
  fi
  if [ -x "$dir/$name" ] && stamped "$name" "$dir/$name"; then return 0; fi
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.build-$name.XXXXXX")
  echo "building $name $(version_of "$name") into $dir" >&2
  local start=$SECONDS
  case "$name" in
    etcd)
      (cd "$root/tools" && GOBIN="$tmp" go install ./etcd) ;;
    kube-apiserver|kube-controller-manager|kube-scheduler)
      (cd "$root/tools" && GOBIN="$tmp" go install -ldflags "$(k8s_version_ldflags)" "k8s.io/kubernetes/cmd/$name") ;;
    kwok)
      GOBIN="$tmp" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" ;;
    helm)
      GOBIN="$tmp" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" ;;
    controller-gen)
      GOBIN="$tmp" go install "sigs.k8s.io/controller-tools/cmd/controller-gen@$CONTROLLER_TOOLS_VERSION" ;;
    golangci-lint)
      GOBIN="$tmp" go install "github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$GOLANGCI_LINT_VERSION" ;;
  esac
  mkdir -p "$dir"
  mv "$tmp/$name" "$dir/$name"
  rm -rf "$tmp"
  echo "built $name in $((SECONDS - start))s" >&2
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=("${all[@]}")
for t in "${tools[@]}"; do version_of "$t" >/dev/null; done
check_tools_mod
for t in "${tools[@]}"; do install_one "$t"; done
