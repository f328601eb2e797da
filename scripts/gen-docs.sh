#!/usr/bin/env bash
# Regenerates the docs that come from code tables: docs/configuration.md, docs/metrics.md and
# docs/analyzer-metrics.md.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${BUILD_DIR:-build}
BUILD_DIR=$B scripts/build.sh
{ cat docs/configuration.head.md; "$B/agent/vigil-agent" --config-doc; "$B/analyzer/vigil-analyzer" --config-doc; } >docs/configuration.md
"$B/agent/vigil-agent" --metrics-doc >docs/metrics.md
"$B/analyzer/vigil-analyzer" --metrics-doc >docs/analyzer-metrics.md
echo "regenerated docs/configuration.md, docs/metrics.md and docs/analyzer-metrics.md"
