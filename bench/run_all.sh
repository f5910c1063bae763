#!/usr/bin/env bash
# Run every benchmark and print its figures. Benchmarks live in src/wattwerk/bench/<name>.py
# and run as `wattwerk bench <name>`; none asserts on time.
set -euo pipefail
cd "$(dirname "$0")/.."
for name in $(.venv/bin/python -c 'from wattwerk.bench import available; print(" ".join(available()))'); do
  echo "== wattwerk bench $name"
  .venv/bin/wattwerk bench "$name" || echo "(bench $name failed with $?)"
done
