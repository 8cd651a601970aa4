//! Cost model (filled in below).
