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

/// Parses an IDX image file (the bytes of the whole file; at most `max_items` images, and
/// [`MAX_IDX_ITEMS`]): its image height and width, and the images as values in `[0, 1]`
/// (pixel / 255), row-major.
pub fn parse_idx_images(images: &[u8], max_items: usize) -> Result<(usize, usize, Vec<Vec<f64>>)> {
    let (shape, pixels) = idx_body("images", images, IDX_IMAGE_DIMS, max_items)?;
    let (rows, cols) = (shape[1], shape[2]);
    let images = pixels
        .chunks_exact(rows * cols)
        .map(|image| image.iter().map(|&p| f64::from(p) / 255.0).collect())
        .collect();
    Ok((rows, cols, images))
}

/// Parses an IDX label file (the bytes of the whole file): at most `max_items` labels (and
/// [`MAX_IDX_ITEMS`]), each below `classes`.
pub fn parse_idx_labels(labels: &[u8], classes: usize, max_items: usize) -> Result<Vec<usize>> {
    let (_, label_bytes) = idx_body("labels", labels, IDX_LABEL_DIMS, max_items)?;
    label_bytes
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
        .collect()
}

/// Parses IDX images and labels (the bytes of whole files): at most `max_items` items (and
/// [`MAX_IDX_ITEMS`]), labels below `classes`, as many labels as images.
pub fn parse_idx(
    images: &[u8],
    labels: &[u8],
    classes: usize,
    max_items: usize,
) -> Result<LabelledImages> {
    let (rows, cols, images) = parse_idx_images(images, max_items)?;
    let labels = parse_idx_labels(labels, classes, max_items)?;
    if images.len() != labels.len() {
        return Err(NnError::IdxCountMismatch {
            images: images.len(),
            labels: labels.len(),
        });
    }
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

// ----- CSV with a header and a label column; labels; `.npy` arrays -----

/// Largest data file read (CSV or `.npy`).
pub const MAX_DATA_FILE_BYTES: usize = 1 << 30;
/// Largest number of values in one data file.
pub const MAX_DATA_VALUES: usize = 1 << 28;

/// How to read a CSV file of inputs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CsvOptions {
    /// The first non-empty line is a header (skipped).
    pub header: bool,
    /// This 0-based column holds the label (a non-negative integer), not an input value.
    pub label_column: Option<usize>,
}

/// Rows read from a data file, all of one width, and their labels if the file has them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// One input per row.
    pub rows: Vec<Vec<f64>>,
    /// One label per row, if a label column was read.
    pub labels: Option<Vec<usize>>,
}

impl Table {
    /// Fails unless every row has `len` values (the network's input length).
    pub fn check_width(&self, len: usize) -> Result<()> {
        match self.rows.first() {
            Some(r) if r.len() != len => Err(NnError::InputLengthMismatch {
                expected: len,
                actual: r.len(),
            }),
            _ => Ok(()),
        }
    }
}

/// Parses comma-separated rows (see [`CsvOptions`]): every value finite, every row as wide as
/// the first.
pub fn parse_csv(text: &str, options: &CsvOptions) -> Result<Table> {
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut labels = options.label_column.map(|_| Vec::new());
    let mut values = 0usize;
    for (i, (line_no, line)) in lines(text).enumerate() {
        if options.header && i == 0 {
            continue;
        }
        check_line_limit(rows.len())?;
        let width = rows.first().map(|r| r.len());
        let mut row = Vec::with_capacity(width.unwrap_or(0));
        for (field, text) in line.split(',').enumerate() {
            let bad = NnError::InvalidDataField {
                line: line_no,
                field,
            };
            if Some(field) == options.label_column {
                let label = text.trim().parse::<usize>().map_err(|_| bad)?;
                if let Some(l) = labels.as_mut() {
                    l.push(label);
                }
                continue;
            }
            let v: f64 = text
                .trim()
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .ok_or(bad)?;
            row.push(v);
        }
        if let (Some(col), Some(l)) = (options.label_column, labels.as_ref())
            && l.len() != rows.len() + 1
        {
            return Err(NnError::InvalidDataField {
                line: line_no,
                field: col,
            });
        }
        if let Some(w) = width
            && row.len() != w
        {
            return Err(NnError::RaggedData {
                line: line_no,
                expected: w,
                actual: row.len(),
            });
        }
        values = values.saturating_add(row.len());
        if values > MAX_DATA_VALUES {
            return Err(NnError::LimitExceeded {
                what: "data values",
                value: values as u64,
                limit: MAX_DATA_VALUES as u64,
            });
        }
        rows.push(row);
    }
    Ok(Table { rows, labels })
}

