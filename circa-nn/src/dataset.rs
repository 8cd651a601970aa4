//! Reading inputs from data files.
//!
//! * Text: one comma-separated line per image, as in the bundled `models/data/*.csv`
//!   (`sample_input.csv`: `v0,...,v(n-1)`; `digits_test.csv`: `label,v0,...,v(n-1)`). Values
//!   must be finite; every line is checked for its length.
//! * IDX (the MNIST / Fashion-MNIST format, uncompressed): an image file (3 dimensions) and a
//!   label file (1 dimension) of unsigned bytes, as `models/data/fashion_test_1000-*`. Images
//!   become `pixel / 255`. Headers are checked against the file length and the limits before
//!   anything is allocated.

use std::io::Read as _;
use std::path::Path;

use crate::error::{NnError, Result};

/// Largest number of lines read from one data file.
pub const MAX_DATA_LINES: usize = 1 << 20;

fn parse_values(line: &str, line_no: usize, first_field: usize, out: &mut Vec<f64>) -> Result<()> {
    for (i, field) in line.split(',').enumerate() {
        let v: f64 = field
            .trim()
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or(NnError::InvalidDataField {
                line: line_no,
                field: first_field + i,
            })?;
        out.push(v);
    }
    Ok(())
}

fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}

/// Fails once `read` lines have been accepted and another one comes.
fn check_line_limit(read: usize) -> Result<()> {
    if read >= MAX_DATA_LINES {
        return Err(NnError::LimitExceeded {
            what: "data lines",
            value: read as u64 + 1,
            limit: MAX_DATA_LINES as u64,
        });
    }
    Ok(())
}

/// Parses exactly `len` comma-separated values (fields numbered from `first_field`).
fn parse_row(text: &str, line_no: usize, first_field: usize, len: usize) -> Result<Vec<f64>> {
    // A row of `len` values has `len - 1` commas; check before allocating.
    let fields = text.bytes().filter(|&b| b == b',').count() + 1;
    if fields != len {
        return Err(NnError::InputLengthMismatch {
            expected: len,
            actual: fields,
        });
    }
    let mut v = Vec::with_capacity(len);
    parse_values(text, line_no, first_field, &mut v)?;
    Ok(v)
}

/// Parses inputs of `len` values each, one per non-empty line.
pub fn parse_inputs(text: &str, len: usize) -> Result<Vec<Vec<f64>>> {
    let mut out = Vec::new();
    for (line_no, line) in lines(text) {
        check_line_limit(out.len())?;
        out.push(parse_row(line, line_no, 0, len)?);
    }
    Ok(out)
}

/// Parses labelled inputs `label,v0,...,v(len-1)`, one per non-empty line. Labels are
/// non-negative integers below `classes`.
pub fn parse_labelled(text: &str, len: usize, classes: usize) -> Result<Vec<(usize, Vec<f64>)>> {
    let mut out = Vec::new();
    for (line_no, line) in lines(text) {
        check_line_limit(out.len())?;
        let (label, rest) = line.split_once(',').ok_or(NnError::InputLengthMismatch {
            expected: len,
            actual: 0,
        })?;
        let label = label
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|&l| l < classes)
            .ok_or(NnError::InvalidDataField {
                line: line_no,
                field: 0,
            })?;
        out.push((label, parse_row(rest, line_no, 1, len)?));
    }
    Ok(out)
}

// ----- IDX -----

/// Most items (images or labels) read from one IDX file.
pub const MAX_IDX_ITEMS: usize = 1 << 20;
/// Most pixels in one IDX image.
pub const MAX_IDX_IMAGE_PIXELS: usize = 1 << 16;
/// Most pixels in one IDX image file (each becomes an `f64`: at most 512 MiB).
pub const MAX_IDX_PIXELS: usize = 1 << 26;

/// The IDX type code of unsigned bytes, the only one read.
const IDX_UBYTE: u8 = 0x08;
const IDX_IMAGE_DIMS: u8 = 3;
const IDX_LABEL_DIMS: u8 = 1;

/// Images and their labels, read from a pair of IDX files.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledImages {
    /// Rows of every image.
    pub rows: usize,
    /// Columns of every image.
    pub cols: usize,
    /// One image per item: `rows * cols` values `pixel / 255`, row by row.
    pub images: Vec<Vec<f64>>,
    /// The label of each image, below the number of classes asked for.
    pub labels: Vec<usize>,
}

impl LabelledImages {
    /// `(label, image)` pairs, as [`parse_labelled`] returns them.
    pub fn into_labelled(self) -> Vec<(usize, Vec<f64>)> {
        self.labels.into_iter().zip(self.images).collect()
    }
}

/// Length of an IDX header with `dims` dimensions.
fn idx_header_len(dims: u8) -> usize {
    4 + 4 * dims as usize
}

