#!/bin/sh
# Writes models/fashion/calibrated/*.onnx: the Fashion-MNIST models with their calibration
# (k per ReLU layer, value ranges, input bound) at p41, f = 8, sign test at the product scale,
# from the first 300 images of the Fashion-MNIST *training* split (never the bundled test
# subset the demo and the tables evaluate on). Needs Debian's dataset-fashion-mnist; run from
# the repository root after `cargo build --release`.
set -eu
src=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gunzip -c "$src/train-images-idx3-ubyte.gz" > "$tmp/train-images-idx3-ubyte"
gunzip -c "$src/train-labels-idx1-ubyte.gz" > "$tmp/train-labels-idx1-ubyte"
mkdir -p models/fashion/calibrated
for m in fashion_resnet8 fashion_drd_thinch fashion_drd_cull1_thinch fashion_drd_cull2_thinlayer fashion_drd_only1 fashion_poly; do
  target/release/circa calibrate "models/fashion/$m.onnx" --frac-bits 8 \
    --data "$tmp/train-images-idx3-ubyte" --labels "$tmp/train-labels-idx1-ubyte" --limit 300 \
    --output "models/fashion/calibrated/$m.onnx" | tee "models/fashion/calibrated/$m.txt"
done