/// Parses labels, one non-negative integer per non-empty line.
pub fn parse_labels(text: &str) -> Result<Vec<usize>> {
    let mut out = Vec::new();
    for (line_no, line) in lines(text) {
        check_line_limit(out.len())?;
        out.push(
            line.parse::<usize>()
                .map_err(|_| NnError::InvalidDataField {
                    line: line_no,
                    field: 0,
                })?,
        );
    }
    Ok(out)
}

/// A NumPy array read from a `.npy` file (as `f64`, C order).
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// The array's shape.
    pub shape: Vec<usize>,
    /// Its values, row-major.
    pub values: Vec<f64>,
}

/// Largest `.npy` header accepted.
const MAX_NPY_HEADER: usize = 1 << 16;

fn npy_err(reason: &'static str) -> NnError {
    NnError::InvalidNpy { reason }
}

/// Parses a `.npy` file (format versions 1 to 3): dtype float32, float64, int32 or int64
/// (either byte order), C order, at most `max_values` values, all finite.
pub fn parse_npy(bytes: &[u8], max_values: usize) -> Result<NpyArray> {
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or(npy_err("bad magic"))?;
    let (&major, rest) = rest.split_first().ok_or(npy_err("truncated header"))?;
    let (_minor, rest) = rest.split_first().ok_or(npy_err("truncated header"))?;
    let (len, rest) = match major {
        1 if rest.len() >= 2 => (
            usize::from(u16::from_le_bytes([rest[0], rest[1]])),
            &rest[2..],
        ),
        2 | 3 if rest.len() >= 4 => (
            u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize,
            &rest[4..],
        ),
        1..=3 => return Err(npy_err("truncated header")),
        _ => return Err(npy_err("unsupported format version")),
    };
    if len > MAX_NPY_HEADER || len > rest.len() {
        return Err(npy_err("header length out of range"));
    }
    let (header, data) = rest.split_at(len);
    let header = std::str::from_utf8(header).map_err(|_| npy_err("header is not text"))?;
    let descr = npy_value(header, "descr").ok_or(npy_err("no descr in the header"))?;
    let (size, little, kind) = match descr.trim_matches(|c| c == '\'' || c == '"') {
        "<f4" | "=f4" => (4, true, 'f'),
        ">f4" => (4, false, 'f'),
        "<f8" | "=f8" => (8, true, 'f'),
        ">f8" => (8, false, 'f'),
        "<i4" | "=i4" => (4, true, 'i'),
        ">i4" => (4, false, 'i'),
        "<i8" | "=i8" => (8, true, 'i'),
        ">i8" => (8, false, 'i'),
        _ => return Err(npy_err("dtype is not float32, float64, int32 or int64")),
    };
    match npy_value(header, "fortran_order") {
        Some("False") => {}
        Some("True") => return Err(npy_err("fortran_order arrays are not supported")),
        _ => return Err(npy_err("no fortran_order in the header")),
    }
    let shape_text = npy_value(header, "shape").ok_or(npy_err("no shape in the header"))?;
    let inner = shape_text
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or(npy_err("shape is not a tuple"))?;
    let mut shape = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        shape.push(
            part.parse::<usize>()
                .map_err(|_| npy_err("shape entry is not a size"))?,
        );
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= max_values)
        .ok_or(npy_err("too many values"))?;
    if Some(data.len()) != count.checked_mul(size) {
        return Err(npy_err("data length does not match the shape"));
    }
    let mut values = Vec::with_capacity(count);
    for c in data.chunks_exact(size) {
        let mut b = [0u8; 8];
        b[..size].copy_from_slice(c);
        if !little {
            b[..size].reverse();
        }
        let v = match (kind, size) {
            ('f', 4) => f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ('f', _) => f64::from_le_bytes(b),
            (_, 4) => f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            _ => i64::from_le_bytes(b) as f64,
        };
        if !v.is_finite() {
            return Err(npy_err("a value is not finite"));
        }
        values.push(v);
    }
    Ok(NpyArray { shape, values })
}

/// The text after `'key':` in a `.npy` header dict, up to the next top-level comma.
fn npy_value<'h>(header: &'h str, key: &str) -> Option<&'h str> {
    let start = header
        .find(&format!("'{key}'"))
        .or_else(|| header.find(&format!("\"{key}\"")))?;
    let rest = header[start + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?;
    let rest = rest.trim_start();
    let end = if rest.starts_with('(') {
        rest.find(')')? + 1
    } else {
        rest.find([',', '}']).unwrap_or(rest.len())
    };
    Some(rest[..end].trim())
}

