"""Fashion-MNIST as the Fashion-MNIST training scripts use it.

* The full splits are read from Debian's `dataset-fashion-mnist` (gzipped IDX files under
  /usr/share/datasets/fashion-mnist/, override with $FASHION_MNIST_DIR).
* The committed subset is the first SUBSET_SIZE images of the test split, written as
  uncompressed IDX files (the upstream format) under models/data/.
* Model input: pixel / 255 as float32, shape [N, 1, 28, 28], no other normalisation.
"""

import gzip
import os
import struct

import numpy as np

SOURCE_DIR = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
HERE = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(HERE, "data")
SUBSET_SIZE = 1000
SUBSET_IMAGES = os.path.join(DATA_DIR, "fashion_test_1000-images.idx3")
SUBSET_LABELS = os.path.join(DATA_DIR, "fashion_test_1000-labels.idx1")
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

# IDX magic: two zero bytes, type code 0x08 (unsigned byte), number of dimensions.
_UBYTE = 0x08


def parse_idx(raw, ndim):
    """uint8 array from the bytes of an IDX file with `ndim` dimensions (checked)."""
    if len(raw) < 4 + 4 * ndim:
        raise ValueError("IDX file shorter than its header")
    zero, dtype, dims = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != _UBYTE or dims != ndim:
        raise ValueError("bad IDX magic %r" % raw[:4])
    shape = struct.unpack(">" + "I" * ndim, raw[4 : 4 + 4 * ndim])
    body = raw[4 + 4 * ndim :]
    if len(body) != int(np.prod(shape)):
        raise ValueError("IDX body %d bytes, header says %s" % (len(body), shape))
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def idx_bytes(array):
    """The IDX encoding of a uint8 array."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, _UBYTE, array.ndim)
    header += struct.pack(">" + "I" * array.ndim, *array.shape)
    return header + array.tobytes()


def _read(path, ndim):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return parse_idx(f.read(), ndim)


def load_split(split):
    """(uint8 images [N, 28, 28], uint8 labels [N]) of 'train' or 't10k'."""
    images = _read(os.path.join(SOURCE_DIR, "%s-images-idx3-ubyte.gz" % split), 3)
    labels = _read(os.path.join(SOURCE_DIR, "%s-labels-idx1-ubyte.gz" % split), 1)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise ValueError("%s: images %s, labels %s" % (split, images.shape, labels.shape))
    if labels.max() >= len(CLASSES):
        raise ValueError("%s: label out of range" % split)
    return images, labels


def load_subset():
    """The committed subset (uint8 images [1000, 28, 28], uint8 labels [1000])."""
    return _read(SUBSET_IMAGES, 3), _read(SUBSET_LABELS, 1)


def to_input(images):
    """Model input: float32 [N, 1, 28, 28] = pixel / 255."""
    return (images.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)


def write_subset():
    """Writes the first SUBSET_SIZE test images and labels; returns their paths."""
    images, labels = load_split("t10k")
    os.makedirs(DATA_DIR, exist_ok=True)
    for path, array in (
        (SUBSET_IMAGES, images[:SUBSET_SIZE]),
        (SUBSET_LABELS, labels[:SUBSET_SIZE]),
    ):
        with open(path, "wb") as f:
            f.write(idx_bytes(array))
    sub_images, sub_labels = load_subset()
    assert np.array_equal(sub_images, images[:SUBSET_SIZE])
    assert np.array_equal(sub_labels, labels[:SUBSET_SIZE])
    return SUBSET_IMAGES, SUBSET_LABELS
