//! `--checkpoint PATH` and `--resume`, shared by `train` and `transfer`, and the fingerprint of
//! a run that a resumed run must match.

use super::{CliResult, Common};
use clap::Args;
use graft::nn::checkpoint::CheckpointOptions;
use graft::nn::data::Dataset;
use graft::nn::init::Init;
use std::path::PathBuf;

/// The checkpoint flags of the commands that can resume.
#[derive(Args, Debug)]
pub struct CheckpointArgs {
    /// Write a checkpoint (model, optimiser, generators, position in the run, history) to PATH
    /// after every epoch (and, for transfer, every phase), atomically, so a killed run loses at
    /// most one epoch.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    /// Continue from --checkpoint PATH, mid-phase if need be; the command must be the one that
    /// wrote it (same model, data, seed and settings; more --epochs may be given to extend a
    /// finished train run).
    #[arg(long, requires = "checkpoint")]
    pub resume: bool,
}

impl CheckpointArgs {
    /// The options of a checkpointed run with this `fingerprint`, or `None` without
    /// `--checkpoint`. `--resume` of a file that does not exist is refused here, before any
    /// training, rather than silently starting afresh.
    pub fn options(&self, fingerprint: Vec<(String, String)>) -> CliResult<Option<CheckpointOptions>> {
        let Some(path) = &self.checkpoint else { return Ok(None) };
        if self.resume && !path.exists() {
            return Err(format!("--resume: {}: no such checkpoint", path.display()).into());
        }
        Ok(Some(CheckpointOptions { path: path.clone(), resume: self.resume, config: fingerprint }))
    }
}

/// What every checkpointed command records about its run.
pub struct Run<'a> {
    /// The subcommand (`train`, `transfer`): one command's checkpoint never resumes another's.
    pub command: &'static str,
    /// The spec of the model being trained.
    pub spec: String,
    pub seed: u64,
    pub init: Init,
    pub train: &'a Dataset,
    pub val: Option<&'a Dataset>,
    pub common: &'a Common,
}

impl Run<'_> {
    /// The fingerprint: the shared entries plus the command's own `settings`. The keys and
    /// value strings are those older checkpoints hold (entries are compared as a set), so
    /// changing how one is written makes every existing checkpoint refuse to resume.
    pub fn fingerprint(&self, settings: Vec<(&str, String)>) -> Vec<(String, String)> {
        let data =
            format!("train {} samples, validation {} samples", self.train.len(), self.val.map_or(0, |v| v.len()));
        let shared = [
            ("command", self.command.to_string()),
            ("spec", self.spec.clone()),
            ("seed", self.seed.to_string()),
            ("data", data),
            ("sample_shape", format!("{:?}", self.train.sample_shape())),
            ("layout", self.common.layout.name().to_string()),
            ("normalize", self.common.normalize.clone().unwrap_or_default()),
        ];
        // Checkpoints from before --init existed were all made with the default: recording the
        // initialiser only when it is another keeps them resumable.
        let init = (self.init != Init::TorchDefault).then(|| ("init", self.init.to_string()));
        shared.into_iter().chain(init).chain(settings).map(|(k, v)| (k.to_string(), v)).collect()
    }
}
