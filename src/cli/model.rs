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

/// The device named by `--device`.
pub fn device(name: &str) -> CliResult<Device> {
    match name {
        "cpu" => Ok(Device::Cpu),
        "gpu" | "auto" => {
            if name == "auto" {
                eprintln!("note: no GPU back end in this build; using the CPU");
                Ok(Device::Cpu)
            } else {
                Err("--device gpu: this build of graft has no GPU back end; use --device cpu".into())
            }
        }
        other => Err(format!("--device {other}: use cpu, gpu or auto").into()),
    }
}
