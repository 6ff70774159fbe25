#!/usr/bin/env bash
# Builds the binaries the end-to-end tests need (kube-apiserver, kubectl, etcd and, on request,
# kube-controller-manager, kustomize and helm) from source through the Go module proxy. Release
# binaries are not used.
#
# Everything goes under ${DAEMONGUARD_E2E_CACHE:-$HOME/.cache/daemonguard-e2e}/<k8s version>/:
#   bin/      the binaries (a binary that already exists is not built again)
#   gomod/    Go module cache (files are read-only: remove with `GOMODCACHE=... go clean -modcache`)
#   gocache/  Go build cache
#   mod/      one small helper Go module per tool (generated here, never in the repository)
#   logs/     one build log per tool
#
# Usage: test/e2e/cluster/build.sh [--with-controller-manager] [--with-deploy-tools] [--print-bin-dir]
#   --with-controller-manager  also build kube-controller-manager, from the same release and module
#                              graph as kube-apiserver (also: DAEMONGUARD_E2E_CONTROLLER_MANAGER=1)
#   --with-deploy-tools        also build kustomize and helm (also: DAEMONGUARD_E2E_DEPLOY_TOOLS=1)
#   --print-bin-dir            print the bin folder and exit without building
# Environment: DAEMONGUARD_E2E_K8S_VERSION (default v1.37.2), DAEMONGUARD_E2E_CACHE.
set -euo pipefail

K8S_VERSION="${DAEMONGUARD_E2E_K8S_VERSION:-v1.37.2}"
KUSTOMIZE_VERSION="${DAEMONGUARD_E2E_KUSTOMIZE_VERSION:-v5.8.2}"
HELM_MODULE="${DAEMONGUARD_E2E_HELM_MODULE:-helm.sh/helm/v3}"
HELM_VERSION="${DAEMONGUARD_E2E_HELM_VERSION:-v3.22.0}"

CACHE_ROOT="${DAEMONGUARD_E2E_CACHE:-${HOME:-$(cd ~ && pwd)}/.cache/daemonguard-e2e}"
ROOT="$CACHE_ROOT/$K8S_VERSION"
BIN="$ROOT/bin"

deploy_tools="${DAEMONGUARD_E2E_DEPLOY_TOOLS:-0}"
controller_manager="${DAEMONGUARD_E2E_CONTROLLER_MANAGER:-0}"
for arg in "$@"; do
  case "$arg" in
    --with-controller-manager) controller_manager=1 ;;
    --with-deploy-tools) deploy_tools=1 ;;
    --print-bin-dir) echo "$BIN"; exit 0 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; else
    echo "build.sh: Go is not installed (need Go >= 1.26)" >&2; exit 1
  fi
fi

mkdir -p "$BIN" "$ROOT/gomod" "$ROOT/gocache" "$ROOT/mod" "$ROOT/logs"

# Two builds at the same time (a developer and CI on one machine) would fight over the helper
# modules; serialize them.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$ROOT/.build.lock"
  if ! flock -n 9; then
    echo "== another build holds $ROOT/.build.lock, waiting"
    flock 9
  fi
fi

# Modules already in the user's own module cache are read from there instead of the network.
default_modcache="$(go env GOMODCACHE 2>/dev/null || true)"
upstream_proxy="$(go env GOPROXY 2>/dev/null || echo https://proxy.golang.org,direct)"
if [ -n "$default_modcache" ] && [ -d "$default_modcache/cache/download" ] && [ "$default_modcache" != "$ROOT/gomod" ]; then
  export GOPROXY="file://$default_modcache/cache/download,$upstream_proxy"
fi
export GOMODCACHE="$ROOT/gomod"
export GOCACHE="$ROOT/gocache"
export GOFLAGS="-p=${DAEMONGUARD_E2E_GO_PARALLEL:-2} -buildvcs=false -mod=mod"
export GOTOOLCHAIN=local
export CGO_ENABLED=0
export GOWORK=off
LDFLAGS="-s -w"

echo "== go: $(go version); cache: $ROOT"

