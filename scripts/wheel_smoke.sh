#!/usr/bin/env bash
# Installs the freshly built wheel into a brand-new virtual environment (outside the source tree, so
# nothing is imported from python/) and runs a kernel with it, then checks it is abi3.
set -euo pipefail
dist=${1:-dist}
wheel=$(ls -t "$dist"/samarl-*.whl | head -n 1)
case "$wheel" in
  *-abi3-*) echo "wheel is abi3: $wheel" ;;
  *) echo "expected an abi3 wheel, got $wheel" >&2; exit 1 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install -q "$wheel"
cd "$tmp"
"$tmp/venv/bin/python" - <<'PY'
import numpy as np
import samarl

g = samarl.Graph.erdos_renyi(5000, 6.0, seed=1)
c = samarl.Consensus(g)
x = np.random.default_rng(0).random(5000, dtype=np.float32)
y = c.mix(x, 50)
assert abs(float(y.mean()) - float(x.mean())) < 1e-4, "consensus must keep the mean"
assert float(y.std()) < float(x.std()), "consensus must shrink the disagreement"
print("wheel OK:", samarl.__file__, "samarl", samarl.__version__)
PY
