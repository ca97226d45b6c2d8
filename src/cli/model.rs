//! Loading and saving models for the CLI.

use super::CliResult;
use graft::engine::Device;
use graft::nn::model_file::{load_model, load_model_with_spec, save_model};
use graft::nn::Sequential;
use std::path::Path;

/// A model from a graft file, or from a plain state dict with an architecture spec.
pub fn load(path: &Path, spec: Option<&str>) -> CliResult<Sequential> {
    if !path.exists() {
        return Err(format!("{}: no such model file", path.display()).into());
    }
    Ok(match spec {
        Some(s) => load_model_with_spec(path, s)?,
        None => load_model(path)?,
    })
}

/// Saves atomically (a crash never leaves a half-written file).
pub fn save(model: &Sequential, path: &Path) -> CliResult<()> {
    save_model(model, path)?;
    Ok(())
}

/// The device named by `--device`: `cpu`, `gpu` (an error naming the cause when no GPU is
/// usable), or `auto` (the GPU when usable, else the CPU, saying why once).
pub fn device(name: &str) -> CliResult<Device> {
    Ok(Device::parse(name)?)
}
