//! `graft eval` and `graft predict`.

use super::data::{load_dataset, load_options};
use super::model::LayoutArg;
use super::{model, CliResult, Common, LossChoice};
use clap::Args;
use graft::engine::{no_grad, Tensor};
use graft::nn::formats::{write_npy, RawArray, RawData};
use graft::nn::train::{evaluate, LossKind};
use graft::nn::Module;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The model (.safetensors; a plain state dict, also PyTorch .pth/.pt/.bin, with --spec).
    #[arg(long)]
    model: PathBuf,
    /// Architecture of a plain state_dict file (graft files carry their own).
    #[arg(long)]
    spec: Option<String>,
    #[command(flatten)]
    layout: LayoutArg,
    /// Labelled data: IMAGES,LABELS or one .npz/.safetensors file.
    #[arg(long)]
    data: String,
    /// The loss reported: auto picks bce for a 1-unit model and ce otherwise.
    #[arg(long, value_enum, default_value_t = LossChoice::Auto)]
    loss: LossChoice,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The model (.safetensors; a plain state dict, also PyTorch .pth/.pt/.bin, with --spec).
    #[arg(long)]
    model: PathBuf,
    /// Architecture of a plain state_dict file (graft files carry their own).
    #[arg(long)]
    spec: Option<String>,
    #[command(flatten)]
    layout: LayoutArg,
    /// Data: IMAGES,LABELS or one .npz/.safetensors file (labels are not used).
    #[arg(long)]
    data: String,
    /// Where to write the outputs ([n, outputs] f32 .npy): logits, or with --probabilities
    /// class probabilities.
    #[arg(long)]
    out: PathBuf,
    /// Write probabilities instead of logits: the softmax over the outputs, or for a 1-unit
    /// (binary) model the sigmoid, the probability of class 1.
    #[arg(long)]
    probabilities: bool,
    #[command(flatten)]
    common: Common,
}

pub fn run_eval(a: EvalArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let net = model::load(&a.model, a.spec.as_deref(), a.layout, "--spec")?;
    graft::nn::move_to_device(&net, &device)?;
    let data = load_dataset(&a.data, &load_options(&a.common)?)?.to_device(&device)?;
    let loss = a.loss.resolve(model::output_units(&net, data.sample_shape())?);
    let r = evaluate(&net, &data, 256, loss, loss.metric())?;
    let loss_name = if loss == LossKind::BceWithLogits { "bce_loss" } else { "ce_loss" };
    println!("{:<10} {:>10} {:>10}", "samples", loss_name, "accuracy");
    println!("{:<10} {:>10.4} {:>10.4}", data.len(), r.loss, r.metric.unwrap_or(f32::NAN));
    Ok(())
}

pub fn run_predict(a: PredictArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let net = model::load(&a.model, a.spec.as_deref(), a.layout, "--spec")?;
    graft::nn::move_to_device(&net, &device)?;
    let data = load_dataset(&a.data, &load_options(&a.common)?)?.to_device(&device)?;
    net.set_training(false);
    let probabilities = a.probabilities;
    let outputs = no_grad(|| -> CliResult<Tensor> {
        let mut parts = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let len = 256.min(data.len() - start);
            let logits = net.forward(&data.x().narrow(0, start, len)?)?;
            parts.push(match (probabilities, logits.shape()) {
                (false, _) => logits,
                (true, [_, 1]) => logits.sigmoid()?,
                (true, [_, _]) => logits.softmax(1)?,
                (true, shape) => {
                    return Err(format!(
                        "--probabilities: the model gives outputs of shape {shape:?}; probabilities need \
                         [n, classes] (drop --probabilities to write the raw outputs)"
                    )
                    .into())
                }
            });
            start += len;
        }
        Ok(Tensor::cat(&parts, 0)?)
    })?;
    let array = RawArray::new(outputs.shape().to_vec(), RawData::F32(outputs.to_vec()?))?;
    write_npy(&a.out, &array)?;
    let what = if a.probabilities { "probabilities" } else { "outputs" };
    println!("wrote {} {what} of shape {:?} to {}", data.len(), &outputs.shape()[1..], a.out.display());
    Ok(())
}
