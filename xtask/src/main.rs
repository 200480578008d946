//! Project automation: `cargo xtask ci | tidy | bench`.
fn main() -> anyhow::Result<()> {
    Ok(())
}
