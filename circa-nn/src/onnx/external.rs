//! Tensor data stored in side files (`data_location = EXTERNAL`), as PyTorch's default
//! exporter writes it (`MODEL.onnx.data` next to `MODEL.onnx`).
//!
//! A tensor's `external_data` entries name a `location` (a path relative to the model file's
//! folder), an optional `offset` and an optional `length` in bytes (`checksum` is accepted and
//! not verified). The location must be relative, without `..`, and must resolve (after
//! following symbolic links) to a regular file inside the model's folder; the byte range must
//! lie in the file and hold exactly the bytes the tensor's dims and type need, which the caller
//! has checked against its limits before anything is read.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Component, Path, PathBuf};

use zeroize::Zeroizing;

use super::proto::TensorProto;
use crate::error::{NnError, Result};

/// The folder external data is read from: the model file's folder, canonicalised.
#[derive(Debug, Clone)]
pub struct ExternalDir {
    dir: PathBuf,
}

/// Where one tensor's bytes are, as its entries say.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entries<'t> {
    location: &'t str,
    offset: u64,
    length: Option<u64>,
}

impl ExternalDir {
    /// The folder of the model file at `model`.
    pub fn for_model(model: &Path) -> Result<Self> {
        let parent = match model.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let dir = parent.canonicalize().map_err(|e| NnError::io(parent, &e))?;
        Ok(Self { dir })
    }

    /// Reads the `expected` bytes of `tensor`'s external data.
    pub fn read(&self, tensor: &TensorProto, expected: usize) -> Result<Zeroizing<Vec<u8>>> {
        let entries = entries(tensor)?;
        let path = self.resolve(tensor, entries.location)?;
        let io = |e: std::io::Error| NnError::io(&path, &e);
        let mut file = std::fs::File::open(&path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(path_err(tensor, entries.location, "not a regular file"));
        }
        let file_len = meta.len();
        let length = entries
            .length
            .unwrap_or_else(|| file_len.saturating_sub(entries.offset));
        let fits = entries
            .offset
            .checked_add(length)
            .is_some_and(|end| end <= file_len);
        if !fits || length != expected as u64 {
            return Err(NnError::ExternalDataRange {
                tensor: tensor.name.clone(),
                offset: entries.offset,
                length,
                file_len,
                expected: expected as u64,
            });
        }
        file.seek(SeekFrom::Start(entries.offset)).map_err(io)?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(expected));
        file.take(length).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() != expected {
            // The file shrank after its size was read.
            return Err(NnError::ExternalDataRange {
                tensor: tensor.name.clone(),
                offset: entries.offset,
                length: bytes.len() as u64,
                file_len,
                expected: expected as u64,
            });
        }
        Ok(bytes)
    }

    /// The canonical path of `location`, if it is a relative path that stays in the folder.
    fn resolve(&self, tensor: &TensorProto, location: &str) -> Result<PathBuf> {
        let rel = Path::new(location);
        if location.is_empty() {
            return Err(path_err(tensor, location, "empty"));
        }
        for c in rel.components() {
            match c {
                Component::Normal(_) | Component::CurDir => {}
                Component::ParentDir => {
                    return Err(path_err(tensor, location, "it contains \"..\""));
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(path_err(tensor, location, "it is an absolute path"));
                }
            }
        }
        let joined = self.dir.join(rel);
        let canonical = joined
            .canonicalize()
            .map_err(|e| NnError::io(&joined, &e))?;
        if !canonical.starts_with(&self.dir) {
            return Err(path_err(
                tensor,
                location,
                "it resolves (through a symbolic link) outside the model's folder",
            ));
        }
        Ok(canonical)
    }
}

fn path_err(tensor: &TensorProto, location: &str, reason: &'static str) -> NnError {
    NnError::ExternalDataPath {
        tensor: tensor.name.clone(),
        location: location.to_owned(),
        reason,
    }
}

fn entry_err(tensor: &TensorProto, key: &str, problem: &'static str) -> NnError {
    NnError::ExternalDataEntry {
        tensor: tensor.name.clone(),
        key: key.to_owned(),
        problem,
    }
}

