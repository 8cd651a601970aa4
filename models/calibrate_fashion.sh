#!/bin/sh
# Writes models/fashion/calibrated/*.onnx and their .txt reports: the Fashion-MNIST models with
# their calibration (k per ReLU layer, value ranges, input bound) at p41, sign test at the
# product scale, f = 10 for fashion_resnet8 and f = 8 for the others (their pruned channels and
# polynomials still rescale by local truncation, which wraps with probability |x|/p, a rate
# that grows as 2^(2f); every rescale of the ResNet-8 is fused into a ReLU and cannot wrap, so
# it takes the finer f and its fewer AND gates), from the first 2,000 images of the
# Fashion-MNIST *training* split (never
# the bundled test subset the demo and the tables evaluate on), tolerance 0.004: at most 8 of
# the 2,000 predictions may change against the exact fixed-point reference (the uncalibrated
# default band 1/16 changes 8 on fashion_resnet8) and at most 8 fewer may be right.
# Needs Debian's dataset-fashion-mnist; run from the repository root after
# `cargo build --release`. About 6 minutes per ResNet-8-sized model on 2 cores.
# Usage: models/calibrate_fashion.sh [MODEL ...]   (default: the demo's three models)
set -eu
src=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
limit=${CALIBRATION_IMAGES:-2000}
tolerance=${CALIBRATION_TOLERANCE:-0.004}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gunzip -c "$src/train-images-idx3-ubyte.gz" > "$tmp/train-images-idx3-ubyte"
gunzip -c "$src/train-labels-idx1-ubyte.gz" > "$tmp/train-labels-idx1-ubyte"
mkdir -p models/fashion/calibrated
models=${*:-fashion_resnet8 fashion_drd_cull1_thinch fashion_poly}
for m in $models; do
  case $m in
    fashion_resnet8) f=10 ;;
    *) f=8 ;;
  esac
  target/release/circa calibrate "models/fashion/$m.onnx" --frac-bits "$f" \
    --data "$tmp/train-images-idx3-ubyte" --labels "$tmp/train-labels-idx1-ubyte" \
    --limit "$limit" --tolerance "$tolerance" \
    --output "models/fashion/calibrated/$m.onnx" | tee "models/fashion/calibrated/$m.txt"
done
