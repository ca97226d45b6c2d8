//! `graft inspect`: what a .safetensors file holds.

use super::CliResult;
use graft::nn::model_file::inspect;
use std::path::Path;

pub fn run(path: &Path) -> CliResult<()> {
    if !path.exists() {
        return Err(format!("{}: no such file", path.display()).into());
    }
    let summary = inspect(path)?;
    print!("{summary}");
    Ok(())
}