impl NpyArray {
    /// The array as inputs of `len` values: `N x ...` (the trailing axes hold `len` values)
    /// gives `N` inputs, an array of exactly `len` values one.
    pub fn rows(&self, len: usize) -> Result<Vec<Vec<f64>>> {
        let trailing: usize = self.shape.iter().skip(1).product();
        let n = if !self.shape.is_empty() && trailing == len {
            self.shape[0]
        } else if self.values.len() == len {
            1
        } else {
            return Err(NnError::InputLengthMismatch {
                expected: len,
                actual: if self.shape.is_empty() {
                    self.values.len()
                } else {
                    trailing
                },
            });
        };
        if n == 0 || len == 0 {
            return Ok(Vec::new());
        }
        check_line_limit(n - 1)?;
        Ok(self.values.chunks_exact(len).map(<[f64]>::to_vec).collect())
    }

    /// The array as labels (non-negative integers).
    pub fn labels(&self) -> Result<Vec<usize>> {
        self.values
            .iter()
            .map(|&v| {
                (v >= 0.0 && v.fract() == 0.0 && v < 1e15)
                    .then_some(v as usize)
                    .ok_or(npy_err("a label is not a non-negative integer"))
            })
            .collect()
    }
}

#[cfg(test)]
mod table_tests {
    use super::*;

    fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        npy_ordered(descr, "False", shape, data)
    }

    fn npy_ordered(descr: &str, fortran: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let mut header =
            format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    #[test]
    fn csv_with_header_and_labels() {
        let opts = CsvOptions {
            header: true,
            label_column: Some(2),
        };
        let t = parse_csv("a,b,label\n0.5,1,3\n\n-2,3e-1,0\n", &opts).expect("parses");
        assert_eq!(t.rows, vec![vec![0.5, 1.0], vec![-2.0, 0.3]]);
        assert_eq!(t.labels, Some(vec![3, 0]));
        assert_eq!(t.check_width(2), Ok(()));
        assert!(matches!(
            t.check_width(3),
            Err(NnError::InputLengthMismatch {
                expected: 3,
                actual: 2
            })
        ));
        // A header without --header is a bad field; a short row is ragged; a bad label.
        assert_eq!(
            parse_csv("a,b\n1,2", &CsvOptions::default()),
            Err(NnError::InvalidDataField { line: 1, field: 0 })
        );
        assert_eq!(
            parse_csv("1,2\n3", &CsvOptions::default()),
            Err(NnError::RaggedData {
                line: 2,
                expected: 2,
                actual: 1
            })
        );
        assert_eq!(
            parse_csv("1,x", &opts_label(1)),
            Err(NnError::InvalidDataField { line: 1, field: 1 })
        );
        // The label column missing from a row.
        assert_eq!(
            parse_csv("1", &opts_label(1)),
            Err(NnError::InvalidDataField { line: 1, field: 1 })
        );
        assert_eq!(parse_labels("1\n2\n\n3\n"), Ok(vec![1, 2, 3]));
        assert!(parse_labels("1\n-2\n").is_err());
    }

    fn opts_label(c: usize) -> CsvOptions {
        CsvOptions {
            header: false,
            label_column: Some(c),
        }
    }

    #[test]
    fn npy_files() {
        let data: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let a = parse_npy(&npy("<f4", "(2, 3)", &data), 100).expect("parses");
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(
            a.rows(3),
            Ok(vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]])
        );
        assert_eq!(a.rows(6), Ok(vec![vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]));
        assert!(a.rows(4).is_err());
        let one = parse_npy(&npy("<f8", "(2,)", &[0u8; 16]), 100).expect("parses");
        assert_eq!(one.rows(2), Ok(vec![vec![0.0, 0.0]]));
        let big: Vec<u8> = 7i64.to_be_bytes().to_vec();
        let labels = parse_npy(&npy(">i8", "(1,)", &big), 100).expect("parses");
        assert_eq!(labels.labels(), Ok(vec![7]));
        for (bytes, reason) in [
            (b"NUMPY".to_vec(), "bad magic"),
            (
                npy("<f2", "(1,)", &[0, 0]),
                "dtype is not float32, float64, int32 or int64",
            ),
            (
                npy("<f4", "(2,)", &[0; 4]),
                "data length does not match the shape",
            ),
            (npy("<f4", "(65536, 65536, 65536)", &[]), "too many values"),
            (npy("<f4", "(1, x)", &[0; 4]), "shape entry is not a size"),
            (
                npy("<f4", "(1,)", &f32::NAN.to_le_bytes()),
                "a value is not finite",
            ),
        ] {
            assert_eq!(
                parse_npy(&bytes, 1 << 20),
                Err(NnError::InvalidNpy { reason })
            );
        }
        assert_eq!(
            parse_npy(&npy_ordered("<f4", "True", "(1,)", &[0; 4]), 100),
            Err(NnError::InvalidNpy {
                reason: "fortran_order arrays are not supported"
            })
        );
        let mut huge = b"\x93NUMPY\x02\x00".to_vec();
        huge.extend(u32::MAX.to_le_bytes());
        assert_eq!(
            parse_npy(&huge, 100),
            Err(NnError::InvalidNpy {
                reason: "header length out of range"
            })
        );
    }
}
