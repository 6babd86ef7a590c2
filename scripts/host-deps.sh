#!/usr/bin/env bash
# Installs the Debian (bookworm) packages that building and testing
# crac-build need on a fresh machine: the OCI runtime, the rootfs builder,
# a JDK to compile the examples, curl for warmup scripts, the real clients
# of the distribution tests (podman with the netavark network stack and
# iptables for published ports; the distribution registry), and headless
# Chromium for the benchmark's report. Idempotent: it does nothing when
# everything is present.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have runc || need+=(runc)
have mmdebstrap || need+=(mmdebstrap)
have curl || need+=(curl)
have javac || need+=(openjdk-17-jdk-headless)
have gcc || need+=(gcc libc6-dev)
have zstd || need+=(zstd)
have podman || need+=(podman)
have docker-registry || need+=(docker-registry)
# podman picks netavark when it is installed; its port forwarding needs
# iptables. Packages without a command of their own are asked of dpkg.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
installed netavark || need+=(netavark)
have iptables || need+=(iptables)
# buildah builds examples/containerfile (e2e test).
have buildah || need+=(buildah)
# chromium renders the benchmark's HTML report (bench test, make bench-png).
have chromium || need+=(chromium)
# Docker Engine and containerd (Debian 12: 20.10 and 1.6), started by the
# e2e tests themselves (e2e/docker_test.go, e2e/containerd_test.go).
have dockerd || need+=(docker.io)
have containerd || need+=(containerd)
have ctr || need+=(containerd)
# jemalloc: e2e/pages_test.go preloads it to show that a process using it
# is restored with its pages read, not mapped (docs/restore-speed.md).
installed libjemalloc2 || need+=(libjemalloc2)

if ((${#need[@]})); then
  echo "host-deps: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null; then
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
