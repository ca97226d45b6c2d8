//! `graft eval` and `graft predict`.

use super::data::{load_dataset, load_options};
use super::{model, CliResult, Common};
use clap::Args;
use graft::engine::{no_grad, Tensor};
use graft::nn::formats::{write_npy, RawArray, RawData};
use graft::nn::train::{evaluate, LossKind, MetricKind};
use graft::nn::Module;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The model (.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Architecture of a plain state_dict file (graft files carry their own).
    #[arg(long)]
    spec: Option<String>,
    /// Labelled data: IMAGES,LABELS or one .npz/.safetensors file.
    #[arg(long)]
    data: String,
    #[command(flatten)]
    common: Common,
}

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// The model (.safetensors).
    #[arg(long)]
    model: PathBuf,
    /// Architecture of a plain state_dict file (graft files carry their own).
    #[arg(long)]
    spec: Option<String>,
    /// Data: IMAGES,LABELS or one .npz/.safetensors file (labels are not used).
    #[arg(long)]
    data: String,
    /// Where to write the outputs ([n, outputs] f32 .npy).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    common: Common,
}

pub fn run_eval(a: EvalArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let net = model::load(&a.model, a.spec.as_deref())?;
    graft::nn::move_to_device(&net, &device)?;
    let data = load_dataset(&a.data, &load_options(&a.common)?)?.to_device(&device)?;
    let r = evaluate(&net, &data, 256, LossKind::CrossEntropy, MetricKind::Accuracy)?;
    println!("{:<10} {:>10} {:>10}", "samples", "loss", "accuracy");
    println!("{:<10} {:>10.4} {:>10.4}", data.len(), r.loss, r.metric.unwrap_or(f32::NAN));
    Ok(())
}

pub fn run_predict(a: PredictArgs) -> CliResult<()> {
    let device = model::device(&a.common.device)?;
    let net = model::load(&a.model, a.spec.as_deref())?;
    graft::nn::move_to_device(&net, &device)?;
    let data = load_dataset(&a.data, &load_options(&a.common)?)?.to_device(&device)?;
    net.set_training(false);
    let outputs = no_grad(|| -> CliResult<Tensor> {
        let mut parts = Vec::new();
        let mut start = 0;
        while start < data.len() {
            let len = 256.min(data.len() - start);
            parts.push(net.forward(&data.x().narrow(0, start, len)?)?);
            start += len;
        }
        Ok(Tensor::cat(&parts, 0)?)
    })?;
    let array = RawArray::new(outputs.shape().to_vec(), RawData::F32(outputs.to_vec()?))?;
    write_npy(&a.out, &array)?;
    println!("wrote {} outputs of shape {:?} to {}", data.len(), &outputs.shape()[1..], a.out.display());
    Ok(())
}
