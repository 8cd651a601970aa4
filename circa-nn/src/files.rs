//! Reading files of untrusted size: a regular file is refused by its size before it is read;
//! anything else (a pipe, a device such as `/dev/zero`) is read up to one byte past the limit
//! and refused if it has more. Never an unbounded read.

use std::io::Read as _;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{NnError, Result};

/// The bytes of the file at `path`, at most `max` of them (`what` names the limit in the
/// error). The buffer is wiped when dropped (model files hold weights, input files inputs).
pub fn read_bounded(path: &Path, max: usize, what: &'static str) -> Result<Zeroizing<Vec<u8>>> {
    let io = |e: std::io::Error| NnError::io(path, &e);
    let too_large = |len: u64| NnError::LimitExceeded {
        what,
        value: len,
        limit: max as u64,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let hint = if meta.is_file() {
        if meta.len() > max as u64 {
            return Err(too_large(meta.len()));
        }
        meta.len() as usize
    } else {
        0
    };
    let cap = (max as u64).saturating_add(1);
    let mut bytes = Zeroizing::new(Vec::with_capacity(hint));
    file.take(cap).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}
