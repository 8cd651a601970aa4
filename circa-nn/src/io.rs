//! Bounded reading of local files (models, inputs, data sets): the size is checked before
//! anything is read, the read itself stops one byte past the limit (a file that grows while
//! it is read, a pipe), and devices are refused (`/dev/zero` would never end).

use std::io::Read as _;
use std::path::Path;

use crate::onnx::DecodeLimits;

/// Largest model file read: the ONNX decoder's own default limit
/// ([`DecodeLimits::max_total_bytes`]), so a model the importer would refuse is not read.
pub fn max_model_bytes() -> u64 {
    DecodeLimits::default().max_total_bytes as u64
}

/// Largest input or data file read (256 MiB).
pub const MAX_DATA_BYTES: u64 = 256 << 20;

/// A file that could not be read, or was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Opening or reading failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than the limit (nothing, or only the limit, was read).
    #[error("{path}: larger than the limit of {limit} bytes ({size})")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size as far as known: the size on disk, or "more than the limit" when it was
        /// read as a stream.
        size: String,
        /// The limit.
        limit: u64,
    },
    /// The path is a directory or a device, not a file to read.
    #[error("{path}: not a regular file (a {kind})")]
    NotAFile {
        /// The file.
        path: String,
        /// What it is.
        kind: &'static str,
    },
    /// A text file is not valid UTF-8.
    #[error("{path}: not UTF-8 text")]
    NotText {
        /// The file.
        path: String,
    },
}

fn kind_of(file_type: std::fs::FileType) -> Option<&'static str> {
    if file_type.is_dir() {
        return Some("directory");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if file_type.is_char_device() {
            return Some("character device");
        }
        if file_type.is_block_device() {
            return Some("block device");
        }
    }
    None
}

/// Reads the whole file at `path` if it holds at most `limit` bytes. Regular files larger than
/// the limit are refused before reading; pipes and other streams are read up to the limit and
/// refused beyond it; directories and devices are refused.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let name = || path.display().to_string();
    let io = |source| ReadError::Io {
        path: name(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if let Some(kind) = kind_of(meta.file_type()) {
        return Err(ReadError::NotAFile { path: name(), kind });
    }
    if meta.is_file() && meta.len() > limit {
        return Err(ReadError::TooLarge {
            path: name(),
            size: format!("{} bytes", meta.len()),
            limit,
        });
    }
    // The capacity is bounded by the limit, whatever the metadata claims.
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            path: name(),
            size: "more than the limit".to_owned(),
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_bounded`] for a UTF-8 text file.
pub fn read_text_bounded(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|_| ReadError::NotText {
        path: path.display().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("circa-io-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn reads_within_the_limit_and_refuses_beyond_it() {
        let path = temp("ten", &[7u8; 10]);
        assert_eq!(read_bounded(&path, 10).unwrap(), vec![7u8; 10]);
        assert!(matches!(
            read_bounded(&path, 9),
            Err(ReadError::TooLarge { limit: 9, .. })
        ));
        let text = temp("text", b"1,2\n");
        assert_eq!(read_text_bounded(&text, 100).unwrap(), "1,2\n");
        let binary = temp("binary", &[0xff, 0xfe]);
        assert!(matches!(
            read_text_bounded(&binary, 100),
            Err(ReadError::NotText { .. })
        ));
        for p in [path, text, binary] {
            std::fs::remove_file(p).unwrap();
        }
    }

    #[test]
    fn refuses_devices_and_directories_at_once() {
        #[cfg(unix)]
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 1 << 30),
            Err(ReadError::NotAFile {
                kind: "character device",
                ..
            })
        ));
        assert!(matches!(
            read_bounded(&std::env::temp_dir(), 1 << 30),
            Err(ReadError::NotAFile {
                kind: "directory",
                ..
            })
        ));
        assert!(matches!(
            read_bounded(Path::new("/nonexistent/circa"), 10),
            Err(ReadError::Io { .. })
        ));
    }
}
