//! Reading files of untrusted size: a regular file is refused by its size before it is read;
//! directories and devices (`/dev/zero` would never end) are refused at once; anything else
//! (a pipe) is read up to one byte past the limit and refused if it has more. Never an
//! unbounded read.

use std::io::Read as _;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{NnError, Result};

/// The bytes of the file at `path`, at most `max` of them (`what` names the limit in the
/// error). The buffer is wiped when dropped (model files hold weights, input files inputs).
pub fn read_bounded(path: &Path, max: usize, what: &'static str) -> Result<Zeroizing<Vec<u8>>> {
    let io = |e: std::io::Error| NnError::io(path, &e);
    let too_large = |size: String| NnError::FileTooLarge {
        path: path.display().to_string(),
        what,
        size,
        limit: max as u64,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if let Some(kind) = not_a_file(meta.file_type()) {
        return Err(NnError::NotAFile {
            path: path.display().to_string(),
            kind,
        });
    }
    let hint = if meta.is_file() {
        if meta.len() > max as u64 {
            return Err(too_large(format!("{} bytes", meta.len())));
        }
        meta.len() as usize
    } else {
        0
    };
    let cap = (max as u64).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(hint));
    file.take(cap).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() > max {
        return Err(too_large("more than the limit".to_owned()));
    }
    Ok(bytes)
}

/// What a path that is not a file to read is (a directory, a device), if it is one.
fn not_a_file(file_type: std::fs::FileType) -> Option<&'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_within_the_limit_and_refuses_beyond_it() {
        let path = std::env::temp_dir().join(format!("circa-files-{}-ten", std::process::id()));
        std::fs::write(&path, [7u8; 10]).unwrap();
        assert_eq!(&read_bounded(&path, 10, "test").unwrap()[..], &[7u8; 10]);
        assert!(matches!(
            read_bounded(&path, 9, "test"),
            Err(NnError::FileTooLarge { limit: 9, .. })
        ));
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn refuses_devices_and_directories_at_once() {
        #[cfg(unix)]
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 1 << 30, "test"),
            Err(NnError::NotAFile {
                kind: "character device",
                ..
            })
        ));
        assert!(matches!(
            read_bounded(&std::env::temp_dir(), 1 << 30, "test"),
            Err(NnError::NotAFile {
                kind: "directory",
                ..
            })
        ));
        assert!(matches!(
            read_bounded(Path::new("/nonexistent/circa"), 10, "test"),
            Err(NnError::Io { .. })
        ));
    }
}
