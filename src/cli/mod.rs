//! Argument definitions and dispatch.

mod data;
mod demo;
mod inspect;
mod model;
mod phases;
mod predict;
mod progress;
mod svg;
mod sweep;
mod train;
mod transfer;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

pub type CliResult<T> = Result<T, Box<dyn std::error::Error>>;

/// graft: train small models and reuse pretrained layers for new tasks.
#[derive(Parser, Debug)]
#[command(name = "graft", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs the transfer-learning demo on the Fashion-MNIST data shipped in data/demo.
    Demo(demo::DemoArgs),
    /// Lists the tensors (names, dtypes, shapes) and the architecture of a .safetensors file.
    Inspect {
        /// A model file (graft or PyTorch state_dict) or a dataset in .safetensors format.
        file: PathBuf,
    },
    /// Trains a model given by an architecture spec on a dataset.
    Train(train::TrainArgs),
    /// Reuses the lower layers of a pretrained model for a new task, training in phases.
    Transfer(transfer::TransferArgs),
    /// Tries several numbers of reused and unfrozen layers and reports which works best.
    Sweep(sweep::SweepArgs),
    /// Evaluates a model on a labelled dataset (loss and accuracy).
    Eval(predict::EvalArgs),
    /// Writes a model's outputs for a dataset as a .npy file.
    Predict(predict::PredictArgs),
}

/// Options shared by every command that reads data or runs a model.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Where to compute: cpu, gpu, or auto (the GPU when one is available, else the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Seed for weight initialisation and shuffling: the same seed gives the same run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How images are shaped for the model: chw ([n, 1, h, w], works with a leading flatten
    /// or conv2d), flat ([n, h*w]) or stored (as in the file).
    #[arg(long, default_value = "chw")]
    pub layout: String,
    /// Normalise inputs as (x - MEAN) / STD after scaling u8 pixels to [0, 1], e.g. 0.1307,0.3081.
    #[arg(long, value_name = "MEAN,STD")]
    pub normalize: Option<String>,
}

pub fn run(cli: Cli) -> CliResult<()> {
    match cli.command {
        Command::Demo(a) => demo::run(a),
        Command::Inspect { file } => inspect::run(&file),
        Command::Train(a) => train::run(a),
        Command::Transfer(a) => transfer::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Eval(a) => predict::run_eval(a),
        Command::Predict(a) => predict::run_predict(a),
    }
}