# JSON is read with node (always there for this project) rather than jq (not always installed).
# go_mod_info MODULE@VERSION FIELD: downloads the module and prints one field of
# `go mod download -json` (GoMod: path of its go.mod file), or Time (when the version was
# published, from the module's .info file).
go_mod_info() {
  go mod download -json "$1" | node -e '
    const fs = require("node:fs");
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      const m = JSON.parse(s); const field = process.argv[1];
      const v = field === "Time" && m.Info ? JSON.parse(fs.readFileSync(m.Info, "utf8")).Time : m[field];
      if (m.Error || !v) { console.error("build.sh: " + (m.Error || "no " + field + " for " + m.Path)); process.exit(1); }
      console.log(v);
    });' "$2"
}

# go_mod_requires GOMOD_FILE: prints "path version" for every require line of a go.mod file.
go_mod_requires() {
  go mod edit -json "$1" | node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const r of JSON.parse(s).Require ?? []) console.log(r.Path + " " + r.Version);
    });'
}

# new_helper NAME: creates (or recreates) an empty helper module and prints its folder.
new_helper() {
  local dir="$ROOT/mod/$1"
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && go mod init "daemonguard.invalid/e2e-$1" >/dev/null 2>&1 && go mod edit -go=1.26.0)
  echo "$dir"
}

# Bump when the way a binary is built changes: binaries built by an older recipe are rebuilt.
RECIPE=3

# stamp BINARY: what a binary must have been built from to be reused.
stamp() {
  case "$1" in
    kube-apiserver|kubectl|kube-controller-manager) echo "recipe=$RECIPE kubernetes=$K8S_VERSION" ;;
    etcd) echo "recipe=$RECIPE kubernetes=$K8S_VERSION" ;;
    kustomize) echo "recipe=$RECIPE kustomize=$KUSTOMIZE_VERSION" ;;
    helm) echo "recipe=$RECIPE helm=$HELM_MODULE@$HELM_VERSION" ;;
  esac
}

# have BINARY: true when the binary exists and was built by this recipe from these versions.
have() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.$1.stamp" 2>/dev/null)" = "$(stamp "$1")" ]; }

# build_tool DIR BINARY PACKAGE [LDFLAGS...]: builds PACKAGE inside helper module DIR to $BIN/BINARY.
build_tool() {
  local dir="$1" name="$2" pkg="$3" log="$ROOT/logs/$2.log" start
  shift 3
  start=$(date +%s)
  echo "== building $name ($pkg), log: $log"
  if ! (cd "$dir" && go build -trimpath -ldflags="$LDFLAGS $*" -o "$BIN/.$name.tmp" "$pkg") >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "build.sh: building $name failed, see $log" >&2
    exit 1
  fi
  mv -f "$BIN/.$name.tmp" "$BIN/$name"
  stamp "$name" >"$BIN/.$name.stamp"
  echo "== built $name in $(( $(date +%s) - start ))s"
}

total_start=$(date +%s)

