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
  if [ -x "$dir/$name" ]; then return 0; fi
  mkdir -p "$cache"
  tmp=$(mktemp -d "$cache/.build-$name.XXXXXX")
  echo "building $name $(version_of "$name") into $dir" >&2
  local start=$SECONDS
  case "$name" in
    etcd)
      (cd "$root/tools" && GOBIN="$tmp" go install ./etcd) ;;
    kube-apiserver|kube-controller-manager|kube-scheduler)
      (cd "$root/tools" && GOBIN="$tmp" go install "k8s.io/kubernetes/cmd/$name") ;;
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
