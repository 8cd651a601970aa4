//! Helpers shared by the integration tests.
#![allow(dead_code)]

use circa_gc::{Circuit, read_bristol_file};

/// Loads `shared/circuits/<name>`. A missing file fails the test (the known-answer tests must not
/// pass vacuously) unless `CIRCA_GC_ALLOW_MISSING_CIRCUITS` is set, in which case this prints a note
/// and returns `None`.
pub fn shared_circuit(name: &str) -> Option<Circuit> {
    let path = format!(
        "{}/../../shared/circuits/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    if !std::path::Path::new(&path).exists() {
        assert!(
            std::env::var_os("CIRCA_GC_ALLOW_MISSING_CIRCUITS").is_some(),
            "{path} not found (set CIRCA_GC_ALLOW_MISSING_CIRCUITS=1 to skip the tests that need it)"
        );
        eprintln!("note: {path} not found; skipping");
        return None;
    }
    Some(read_bristol_file(&path).expect("shared circuit parses"))
}

pub const AES_KEY: &str = "000102030405060708090a0b0c0d0e0f";
pub const AES_PT: &str = "00112233445566778899aabbccddeeff";
pub const AES_CT: &str = "69c4e0d86a7b0430d8cdb78070b4c55a";

/// SHA-256 initial chaining value, as one big-endian hex integer (H0 first).
pub const SHA256_IV: &str = "6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19";
