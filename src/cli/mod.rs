//! Argument definitions and dispatch.

mod checkpoint;
mod data;
mod demo;
mod errors;
mod image;
mod inspect;
mod model;
mod phases;
mod predict;
mod progress;
mod svg;
mod sweep;
mod text;
mod train;
mod transfer;
mod transfer_report;

use clap::{Args, Parser, Subcommand, ValueEnum};
use errors::FixFlags;
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
    /// Lists the tensors (names, dtypes, shapes) of a .safetensors or PyTorch .pth file and its
    /// architecture: the stored one of a graft file, or the layers a plain state dict's names
    /// and shapes show.
    Inspect {
        /// A model file (graft, PyTorch or Keras state dict; .safetensors, or PyTorch's
        /// .pth/.pt/.bin) or a dataset in .safetensors format.
        file: PathBuf,
    },
    /// Trains a model given by an architecture spec on a dataset.
    Train(train::TrainArgs),
    /// Reuses the lower layers of a pretrained model for a new task, training in phases.
    Transfer(transfer::TransferArgs),
    /// Tries several numbers of reused and unfrozen layers and reports which works best.
    Sweep(sweep::SweepArgs),
    /// Reuses a pretrained BERT sentence encoder (e.g. all-MiniLM-L6-v2) for spam detection:
    /// frozen embeddings and a new head, then the top layer(s) fine-tuned; --demo adds
    /// baselines and a sweep over unfrozen layers.
    TextTransfer(text::TextArgs),
    /// Reuses torchvision's ImageNet MobileNetV2 (a PyTorch .pth) for Fashion-MNIST: frozen
    /// pooled features and a new head, then the top block(s) fine-tuned; --demo adds baselines
    /// and a sweep over unfrozen blocks.
    ImageTransfer(image::ImageArgs),
    /// Evaluates a model on a labelled dataset (loss and accuracy).
    Eval(predict::EvalArgs),
    /// Writes a model's outputs for a dataset as a .npy file.
    Predict(predict::PredictArgs),
}

/// Options shared by every command that reads data or runs a model.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Where to compute: cpu, gpu, or auto (the GPU when one is available, else the CPU).
    #[arg(long, value_enum, ignore_case = true, default_value_t = DeviceChoice::Cpu)]
    pub device: DeviceChoice,
    /// How images are shaped for the model: chw ([n, 1, h, w], works with a leading flatten
    /// or conv2d), flat ([n, h*w]) or stored (as in the file).
    #[arg(long, value_enum, default_value_t = Layout::Chw)]
    pub layout: Layout,
    /// Normalise inputs as (x - MEAN) / STD after scaling u8 pixels to [0, 1], e.g. 0.1307,0.3081.
    #[arg(long, value_name = "MEAN,STD")]
    pub normalize: Option<String>,
}

/// Where the commands that train write their model and learning curves.
#[derive(Args, Debug, Clone)]
pub struct OutArgs {
    /// Where to write the model (.safetensors, with its architecture in the header).
    #[arg(long)]
    pub out: PathBuf,
    /// Learning curves (SVG); defaults to the model path with .svg.
    #[arg(long)]
    pub curves: Option<PathBuf>,
}

impl OutArgs {
    /// `--curves`, or the model path with .svg.
    pub fn curves(&self) -> PathBuf {
        self.curves.clone().unwrap_or_else(|| self.out.with_extension("svg"))
    }
}

/// The seed of the commands that draw random numbers (weights, shuffling, hold-outs).
#[derive(Args, Debug, Clone)]
pub struct SeedArg {
    /// Seed for weight initialisation and shuffling: the same seed gives the same run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// `--device`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceChoice {
    /// The CPU.
    Cpu,
    /// The GPU; refused, naming the cause, when none is usable.
    Gpu,
    /// The GPU when one is usable, else the CPU (saying why once on stderr).
    Auto,
}

impl DeviceChoice {
    /// Opens the device.
    pub fn open(self) -> graft::engine::Result<graft::engine::Device> {
        use graft::engine::Device;
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Gpu => Device::gpu(),
            DeviceChoice::Auto => Ok(Device::auto()),
        }
    }
}

/// `--layout`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Layout {
    Chw,
    Flat,
    Stored,
}

impl Layout {
    /// As written on the command line (and in checkpoint fingerprints).
    pub fn name(self) -> &'static str {
        match self {
            Layout::Chw => "chw",
            Layout::Flat => "flat",
            Layout::Stored => "stored",
        }
    }
}

/// `--loss`: what a classifier trains with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LossChoice {
    /// Binary cross-entropy for a 1-unit head, cross-entropy otherwise.
    Auto,
    /// Cross-entropy on logits, one output unit per class (Keras' sparse_categorical_crossentropy).
    Ce,
    /// Binary cross-entropy on the logit of a 1-unit head, accuracy at probability 0.5.
    Bce,
}

impl LossChoice {
    /// The loss for a model with `units` outputs.
    pub fn resolve(self, units: usize) -> graft::nn::train::LossKind {
        use graft::nn::train::LossKind;
        match self {
            LossChoice::Auto => LossKind::for_classifier(units),
            LossChoice::Ce => LossKind::CrossEntropy,
            LossChoice::Bce => LossKind::BceWithLogits,
        }
    }
}

pub fn run(cli: Cli) -> CliResult<()> {
    let (result, flags) = match cli.command {
        Command::Demo(a) => (demo::run(a), FixFlags::OTHER),
        Command::Inspect { file } => (inspect::run(&file), FixFlags::OTHER),
        Command::Train(a) => (train::run(a), FixFlags::TRAIN),
        Command::Transfer(a) => (transfer::run(a), FixFlags::TRANSFER),
        Command::Sweep(a) => (sweep::run(a), FixFlags::TRANSFER),
        Command::TextTransfer(a) => (text::run(a), FixFlags::OTHER),
        Command::ImageTransfer(a) => (image::run(a), FixFlags::OTHER),
        Command::Eval(a) => (predict::run_eval(a), FixFlags::EVAL),
        Command::Predict(a) => (predict::run_predict(a), FixFlags::PREDICT),
    };
    result.map_err(|e| errors::for_cli(e, flags))
}