# --- kube-apiserver, kubectl and kube-controller-manager ------------------------------------
# kubernetes' go.mod requires its staging modules (k8s.io/api, k8s.io/client-go, ...) at v0.0.0
# and replaces them with ./staging folders, which only works inside its own repository. The helper
# module replaces each of them with the published v0.X.Y that matches the release instead. The list
# is generated from the tag's go.mod so it follows whatever the release requires.
k8s_bins=(kube-apiserver kubectl)
if [ "$controller_manager" = 1 ]; then k8s_bins+=(kube-controller-manager); fi
missing=()
for b in "${k8s_bins[@]}"; do have "$b" || missing+=("$b"); done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "== ${k8s_bins[*]} $K8S_VERSION already built"
else
  start=$(date +%s)
  staging_version="v0.${K8S_VERSION#v1.}"
  k8s_gomod="$(go_mod_info "k8s.io/kubernetes@$K8S_VERSION" GoMod)"
  dir="$(new_helper kubernetes)"
  mapfile -t staging < <(go_mod_requires "$k8s_gomod" | awk '$2 == "v0.0.0" { print $1 }')
  if [ "${#staging[@]}" -eq 0 ]; then
    echo "build.sh: found no staging modules at v0.0.0 in $k8s_gomod" >&2; exit 1
  fi
  edits=(-require="k8s.io/kubernetes@$K8S_VERSION")
  for m in "${staging[@]}"; do edits+=(-replace="$m=$m@$staging_version"); done
  (cd "$dir" && go mod edit "${edits[@]}")
  echo "== helper module for kubernetes $K8S_VERSION: ${#staging[@]} staging modules -> $staging_version"
  echo "== resolving kubernetes dependencies (first run downloads several hundred MB)"
  # Every wanted command is resolved together (not only the missing ones), so the helper module,
  # and with it every dependency version, is the same whichever binary is built.
  get_args=()
  for b in "${k8s_bins[@]}"; do get_args+=("k8s.io/kubernetes/cmd/$b@$K8S_VERSION"); done
  if ! (cd "$dir" && go get "${get_args[@]}") >"$ROOT/logs/kubernetes-get.log" 2>&1; then
    tail -n 40 "$ROOT/logs/kubernetes-get.log" >&2
    echo "build.sh: resolving kubernetes modules failed" >&2; exit 1
  fi
  echo "== resolved in $(( $(date +%s) - start ))s"
  # The version a release build stamps in (see kubernetes' hack/lib/version.sh). Without it the
  # binaries call themselves v0.0.0-master+$Format:%H$, which `kubectl version` cannot parse.
  k8s_minor="${K8S_VERSION#v*.}"; k8s_minor="${k8s_minor%%.*}"
  k8s_major="${K8S_VERSION#v}"; k8s_major="${k8s_major%%.*}"
  build_date="$(go_mod_info "k8s.io/kubernetes@$K8S_VERSION" Time)"
  version_ldflags=()
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    version_ldflags+=(
      "-X $pkg.gitVersion=$K8S_VERSION" "-X $pkg.gitMajor=$k8s_major" "-X $pkg.gitMinor=$k8s_minor"
      "-X $pkg.gitTreeState=archive" "-X $pkg.buildDate=$build_date"
    )
  done
  for b in "${missing[@]}"; do
    build_tool "$dir" "$b" "k8s.io/kubernetes/cmd/$b" "${version_ldflags[@]}"
  done
fi

# --- etcd -----------------------------------------------------------------------------------
# The etcd server module version is the one kubernetes pins. `go install go.etcd.io/etcd/...@v`
# refuses modules with replace directives, so it is built from a helper module as well.
if have etcd; then
  echo "== etcd already built"
else
  k8s_gomod="$(go_mod_info "k8s.io/kubernetes@$K8S_VERSION" GoMod)"
  etcd_version="$(go_mod_requires "$k8s_gomod" | awk '$1 == "go.etcd.io/etcd/server/v3" { print $2 }')"
  if [ -z "$etcd_version" ]; then
    echo "build.sh: kubernetes $K8S_VERSION does not pin go.etcd.io/etcd/server/v3" >&2; exit 1
  fi
  dir="$(new_helper etcd)"
  echo "== resolving etcd $etcd_version"
  (cd "$dir" && go get "go.etcd.io/etcd/server/v3@$etcd_version") >"$ROOT/logs/etcd-get.log" 2>&1 \
    || { tail -n 40 "$ROOT/logs/etcd-get.log" >&2; exit 1; }
  build_tool "$dir" etcd go.etcd.io/etcd/server/v3
fi

# --- kustomize and helm (for the deploy tests) ----------------------------------------------
if [ "$deploy_tools" = 1 ]; then
  if have kustomize; then echo "== kustomize already built"; else
    dir="$(new_helper kustomize)"
    (cd "$dir" && go get "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION") >"$ROOT/logs/kustomize-get.log" 2>&1 \
      || { tail -n 40 "$ROOT/logs/kustomize-get.log" >&2; exit 1; }
    build_tool "$dir" kustomize sigs.k8s.io/kustomize/kustomize/v5
  fi
  if have helm; then echo "== helm already built"; else
    dir="$(new_helper helm)"
    (cd "$dir" && go get "$HELM_MODULE/cmd/helm@$HELM_VERSION") >"$ROOT/logs/helm-get.log" 2>&1 \
      || { tail -n 40 "$ROOT/logs/helm-get.log" >&2; exit 1; }
    # Without it, `helm version` reports only the major.minor the source has as its default.
    build_tool "$dir" helm "$HELM_MODULE/cmd/helm" "-X $HELM_MODULE/internal/version.version=$HELM_VERSION"
  fi
fi

echo "== done in $(( $(date +%s) - total_start ))s"
echo "$BIN"
