//! Analytic fault model (placeholder, being written).
