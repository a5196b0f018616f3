#!/usr/bin/env bash
# A local Kubernetes lab for Palisade: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler and kwok (fake nodes that "run"
# pods) in the background, with the example environment applied.
#
#   hack/lab.sh up [--dir DIR] [--nodes N] [ENVIRONMENT_DIR | -]
#   hack/lab.sh status [--dir DIR]
#   hack/lab.sh down [--dir DIR] [--purge]
#
# Files (kubeconfig, logs, pids, etcd data) live in ~/.cache/palisade/lab.
# The first `up` builds the control-plane binaries (hack/build-controlplane.sh,
# about 10 minutes; cached afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./cmd/palisade lab "$@"
