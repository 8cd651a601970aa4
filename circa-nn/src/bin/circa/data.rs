//! Input and label files of `circa infer` and `circa demo`: read with a bound, parsed by
//! `circa_nn::dataset` (CSV by default, a NumPy array for `.npy`, IDX images and labels for
//! `.idx3`/`.idx1` or `*-idx3-ubyte`/`*-idx1-ubyte`), checked for format and finiteness before
//! any connection, and for the model's input length once it is known.

use std::path::Path;

use circa_nn::dataset::{self, CsvOptions, NpyArray, Table};

use crate::CliError;

/// A data file, parsed but not yet matched to a model's input length.
#[derive(Debug)]
pub enum DataFile {
    /// A CSV file: its text (to re-read with another label column) and its rows.
    Csv { text: String, table: Table },
    /// A `.npy` array.
    Npy(NpyArray),
    /// IDX images (pixel / 255, row-major).
    Idx(Vec<Vec<f64>>),
}

fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Whether `path` names an IDX file of `dims` dimensions (`.idx3`, `train-images-idx3-ubyte`).
fn is_idx(path: &Path, dims: u8) -> bool {
    let tag = format!("idx{dims}");
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        let n = n.to_ascii_lowercase();
        n.ends_with(&format!(".{tag}")) || n.ends_with(&format!("{tag}-ubyte"))
    })
}

/// Largest number of labels an IDX label file may hold here (every byte value).
const IDX_LABEL_VALUES: usize = 256;

fn model_err(path: &Path, source: circa_nn::NnError) -> CliError {
    CliError::Model {
        path: path.display().to_string(),
        source,
    }
}

fn read(path: &Path) -> Result<zeroize::Zeroizing<Vec<u8>>, CliError> {
    dataset_bytes(path).map_err(|source| model_err(path, source))
}

fn dataset_bytes(path: &Path) -> circa_nn::Result<zeroize::Zeroizing<Vec<u8>>> {
    circa_nn::files::read_bounded(
        path,
        dataset::MAX_DATA_FILE_BYTES,
        "data file size in bytes",
    )
}

fn text(path: &Path, bytes: &[u8]) -> Result<String, CliError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        model_err(
            path,
            circa_nn::NnError::InvalidDataField { line: 0, field: 0 },
        )
    })
}

/// Reads and parses a data file; an empty one is an error.
pub fn read_data(path: &Path, csv: &CsvOptions) -> Result<DataFile, CliError> {
    let bytes = read(path)?;
    let csv_only = || CliError::InvalidOption {
        option: "--header/--label-column",
        reason: "apply to CSV files only",
    };
    let data = if is_idx(path, 3) {
        if csv.header || csv.label_column.is_some() {
            return Err(csv_only());
        }
        let (_, _, images) = dataset::parse_idx_images(&bytes, dataset::MAX_IDX_ITEMS)
            .map_err(|e| model_err(path, e))?;
        DataFile::Idx(images)
    } else if is_npy(path) {
        if csv.header || csv.label_column.is_some() {
            return Err(csv_only());
        }
        DataFile::Npy(
            dataset::parse_npy(&bytes, dataset::MAX_DATA_VALUES).map_err(|e| model_err(path, e))?,
        )
    } else {
        let text = text(path, &bytes)?;
        let table = dataset::parse_csv(&text, csv).map_err(|e| model_err(path, e))?;
        DataFile::Csv { text, table }
    };
    let empty = match &data {
        DataFile::Csv { table, .. } => table.rows.is_empty(),
        DataFile::Npy(a) => a.values.is_empty(),
        DataFile::Idx(images) => images.is_empty(),
    };
    if empty {
        return Err(CliError::EmptyInput {
            path: path.display().to_string(),
        });
    }
    Ok(data)
}