fn entries(tensor: &TensorProto) -> Result<Entries<'_>> {
    let mut location = None;
    let mut offset = None;
    let mut length = None;
    for e in &tensor.external_data {
        let slot = match e.key.as_str() {
            "location" => {
                if location.replace(e.value.as_str()).is_some() {
                    return Err(entry_err(tensor, &e.key, "repeated"));
                }
                continue;
            }
            "offset" => &mut offset,
            "length" => &mut length,
            "checksum" => continue,
            _ => return Err(entry_err(tensor, &e.key, "unknown")),
        };
        let n: u64 = e
            .value
            .parse()
            .map_err(|_| entry_err(tensor, &e.key, "not a byte count"))?;
        if slot.replace(n).is_some() {
            return Err(entry_err(tensor, &e.key, "repeated"));
        }
    }
    Ok(Entries {
        location: location.ok_or_else(|| entry_err(tensor, "location", "missing"))?,
        offset: offset.unwrap_or(0),
        length,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::proto::StringStringEntryProto;

    fn tensor(entries: &[(&str, &str)]) -> TensorProto {
        TensorProto {
            name: "w".into(),
            data_location: 1,
            external_data: entries
                .iter()
                .map(|(k, v)| StringStringEntryProto {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("circa-nn-external-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("model")).expect("scratch dir");
        dir
    }

    #[test]
    fn reads_a_range_and_refuses_escapes() {
        let root = scratch("range");
        std::fs::write(root.join("model/w.data"), [0u8, 1, 2, 3, 4, 5, 6, 7]).unwrap();
        std::fs::write(root.join("secret"), [9u8; 8]).unwrap();
        let ext = ExternalDir::for_model(&root.join("model/m.onnx")).expect("dir");
        let t = tensor(&[("location", "w.data"), ("offset", "2"), ("length", "4")]);
        assert_eq!(ext.read(&t, 4).expect("reads").as_slice(), &[2, 3, 4, 5]);
        // Without a length: from the offset to the end of the file.
        let t = tensor(&[("location", "./w.data"), ("offset", "4")]);
        assert_eq!(ext.read(&t, 4).expect("reads").as_slice(), &[4, 5, 6, 7]);
        // Wrong length for the dims, or past the end.
        let t = tensor(&[("location", "w.data"), ("offset", "6"), ("length", "4")]);
        assert!(matches!(
            ext.read(&t, 4),
            Err(NnError::ExternalDataRange { file_len: 8, .. })
        ));
        let t = tensor(&[("location", "w.data"), ("length", "8")]);
        assert!(matches!(
            ext.read(&t, 4),
            Err(NnError::ExternalDataRange { .. })
        ));
        let t = tensor(&[("location", "w.data"), ("offset", "18446744073709551615")]);
        assert!(matches!(
            ext.read(&t, 4),
            Err(NnError::ExternalDataRange { .. })
        ));
        for (location, reason) in [
            ("../secret", "it contains \"..\""),
            ("sub/../../secret", "it contains \"..\""),
            ("/etc/passwd", "it is an absolute path"),
            ("", "empty"),
        ] {
            let t = tensor(&[("location", location)]);
            match ext.read(&t, 4) {
                Err(NnError::ExternalDataPath { reason: r, .. }) => assert_eq!(r, reason),
                other => panic!("{location:?}: {other:?}"),
            }
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root.join("secret"), root.join("model/link")).unwrap();
            let t = tensor(&[("location", "link")]);
            assert!(matches!(
                ext.read(&t, 8),
                Err(NnError::ExternalDataPath { .. })
            ));
            std::fs::create_dir(root.join("model/dir")).unwrap();
            let t = tensor(&[("location", "dir")]);
            assert!(matches!(
                ext.read(&t, 8),
                Err(NnError::ExternalDataPath {
                    reason: "not a regular file",
                    ..
                })
            ));
        }
        let t = tensor(&[("location", "missing.data")]);
        assert!(matches!(ext.read(&t, 4), Err(NnError::Io { .. })));
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn entries_are_checked() {
        for (entries, key, problem) in [
            (vec![("offset", "0")], "location", "missing"),
            (
                vec![("location", "a"), ("location", "b")],
                "location",
                "repeated",
            ),
            (
                vec![("location", "a"), ("offset", "x")],
                "offset",
                "not a byte count",
            ),
            (
                vec![("location", "a"), ("length", "-1")],
                "length",
                "not a byte count",
            ),
            (
                vec![("location", "a"), ("length", "1"), ("length", "1")],
                "length",
                "repeated",
            ),
            (
                vec![("location", "a"), ("basepath", "/")],
                "basepath",
                "unknown",
            ),
        ] {
            match entries_of(&entries) {
                Err(NnError::ExternalDataEntry {
                    key: k, problem: p, ..
                }) => assert_eq!((k.as_str(), p), (key, problem), "{entries:?}"),
                other => panic!("{entries:?}: {other:?}"),
            }
        }
        let t = tensor(&[("location", "a"), ("checksum", "00")]);
        assert_eq!(
            entries(&t),
            Ok(Entries {
                location: "a",
                offset: 0,
                length: None
            })
        );
    }

    fn entries_of(e: &[(&str, &str)]) -> Result<()> {
        entries(&tensor(e)).map(|_| ())
    }
}
