#!/usr/bin/env bash
# Turn what a GPU run sent back (<name>.tar.partNN, result.json, log.txt) into world-model folders:
#
#     bash scripts/gpu_unpack.sh <files_at> [dest=runs/gpu]      # -> runs/gpu/voxel-long, runs/gpu/voxel-blur
#
# Each folder gets the shipped VAE (the DiT names its SHA-256; checked here), then loads with
# load_world_model("runs/gpu/voxel-blur") and scores with `worldsim eval model=runs/gpu/voxel-blur`.
set -euo pipefail
SRC=${1:?usage: gpu_unpack.sh <folder with the returned files> [dest]}
DEST=${2:-runs/gpu}
REPO=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$DEST"
for first in "$SRC"/*.tar.part00; do
    [ -e "$first" ] || { echo "no <name>.tar.part00 in $SRC"; exit 1; }
    name=$(basename "$first" .tar.part00)
    cat "$SRC/$name".tar.part* | tar -x -C "$DEST"
    cp "$REPO/worldsim/assets/voxel/vae.safetensors" "$DEST/$name/vae.safetensors"
    # the VAE hash the DiT names, from the safetensors header (8-byte length, then JSON): no packages needed
    want=$(python3 -c "import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]
print(json.loads(json.loads(f.read(n))['__metadata__']['extra'])['info'].get('vae_sha256', ''))" "$DEST/$name/dit.safetensors")
    have=$(sha256sum "$DEST/$name/vae.safetensors" | cut -d' ' -f1)
    [ "$want" = "$have" ] || { echo "$name was trained with another VAE ($want), not the shipped one"; exit 1; }
    echo "$DEST/$name"
done
cp "$SRC"/result.json "$SRC"/log.txt "$DEST"/ 2>/dev/null || true
