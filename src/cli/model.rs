//! Loading and saving models for the CLI.

use super::CliResult;
use clap::Args;
use graft::engine::Device;
use graft::nn::model_file::{inspect, load_model, load_model_with_spec_options, save_model, LoadOptions};
use graft::nn::train::LossKind;
use graft::nn::Sequential;
use std::path::Path;

/// How a model file's tensors are laid out, for the commands that load one.
#[derive(Args, Debug, Clone, Copy)]
pub struct LayoutArg {
    /// The file was exported from Keras: map Keras names (`dense/kernel`, `dense_1.bias`, …)
    /// onto the spec's layers and transpose every Dense kernel from [in, out] to [out, in].
    /// Keras names are also recognised without this flag.
    #[arg(long)]
    pub keras: bool,
}

/// A model from a graft file, or from a plain state dict (PyTorch or Keras) with an
/// architecture spec; `spec_flag` names the flag that gives it in messages.
pub fn load(path: &Path, spec: Option<&str>, layout: LayoutArg, spec_flag: &str) -> CliResult<Sequential> {
    if !path.exists() {
        return Err(format!("{}: no such model file", path.display()).into());
    }
    match spec {
        Some(s) => {
            let options = if layout.keras { LoadOptions::keras() } else { LoadOptions::default() };
            Ok(load_model_with_spec_options(path, s, options)?)
        }
        None => {
            if layout.keras && inspect(path)?.spec().is_some() {
                return Err(format!(
                    "--keras: {} is a graft model file, which stores PyTorch layouts; drop --keras",
                    path.display()
                )
                .into());
            }
            if layout.keras {
                return Err(
                    format!("--keras: give the architecture of {} with {spec_flag} \"...\"", path.display()).into()
                );
            }
            Ok(load_model(path)?)
        }
    }
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

/// How many values `model` gives per sample of `sample_shape`.
pub fn output_units(model: &Sequential, sample_shape: &[usize]) -> CliResult<usize> {
    Ok(graft::transfer::output_shape(model, sample_shape)?.iter().product())
}

/// The loss `--loss` asks for on a model with `units` outputs, said once on stderr when it was
/// inferred, so a user sees which loss trains a 1-unit head.
pub fn loss_for(choice: super::LossChoice, units: usize) -> LossKind {
    let loss = choice.resolve(units);
    if choice == super::LossChoice::Auto && loss == LossKind::BceWithLogits {
        eprintln!("the model has 1 output unit: training it as a binary classifier (sigmoid + binary cross-entropy)");
    }
    loss
}
