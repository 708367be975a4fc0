#!/usr/bin/env bash
# Write scripts/uv-bootstrap.txt: uv==VERSION with the sha256 of its wheels for the platforms
# the project's machines use. pip checks each download against the index's own hash.
#   usage: q7_make_uv_bootstrap.sh VERSION OUT [PIP]
set -euo pipefail
version=$1; out=$2; pip=${3:-pip}
dir=$(mktemp -d)
for plat in manylinux_2_17_x86_64 manylinux_2_17_aarch64 manylinux_2_28_aarch64 musllinux_1_1_x86_64 \
            macosx_11_0_arm64 macosx_10_12_x86_64 win_amd64; do
  "$pip" download -q --no-deps --only-binary=:all: --platform "$plat" --python-version 3.11 -d "$dir" "uv==$version"
done
{
  echo "# uv $version for the bootstrap: python -m pip install --require-hashes --only-binary=:all: --no-deps -r $(basename "$out")"
  echo "uv==$version \\"
  files=("$dir"/*.whl); n=${#files[@]}
  for i in "${!files[@]}"; do
    h=$(sha256sum "${files[$i]}" | cut -d' ' -f1)
    if (( i < n - 1 )); then echo "    --hash=sha256:$h \\"; else echo "    --hash=sha256:$h"; fi
  done
} > "$out"
rm -rf "$dir"
echo "wrote $out ($n wheels)"