impl DataFile {
    /// Values per CSV row (`None` for `.npy`).
    pub fn csv_width(&self) -> Option<usize> {
        match self {
            DataFile::Csv { table, .. } => table.rows.first().map(Vec::len),
            DataFile::Npy(_) | DataFile::Idx(_) => None,
        }
    }

    /// The same CSV text with `column` read as labels.
    pub fn with_label_column(self, column: usize, header: bool) -> circa_nn::Result<Self> {
        match self {
            DataFile::Csv { text, .. } => {
                let table = dataset::parse_csv(
                    &text,
                    &CsvOptions {
                        header,
                        label_column: Some(column),
                    },
                )?;
                Ok(DataFile::Csv { text, table })
            }
            other => Ok(other),
        }
    }

    /// The inputs, each of `len` values (the model's input length).
    pub fn rows(&self, len: usize) -> circa_nn::Result<Vec<Vec<f64>>> {
        match self {
            DataFile::Csv { table, .. } => {
                table.check_width(len)?;
                Ok(table.rows.clone())
            }
            DataFile::Npy(a) => a.rows(len),
            DataFile::Idx(images) => {
                if let Some(image) = images.iter().find(|i| i.len() != len) {
                    return Err(circa_nn::NnError::InputLengthMismatch {
                        expected: len,
                        actual: image.len(),
                    });
                }
                Ok(images.clone())
            }
        }
    }

    /// Labels read from a label column.
    pub fn labels(&self) -> Option<&[usize]> {
        match self {
            DataFile::Csv { table, .. } => table.labels.as_deref(),
            DataFile::Npy(_) | DataFile::Idx(_) => None,
        }
    }
}

/// Reads labels: a `.npy` array, an IDX label file, or one integer per line.
pub fn read_labels(path: &Path) -> Result<Vec<usize>, CliError> {
    let bytes = read(path)?;
    let labels = if is_idx(path, 1) {
        dataset::parse_idx_labels(&bytes, IDX_LABEL_VALUES, dataset::MAX_IDX_ITEMS)
    } else if is_npy(path) {
        dataset::parse_npy(&bytes, dataset::MAX_DATA_VALUES).and_then(|a| a.labels())
    } else {
        dataset::parse_labels(&text(path, &bytes)?)
    };
    labels.map_err(|e| model_err(path, e))
}

/// Inputs and, if known, their labels.
pub type Labelled = (Vec<Vec<f64>>, Option<Vec<usize>>);

/// Reads `data_path` as inputs of `arch` with labels from `labels_path`, or from the data (a
/// CSV row one value wider than the input starts with its label, as in the bundled data,
/// unless the labels are given otherwise); labels are checked against the model's outputs.
pub fn load_labelled(
    data_path: &Path,
    labels_path: Option<&Path>,
    options: &CsvOptions,
    arch: &circa_nn::Architecture,
) -> Result<Labelled, CliError> {
    let len = arch.input_shape().len();
    let mut file = read_data(data_path, options)?;
    let model_err = |source| CliError::Model {
        path: data_path.display().to_string(),
        source,
    };
    if labels_path.is_none() && options.label_column.is_none() && file.csv_width() == Some(len + 1)
    {
        file = file
            .with_label_column(0, options.header)
            .map_err(model_err)?;
    }
    let rows = file.rows(len).map_err(model_err)?;
    let labels = match labels_path {
        Some(path) => Some(read_labels(path)?),
        None => file.labels().map(<[usize]>::to_vec),
    };
    if let Some(l) = &labels
        && l.len() != rows.len()
    {
        return Err(CliError::InvalidOption {
            option: "--labels",
            reason: "the number of labels differs from the number of inputs",
        });
    }
    let classes = arch.output_shape().len();
    if labels
        .as_ref()
        .is_some_and(|l| l.iter().any(|&c| c >= classes))
    {
        return Err(CliError::InvalidOption {
            option: "--labels",
            reason: "a label is not below the model's number of outputs",
        });
    }
    Ok((rows, labels))
}