/// Checks the header at the start of `prefix` (magic, dimension count, the limits) and
/// returns the dimensions and the file length they imply. `prefix` may be just the header.
fn idx_header(
    what: &'static str,
    prefix: &[u8],
    dims: u8,
    max_items: usize,
) -> Result<(Vec<usize>, u64)> {
    let header_len = idx_header_len(dims);
    let mut magic = [0u8; 4];
    for (m, &b) in magic.iter_mut().zip(prefix) {
        *m = b;
    }
    if prefix.len() >= 3 && (magic[0] != 0 || magic[1] != 0 || magic[2] != IDX_UBYTE) {
        return Err(NnError::IdxMagic { what, magic });
    }
    if prefix.len() >= 4 && magic[3] != dims {
        return Err(NnError::IdxDimensions {
            what,
            expected: dims,
            actual: magic[3],
        });
    }
    if prefix.len() < header_len {
        return Err(NnError::IdxLength {
            what,
            expected: header_len as u64,
            actual: prefix.len() as u64,
        });
    }
    let shape: Vec<usize> = prefix[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let limit = max_items.min(MAX_IDX_ITEMS);
    if shape[0] > limit {
        return Err(NnError::LimitExceeded {
            what: "IDX items",
            value: shape[0] as u64,
            limit: limit as u64,
        });
    }
    let mut body = shape[0];
    if dims == IDX_IMAGE_DIMS {
        let (rows, cols) = (shape[1], shape[2]);
        if rows == 0 || cols == 0 {
            return Err(NnError::IdxImageSize { rows, cols });
        }
        // Each factor fits 32 bits, so the products fit u64 (and usize once bounded).
        let pixels = rows as u64 * cols as u64;
        if pixels > MAX_IDX_IMAGE_PIXELS as u64 {
            return Err(NnError::LimitExceeded {
                what: "IDX image pixels",
                value: pixels,
                limit: MAX_IDX_IMAGE_PIXELS as u64,
            });
        }
        let total = pixels * shape[0] as u64;
        if total > MAX_IDX_PIXELS as u64 {
            return Err(NnError::LimitExceeded {
                what: "IDX pixels",
                value: total,
                limit: MAX_IDX_PIXELS as u64,
            });
        }
        body = total as usize;
    }
    Ok((shape, header_len as u64 + body as u64))
}

/// Checks a whole IDX file in memory: header, then its length against the header.
fn idx_body<'a>(
    what: &'static str,
    bytes: &'a [u8],
    dims: u8,
    max_items: usize,
) -> Result<(Vec<usize>, &'a [u8])> {
    let (shape, len) = idx_header(what, bytes, dims, max_items)?;
    if bytes.len() as u64 != len {
        return Err(NnError::IdxLength {
            what,
            expected: len,
            actual: bytes.len() as u64,
        });
    }
    Ok((shape, &bytes[idx_header_len(dims)..]))
}

/// Parses IDX images and labels (the bytes of whole files): at most `max_items` items (and
/// [`MAX_IDX_ITEMS`]), labels below `classes`, as many labels as images.
pub fn parse_idx(
    images: &[u8],
    labels: &[u8],
    classes: usize,
    max_items: usize,
) -> Result<LabelledImages> {
    let (shape, pixels) = idx_body("images", images, IDX_IMAGE_DIMS, max_items)?;
    let (label_shape, label_bytes) = idx_body("labels", labels, IDX_LABEL_DIMS, max_items)?;
    if shape[0] != label_shape[0] {
        return Err(NnError::IdxCountMismatch {
            images: shape[0],
            labels: label_shape[0],
        });
    }
    let labels = label_bytes
        .iter()
        .enumerate()
        .map(|(index, &label)| {
            if (label as usize) < classes {
                Ok(label as usize)
            } else {
                Err(NnError::IdxLabel {
                    index,
                    label,
                    classes,
                })
            }
        })
        .collect::<Result<Vec<usize>>>()?;
    let (rows, cols) = (shape[1], shape[2]);
    let images = pixels
        .chunks_exact(rows * cols)
        .map(|image| image.iter().map(|&p| f64::from(p) / 255.0).collect())
        .collect();
    Ok(LabelledImages {
        rows,
        cols,
        images,
        labels,
    })
}

