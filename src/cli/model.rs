//! Loading and saving models for the CLI.

use super::train::parse_init;
use super::{CliResult, LossChoice};
use clap::Args;
use graft::engine::Device;
use graft::nn::init::Init;
use graft::nn::model_file::{inspect, load_model, load_model_with_spec_options, save_model, LoadOptions};
use graft::nn::spec::parse_spec_with_init;
use graft::nn::train::LossKind;
use graft::nn::Sequential;
use std::path::{Path, PathBuf};

/// How a model file's tensors are laid out, for the commands that load one.
#[derive(Args, Debug, Clone, Copy)]
pub struct LayoutArg {
    /// The file was exported from Keras: map Keras names (`dense/kernel`, `dense_1.bias`, …)
    /// onto the spec's layers and transpose every Dense kernel from [in, out] to [out, in].
    /// Keras names are also recognised without this flag.
    #[arg(long)]
    pub keras: bool,
}

/// The pretrained model of `transfer` and `sweep`.
#[derive(Args, Debug)]
pub struct PretrainedArgs {
    /// The pretrained model: a graft .safetensors file, or a PyTorch/Keras state dict
    /// (.safetensors, or PyTorch's own .pth/.pt/.bin, read without running its pickle) with
    /// --pretrained-spec.
    #[arg(long)]
    pub pretrained: PathBuf,
    /// Architecture of a plain state_dict file (graft files carry their own).
    #[arg(long)]
    pub pretrained_spec: Option<String>,
    #[command(flatten)]
    pub layout: LayoutArg,
}

impl PretrainedArgs {
    pub fn load(&self) -> CliResult<Sequential> {
        load(&self.pretrained, self.pretrained_spec.as_deref(), self.layout, "--pretrained-spec")
    }
}

/// The new head of `transfer` and `sweep`, and what it trains with.
#[derive(Args, Debug)]
pub struct HeadArgs {
    /// The new head; `{in}` stands for the number of features the reused layers produce,
    /// e.g. "linear({in},2)" or, for a binary sigmoid head, "linear({in},1)". A head starting
    /// with a linear layer on features that are not flat gets a flatten in front.
    #[arg(long)]
    pub head: String,
    /// Initialiser of the head's layers that name no init= (see `graft train --help`).
    #[arg(long, value_parser = parse_init, default_value = "torch_default")]
    pub init: Init,
    /// The loss: auto picks bce for a 1-unit head and ce otherwise.
    #[arg(long, value_enum, default_value_t = LossChoice::Auto)]
    pub loss: LossChoice,
}

impl HeadArgs {
    /// Builds the head for a trunk's `features` (their product replaces `{in}`). A head that
    /// starts with a linear layer gets a flatten in front when the features are not flat
    /// (images, or the raw input of a sweep's "reuse 0"), which is what `{in}` means.
    pub fn build(&self, features: &[usize], seed: u64) -> CliResult<Sequential> {
        let n: usize = features.iter().product();
        let spec = self.head.replace("{in}", &n.to_string());
        let starts_linear = spec.trim_start().to_ascii_lowercase().starts_with("linear");
        let spec = if features.len() > 1 && starts_linear { format!("flatten,{spec}") } else { spec };
        Ok(parse_spec_with_init(&spec, seed.wrapping_add(1), self.init)?)
    }
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

/// The device `--device` names: `cpu`, `gpu` (an error naming the cause when no GPU is
/// usable), or `auto` (the GPU when usable, else the CPU, saying why once).
pub fn device(choice: &super::DeviceChoice) -> CliResult<Device> {
    Ok(choice.open()?)
}

/// How many values `model` gives per sample of `sample_shape`.
pub fn output_units(model: &Sequential, sample_shape: &[usize]) -> CliResult<usize> {
    Ok(graft::transfer::output_shape(model, sample_shape)?.iter().product())
}

/// The loss `--loss` asks for on a model with `units` outputs, said once on stderr when it was
/// inferred, so a user sees which loss trains a 1-unit head.
pub fn loss_for(choice: LossChoice, units: usize) -> LossKind {
    let loss = choice.resolve(units);
    if choice == LossChoice::Auto && loss == LossKind::BceWithLogits {
        eprintln!("the model has 1 output unit: training it as a binary classifier (sigmoid + binary cross-entropy)");
    }
    loss
}
