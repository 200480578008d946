//! What every bench target shares: where results go and the shape of a result row, which
//! `cargo xtask bench` merges into one table.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The workspace's target directory: `$CARGO_TARGET_DIR`, else `target/` at the root.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// One row of a bench's `target/bench/<name>.json`.
pub fn row(
    metric: &str,
    value: f64,
    unit: &str,
    baseline: Option<&str>,
    ratio: Option<f64>,
    target: Option<&str>,
    pass: Option<bool>,
) -> Value {
    json!({"metric": metric, "value": value, "unit": unit, "baseline": baseline, "ratio": ratio, "target": target, "pass": pass})
}