/// Reads one IDX file: its header first, checked (with the length it implies) against the
/// file's size, then the rest.
fn read_idx_file(path: &Path, what: &'static str, dims: u8, max_items: usize) -> Result<Vec<u8>> {
    let io = |e: std::io::Error| NnError::DataFileIo {
        path: path.display().to_string(),
        kind: e.kind(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    let mut header = Vec::with_capacity(idx_header_len(dims));
    (&file)
        .take(idx_header_len(dims) as u64)
        .read_to_end(&mut header)
        .map_err(io)?;
    let (_, len) = idx_header(what, &header, dims, max_items)?;
    if size != len {
        return Err(NnError::IdxLength {
            what,
            expected: len,
            actual: size,
        });
    }
    // `len` is bounded by the limits checked in `idx_header`; one more byte is read so that
    // a file that grew since `metadata` is caught below.
    let mut bytes = header;
    bytes.reserve_exact(len as usize - bytes.len());
    (&file)
        .take(len + 1 - bytes.len() as u64)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 != len {
        return Err(NnError::IdxLength {
            what,
            expected: len,
            actual: bytes.len() as u64,
        });
    }
    Ok(bytes)
}

/// Reads a pair of uncompressed IDX files (images, labels); see [`parse_idx`].
pub fn read_idx(
    images: &Path,
    labels: &Path,
    classes: usize,
    max_items: usize,
) -> Result<LabelledImages> {
    let image_bytes = read_idx_file(images, "images", IDX_IMAGE_DIMS, max_items)?;
    let label_bytes = read_idx_file(labels, "labels", IDX_LABEL_DIMS, max_items)?;
    parse_idx(&image_bytes, &label_bytes, classes, max_items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects() {
        assert_eq!(
            parse_inputs("0.5, 1\n\n-2,3e-1\n", 2),
            Ok(vec![vec![0.5, 1.0], vec![-2.0, 0.3]])
        );
        assert_eq!(
            parse_inputs("1,2,3", 2),
            Err(NnError::InputLengthMismatch {
                expected: 2,
                actual: 3
            })
        );
        assert_eq!(
            parse_inputs("1,x", 2),
            Err(NnError::InvalidDataField { line: 1, field: 1 })
        );
        assert_eq!(
            parse_inputs("1,NaN", 2),
            Err(NnError::InvalidDataField { line: 1, field: 1 })
        );
        assert_eq!(
            parse_labelled("3,0.25,0.5\n9,1,0", 2, 10),
            Ok(vec![(3, vec![0.25, 0.5]), (9, vec![1.0, 0.0])])
        );
        assert_eq!(
            parse_labelled("10,0.25,0.5", 2, 10),
            Err(NnError::InvalidDataField { line: 1, field: 0 })
        );
        assert_eq!(
            parse_labelled("1,0.25,x", 2, 10),
            Err(NnError::InvalidDataField { line: 1, field: 2 })
        );
    }

    fn idx(dims: &[u32], body: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, IDX_UBYTE, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(body);
        v
    }

    /// Two 2x3 images and their labels.
    fn sample() -> (Vec<u8>, Vec<u8>) {
        (
            idx(&[2, 2, 3], &[0, 255, 51, 102, 153, 204, 1, 2, 3, 4, 5, 6]),
            idx(&[2], &[9, 0]),
        )
    }

    #[test]
    fn parses_idx() {
        let (images, labels) = sample();
        let got = parse_idx(&images, &labels, 10, 100).expect("valid files");
        assert_eq!((got.rows, got.cols), (2, 3));
        assert_eq!(got.labels, vec![9, 0]);
        assert_eq!(got.images[0], vec![0.0, 1.0, 0.2, 0.4, 0.6, 0.8]);
        assert_eq!(got.images[1][5], 6.0 / 255.0);
        let pairs = got.clone().into_labelled();
        assert_eq!(pairs[1], (0, got.images[1].clone()));
        // No items is a valid (empty) data set.
        let empty = parse_idx(&idx(&[0, 28, 28], &[]), &idx(&[0], &[]), 10, 100).expect("empty");
        assert!(empty.images.is_empty() && empty.labels.is_empty());
    }

    #[test]
    fn rejects_malformed_idx_headers() {
        let (images, labels) = sample();
        let mut bad = images.clone();
        bad[2] = 0x0D; // float type code
        assert_eq!(
            parse_idx(&bad, &labels, 10, 100),
            Err(NnError::IdxMagic {
                what: "images",
                magic: [0, 0, 0x0D, 3]
            })
        );
        bad = labels.clone();
        bad[0] = 1;
        assert_eq!(
            parse_idx(&images, &bad, 10, 100),
            Err(NnError::IdxMagic {
                what: "labels",
                magic: [1, 0, 8, 1]
            })
        );
        // Images and labels swapped: dimension counts are wrong.
        assert_eq!(
            parse_idx(&labels, &images, 10, 100),
            Err(NnError::IdxDimensions {
                what: "images",
                expected: 3,
                actual: 1
            })
        );
        assert_eq!(
            parse_idx(&images, &idx(&[2, 1, 1], &[0, 0]), 10, 100),
            Err(NnError::IdxDimensions {
                what: "labels",
                expected: 1,
                actual: 3
            })
        );
        // Shorter than the header (also: shorter than the magic).
        for len in [0, 2, 4, 15] {
            assert_eq!(
                parse_idx(&images[..len], &labels, 10, 100),
                Err(NnError::IdxLength {
                    what: "images",
                    expected: 16,
                    actual: len as u64
                }),
                "{len} bytes"
            );
        }
        assert_eq!(
            parse_idx(&images, &idx(&[0, 0, 0, 0], &[]), 10, 100),
            Err(NnError::IdxDimensions {
                what: "labels",
                expected: 1,
                actual: 4
            })
        );
        assert_eq!(
            parse_idx(&idx(&[1, 0, 3], &[]), &idx(&[1], &[0]), 10, 100),
            Err(NnError::IdxImageSize { rows: 0, cols: 3 })
        );
    }

    #[test]
    fn rejects_idx_sizes_before_allocating() {
        let (images, labels) = sample();
        // A header promising more than the limits: refused from the header alone.
        assert_eq!(
            parse_idx(&idx(&[u32::MAX, 28, 28], &[]), &labels, 10, usize::MAX),
            Err(NnError::LimitExceeded {
                what: "IDX items",
                value: u32::MAX as u64,
                limit: MAX_IDX_ITEMS as u64
            })
        );
        assert_eq!(
            parse_idx(&images, &labels, 10, 1),
            Err(NnError::LimitExceeded {
                what: "IDX items",
                value: 2,
                limit: 1
            })
        );
        assert_eq!(
            parse_idx(&idx(&[1, 1 << 16, 2], &[]), &labels, 10, 100),
            Err(NnError::LimitExceeded {
                what: "IDX image pixels",
                value: 1 << 17,
                limit: MAX_IDX_IMAGE_PIXELS as u64
            })
        );
        assert_eq!(
            parse_idx(
                &idx(&[1 << 20, 256, 256], &[]),
                &labels,
                usize::MAX,
                usize::MAX
            ),
            Err(NnError::LimitExceeded {
                what: "IDX pixels",
                value: 1 << 36,
                limit: MAX_IDX_PIXELS as u64
            })
        );
        // Within the limits, but the body does not match the header.
        assert_eq!(
            parse_idx(&images[..images.len() - 1], &labels, 10, 100),
            Err(NnError::IdxLength {
                what: "images",
                expected: 28,
                actual: 27
            })
        );
        let mut long = labels.clone();
        long.push(0);
        assert_eq!(
            parse_idx(&images, &long, 10, 100),
            Err(NnError::IdxLength {
                what: "labels",
                expected: 10,
                actual: 11
            })
        );
        assert_eq!(
            parse_idx(&images, &idx(&[3], &[0, 1, 2]), 10, 100),
            Err(NnError::IdxCountMismatch {
                images: 2,
                labels: 3
            })
        );
        assert_eq!(
            parse_idx(&images, &labels, 9, 100),
            Err(NnError::IdxLabel {
                index: 0,
                label: 9,
                classes: 9
            })
        );
    }

    /// A file in the temporary directory, removed on drop.
    struct TempFile(std::path::PathBuf);

    impl TempFile {
        fn new(name: &str, bytes: &[u8]) -> Self {
            let path = std::env::temp_dir()
                .join(format!("circa-nn-dataset-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).expect("write temporary file");
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn reads_idx_files() {
        let (images, labels) = sample();
        let img = TempFile::new("images.idx3", &images);
        let lab = TempFile::new("labels.idx1", &labels);
        assert_eq!(
            read_idx(&img.0, &lab.0, 10, 100),
            parse_idx(&images, &labels, 10, 100)
        );
        // The header promises 60,000 28x28 images (within the limits); the file holds 16
        // bytes: refused by the file's size before the body is read.
        let lying = TempFile::new("lying.idx3", &idx(&[60_000, 28, 28], &[]));
        assert_eq!(
            read_idx(&lying.0, &lab.0, 10, usize::MAX),
            Err(NnError::IdxLength {
                what: "images",
                expected: 16 + 784 * 60_000,
                actual: 16
            })
        );
        let short = TempFile::new("short.idx1", &labels[..5]);
        assert_eq!(
            read_idx(&img.0, &short.0, 10, 100),
            Err(NnError::IdxLength {
                what: "labels",
                expected: 8,
                actual: 5
            })
        );
        let missing = std::env::temp_dir().join("circa-nn-dataset-no-such-file.idx3");
        assert_eq!(
            read_idx(&missing, &lab.0, 10, 100),
            Err(NnError::DataFileIo {
                path: missing.display().to_string(),
                kind: std::io::ErrorKind::NotFound
            })
        );
    }
}
