//! Input and label files of `circa infer` and `circa demo`: read with a bound, parsed by
//! `circa_nn::dataset` (CSV by default, a NumPy array for `.npy`), checked for format and
//! finiteness before any connection, and for the model's input length once it is known.

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
}

fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

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
    let data = if is_npy(path) {
        if csv.header || csv.label_column.is_some() {
            return Err(CliError::InvalidOption {
                option: "--header/--label-column",
                reason: "apply to CSV files only",
            });
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
            DataFile::Npy(_) => None,
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
            npy => Ok(npy),
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
        }
    }

    /// Labels read from a label column.
    pub fn labels(&self) -> Option<&[usize]> {
        match self {
            DataFile::Csv { table, .. } => table.labels.as_deref(),
            DataFile::Npy(_) => None,
        }
    }
}

/// Reads labels: a `.npy` array, or one integer per line.
pub fn read_labels(path: &Path) -> Result<Vec<usize>, CliError> {
    let bytes = read(path)?;
    let labels = if is_npy(path) {
        dataset::parse_npy(&bytes, dataset::MAX_DATA_VALUES).and_then(|a| a.labels())
    } else {
        dataset::parse_labels(&text(path, &bytes)?)
    };
    labels.map_err(|e| model_err(path, e))
}

/// Reads `data_path` as inputs of `arch` with labels from `labels_path`, or from the data (a
/// CSV row one value wider than the input starts with its label, as in the bundled data,
/// unless the labels are given otherwise); labels are checked against the model's outputs.
pub fn load_labelled(
    data_path: &Path,
    labels_path: Option<&Path>,
    options: &CsvOptions,
    arch: &circa_nn::Architecture,
) -> Result<(Vec<Vec<f64>>, Option<Vec<usize>>), CliError> {
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
