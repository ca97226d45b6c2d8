//! Training checkpoints: everything needed to continue a run exactly where it stopped.
//!
//! A [`Checkpoint`] is one `.safetensors` file. Its tensors are the model's state dict
//! (`model/<name>`, e.g. `model/0.weight`) and the optimiser's per-parameter buffers, named by
//! the parameter they belong to (`optim/<param>/<buffer>`, e.g. `optim/0.weight/exp_avg`), so
//! they survive a restart in which tensors get new identities. The header's `__metadata__`
//! holds strings: the kind of optimiser and its step counts, the states of the model's random
//! generators (dropout) and of the shuffling generator, the position (epochs done, phase), the
//! history so far, and a fingerprint of the run's configuration (`config/<key>`) that a resumed
//! run must match ([`Checkpoint::check_config`]).
//!
//! [`Checkpoint::save`] writes atomically: a temporary file in the same directory, written and
//! synced, then renamed over the target and the directory synced; a crash at any point leaves
//! the previous checkpoint whole. Loading is strict: every tensor of the model must be present
//! with its shape.
//!
//! [`fit_checkpointed`] is [`fit`](crate::train::fit) with a checkpoint after every epoch and
//! an optional resume:
//!
//! ```
//! use graft_engine::{Rng, Tensor};
//! use graft_nn::checkpoint::{fit_checkpointed, CheckpointOptions};
//! use graft_nn::data::{Dataset, Targets};
//! use graft_nn::optim::{Sgd, SgdConfig};
//! use graft_nn::train::FitConfig;
//! use graft_nn::{parse_spec, Module};
//! # fn main() -> graft_nn::Result<()> {
//! let mut rng = Rng::new(0);
//! let x = Tensor::randn(&[32, 2], 0.0, 1.0, &mut rng);
//! let labels = x.to_vec()?.chunks(2).map(|p| usize::from(p[0] > 0.0)).collect();
//! let data = Dataset::new(x, Targets::Classes(labels))?;
//! let path = std::env::temp_dir().join(format!("graft-doc-ckpt-{}.safetensors", std::process::id()));
//! let config = FitConfig { epochs: 4, batch_size: 8, ..FitConfig::default() };
//! let sgd = SgdConfig { lr: 0.1, momentum: 0.9, ..Default::default() };
//! // Two epochs, then stop; resume in a fresh model and optimiser for the other two.
//! let a = parse_spec("linear(2,4),relu,linear(4,2)", 1)?;
//! let short = FitConfig { epochs: 2, ..config };
//! let opts = CheckpointOptions { path: path.clone(), resume: false, config: vec![("spec".into(), a.spec())] };
//! let mut opt = Sgd::new(a.parameters(), sgd);
//! fit_checkpointed(&a, &mut opt, &data, None, &short, &opts, &mut |_| {})?;
//! let b = parse_spec("linear(2,4),relu,linear(4,2)", 99)?;
//! let mut opt = Sgd::new(b.parameters(), sgd);
//! let resumed = CheckpointOptions { resume: true, ..opts.clone() };
//! let history = fit_checkpointed(&b, &mut opt, &data, None, &config, &resumed, &mut |_| {})?;
//! assert_eq!(history.epochs.len(), 4);
//! // The same as four epochs without a stop.
//! let c = parse_spec("linear(2,4),relu,linear(4,2)", 1)?;
//! let mut opt = Sgd::new(c.parameters(), sgd);
//! graft_nn::train::fit(&c, &mut opt, &data, None, &config, &mut |_| {})?;
//! assert_eq!(b.parameters()[0].to_vec()?, c.parameters()[0].to_vec()?);
//! # std::fs::remove_file(&path).ok();
//! # Ok(()) }
//! ```

use crate::data::Dataset;
use crate::model_file::read::{parse, read_file};
use crate::model_file::write::{encode_f32, write_atomic_with};
use crate::optim::{Optimizer, OptimizerState, ParamState};
use crate::train::{fit_resumable, EpochRecord, FitConfig, FitState, History, Progress};
use crate::{Module, NnError, Result};
use graft_engine::Tensor;
use safetensors::tensor::Dtype;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Metadata key saying what a file is.
const KIND_KEY: &str = "graft.checkpoint";
/// The checkpoint format this graft writes and reads.
const CHECKPOINT_VERSION: &str = "1";
/// Environment variable for crash tests: when set to `N`, the `N`-th checkpoint this process
/// saves dies (`abort`) with half of its bytes in the temporary file, as a kill in the middle
/// of a write would. Never set it outside tests.
pub const CRASH_HOOK_ENV: &str = "GRAFT_TEST_CRASH_DURING_CHECKPOINT";

/// A training checkpoint: named tensors and string metadata (see the [module](self)).
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    /// Tensors by name (`model/…`, `optim/…`).
    pub tensors: BTreeMap<String, Tensor>,
    /// Strings by key (`position/…`, `rng/…`, `config/…`, and whatever callers add).
    pub metadata: BTreeMap<String, String>,
}

fn bad(label: &str, what: impl std::fmt::Display) -> NnError {
    NnError::Model(format!("{label}: {what} — not a usable graft checkpoint"))
}

impl Checkpoint {
    /// An empty checkpoint.
    pub fn new() -> Self {
        Checkpoint::default()
    }

    /// Sets a metadata string.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.metadata.insert(key.to_string(), value.into());
    }

    /// A metadata string, or an error naming the missing key.
    pub fn get(&self, key: &str) -> Result<&str> {
        self.metadata.get(key).map(String::as_str).ok_or_else(|| bad("checkpoint", format!("no `{key}` entry")))
    }

    /// Records the run's configuration (`config/<key>` entries) for [`Checkpoint::check_config`].
    pub fn put_config(&mut self, config: &[(String, String)]) {
        for (k, v) in config {
            self.set(&format!("config/{k}"), v.clone());
        }
    }

    /// Fails, listing every difference, unless the checkpoint was written by a run with exactly
    /// this configuration (same keys, same values).
    pub fn check_config(&self, config: &[(String, String)]) -> Result<()> {
        let stored: BTreeMap<&str, &str> =
            self.metadata.iter().filter_map(|(k, v)| k.strip_prefix("config/").map(|k| (k, v.as_str()))).collect();
        let given: BTreeMap<&str, &str> = config.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut diffs = Vec::new();
        for (k, v) in &given {
            match stored.get(k) {
                Some(s) if s == v => {}
                Some(s) => diffs.push(format!("{k} is {s:?} in the checkpoint but {v:?} now")),
                None => diffs.push(format!("{k} is not recorded in the checkpoint (now {v:?})")),
            }
        }
        for (k, s) in &stored {
            if !given.contains_key(k) {
                diffs.push(format!("{k} is {s:?} in the checkpoint but not set now"));
            }
        }
        if diffs.is_empty() {
            Ok(())
        } else {
            Err(NnError::Model(format!(
                "the checkpoint was written by a different run, so it cannot be resumed: {}",
                diffs.join("; ")
            )))
        }
    }

    /// Stores the model's state dict and the states of its random generators.
    pub fn put_model(&mut self, model: &dyn Module) -> Result<()> {
        for (name, t) in model.state_dict() {
            self.tensors.insert(format!("model/{name}"), t.deep_clone()?.detach());
        }
        for (name, s) in model.named_rng_states() {
            self.set(&format!("rng/model/{name}"), rng_to_string(s));
        }
        Ok(())
    }

    /// Writes the stored state dict and generator states into `model`, strictly: every tensor
    /// of the model must be stored with its shape, and nothing else may be; on a mismatch
    /// nothing is changed.
    pub fn restore_model(&self, model: &dyn Module) -> Result<()> {
        let state = model.state_dict();
        let mut problems = Vec::new();
        for (name, t) in &state {
            match self.tensors.get(&format!("model/{name}")) {
                None => problems.push(format!("`{name}` is missing")),
                Some(s) if s.shape() != t.shape() => {
                    problems.push(format!("`{name}` has shape {:?}, the model {:?}", s.shape(), t.shape()))
                }
                Some(_) => {}
            }
        }
        let names: std::collections::HashSet<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
        for k in self.tensors.keys().filter_map(|k| k.strip_prefix("model/")) {
            if !names.contains(k) {
                problems.push(format!("`{k}` is not in the model"));
            }
        }
        let rngs = model.named_rng_states();
        let mut rng_values = Vec::with_capacity(rngs.len());
        for (name, _) in &rngs {
            match self.metadata.get(&format!("rng/model/{name}")).map(|s| rng_from_string(s)) {
                Some(Some(s)) => rng_values.push((name.clone(), s)),
                Some(None) => problems.push(format!("generator `{name}` is unreadable")),
                None => problems.push(format!("generator `{name}` is missing")),
            }
        }
        if !problems.is_empty() {
            return Err(NnError::Model(format!(
                "the checkpoint does not fit the model {}: {}",
                model.spec(),
                problems.join("; ")
            )));
        }
        for (name, t) in &state {
            if let Some(s) = self.tensors.get(&format!("model/{name}")) {
                t.set_data(&s.to_device(&t.device())?)?;
            }
        }
        for (name, s) in rng_values {
            model.set_rng_state(&name, s);
        }
        Ok(())
    }

    /// Stores `optimizer`'s state, naming each parameter by its name in `model` (every
    /// parameter of the optimiser must be one of `model`'s).
    pub fn put_optimizer(&mut self, model: &dyn Module, optimizer: &dyn Optimizer) -> Result<()> {
        let names: HashMap<u64, String> = model.named_parameters().into_iter().map(|(n, t)| (t.id(), n)).collect();
        let state = optimizer.state()?;
        self.set("optim/kind", state.kind.clone());
        let params = optimizer.parameters();
        for (i, s) in &state.params {
            let name = params.get(*i).and_then(|p| names.get(&p.id())).ok_or_else(|| {
                NnError::Model(format!("optimizer parameter #{i} is not a parameter of the model {}", model.spec()))
            })?;
            for (b, t) in &s.buffers {
                self.tensors.insert(format!("optim/{name}/{b}"), t.clone());
            }
            if let Some(step) = s.step {
                self.set(&format!("optim/step/{name}"), step.to_string());
            }
            if s.buffers.is_empty() && s.step.is_none() {
                self.set(&format!("optim/empty/{name}"), "");
            }
        }
        Ok(())
    }

    /// Loads the stored optimiser state into `optimizer`, mapping parameter names in `model` to
    /// the optimiser's positions. Fails if a stored parameter is not among the optimiser's.
    pub fn restore_optimizer(&self, model: &dyn Module, optimizer: &mut dyn Optimizer) -> Result<()> {
        let kind = self.get("optim/kind")?.to_string();
        let ids: HashMap<String, u64> = model.named_parameters().into_iter().map(|(n, t)| (n, t.id())).collect();
        let position: HashMap<u64, usize> =
            optimizer.parameters().iter().enumerate().map(|(i, p)| (p.id(), i)).collect();
        let mut per_name: BTreeMap<String, ParamState> = BTreeMap::new();
        for (key, t) in &self.tensors {
            if let Some((name, buffer)) = key.strip_prefix("optim/").and_then(|r| r.rsplit_once('/')) {
                per_name.entry(name.to_string()).or_default().buffers.insert(buffer.to_string(), t.clone());
            }
        }
        for (key, v) in &self.metadata {
            if let Some(name) = key.strip_prefix("optim/step/") {
                let step = v.parse().map_err(|_| bad("checkpoint", format!("step count {v:?} of `{name}`")))?;
                per_name.entry(name.to_string()).or_default().step = Some(step);
            } else if let Some(name) = key.strip_prefix("optim/empty/") {
                per_name.entry(name.to_string()).or_default();
            }
        }
        let mut state = OptimizerState { kind, params: BTreeMap::new() };
        for (name, s) in per_name {
            let i = ids.get(&name).and_then(|id| position.get(id)).ok_or_else(|| {
                NnError::Model(format!(
                    "the checkpoint has optimizer state for `{name}`, which this optimizer does not train"
                ))
            })?;
            state.params.insert(*i, s);
        }
        optimizer.load_state(&state)
    }

    /// Stores a [`FitState`] under `prefix` (`fit` for a single run; a schedule uses one per
    /// phase).
    pub fn put_fit_state(&mut self, prefix: &str, state: &FitState) {
        self.set(&format!("{prefix}/epochs_done"), state.epochs_done.to_string());
        self.set(&format!("{prefix}/rng"), rng_to_string(state.rng));
        self.set(&format!("{prefix}/history"), history_to_string(&state.history));
    }

    /// The [`FitState`] stored under `prefix`, if there is one.
    pub fn fit_state(&self, prefix: &str) -> Result<Option<FitState>> {
        let Some(done) = self.metadata.get(&format!("{prefix}/epochs_done")) else { return Ok(None) };
        let epochs_done = done.parse().map_err(|_| bad("checkpoint", format!("epochs done {done:?}")))?;
        let rng = rng_from_string(self.get(&format!("{prefix}/rng"))?)
            .ok_or_else(|| bad("checkpoint", "the shuffling generator's state is unreadable"))?;
        let history = history_from_string(self.get(&format!("{prefix}/history"))?)?;
        Ok(Some(FitState { epochs_done, rng, history }))
    }

    /// The checkpoint as `.safetensors` bytes (F32 tensors in name order, metadata sorted), the
    /// same bytes for the same contents.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut metadata = vec![(KIND_KEY, CHECKPOINT_VERSION)];
        metadata.extend(self.metadata.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        encode_f32(&metadata, self.tensors.iter().map(|(n, t)| (n.as_str(), t)))
    }

    /// Reads checkpoint bytes; `label` names them in errors.
    pub fn from_bytes(bytes: &[u8], label: &str) -> Result<Self> {
        let file = parse(bytes, label)?;
        match file.metadata.get(KIND_KEY).map(String::as_str) {
            Some(CHECKPOINT_VERSION) => {}
            Some(v) => {
                return Err(bad(label, format!("checkpoint format {v:?}; this graft reads {CHECKPOINT_VERSION:?}")))
            }
            None => return Err(bad(label, format!("no `{KIND_KEY}` metadata (a model file?)"))),
        }
        let mut tensors = BTreeMap::new();
        for (name, raw) in &file.tensors {
            if raw.dtype != Dtype::F32 {
                return Err(bad(label, format!("tensor `{name}` is not F32")));
            }
            let values = raw.to_f32().map_err(|e| bad(label, format!("tensor `{name}`: {e}")))?;
            tensors.insert(name.clone(), Tensor::from_vec(values, &raw.shape)?);
        }
        let mut metadata = file.metadata;
        metadata.remove(KIND_KEY);
        Ok(Checkpoint { tensors, metadata })
    }

    /// Writes the checkpoint atomically to `path` (see the [module](self)).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let bytes = self.to_bytes()?;
        write_atomic_with(path.as_ref(), &bytes, "checkpoint", &crash_hook)
    }

    /// Reads a checkpoint file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Checkpoint::from_bytes(&read_file(path)?, &path.display().to_string())
    }
}

/// The test hook of [`CRASH_HOOK_ENV`].
fn crash_hook() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let n = SAVES.fetch_add(1, Ordering::Relaxed) + 1;
    if std::env::var(CRASH_HOOK_ENV).ok().and_then(|v| v.parse::<u64>().ok()) == Some(n) {
        eprintln!("{CRASH_HOOK_ENV}: dying in the middle of checkpoint write {n}");
        std::process::abort();
    }
}

/// Removes temporary files that writers of `path` left behind when they died mid-write.
pub fn remove_stale_temporaries(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else { return };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with(&prefix) && n.ends_with(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn rng_to_string(s: [u64; 4]) -> String {
    s.iter().map(|w| format!("{w:016x}")).collect::<Vec<_>>().join(",")
}

fn rng_from_string(s: &str) -> Option<[u64; 4]> {
    let words: Vec<u64> = s.split(',').map(|w| u64::from_str_radix(w, 16).ok()).collect::<Option<_>>()?;
    words.try_into().ok()
}

fn f32_bits(v: f32) -> String {
    format!("{:08x}", v.to_bits())
}

fn opt_bits(v: Option<f32>) -> String {
    v.map_or_else(|| "-".to_string(), f32_bits)
}

/// A history as text, exactly (floats as their bits): one `;`-separated record per epoch of
/// `epoch,train_loss,train_metric,val_loss,val_metric,wall_ns,lr`, `-` for an absent value.
pub fn history_to_string(h: &History) -> String {
    h.epochs
        .iter()
        .map(|e| {
            format!(
                "{},{},{},{},{},{},{}",
                e.epoch,
                f32_bits(e.train_loss),
                opt_bits(e.train_metric),
                opt_bits(e.val_loss),
                opt_bits(e.val_metric),
                e.wall_time.as_nanos(),
                f32_bits(e.lr)
            )
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// Reads [`history_to_string`]'s text back.
pub fn history_from_string(s: &str) -> Result<History> {
    let err = || bad("checkpoint", "the training history is unreadable");
    let bits = |f: &str| u32::from_str_radix(f, 16).map(f32::from_bits).map_err(|_| err());
    let opt = |f: &str| if f == "-" { Ok(None) } else { bits(f).map(Some) };
    let mut epochs = Vec::new();
    for rec in s.split(';').filter(|r| !r.is_empty()) {
        let f: Vec<&str> = rec.split(',').collect();
        let [epoch, tl, tm, vl, vm, ns, lr] = f[..] else { return Err(err()) };
        let ns: u64 = ns.parse().map_err(|_| err())?;
        epochs.push(EpochRecord {
            epoch: epoch.parse().map_err(|_| err())?,
            train_loss: bits(tl)?,
            train_metric: opt(tm)?,
            val_loss: opt(vl)?,
            val_metric: opt(vm)?,
            wall_time: Duration::from_nanos(ns),
            lr: bits(lr)?,
        });
    }
    Ok(History { epochs, ..History::default() })
}

/// Where [`fit_checkpointed`] keeps its checkpoint.
#[derive(Clone, Debug)]
pub struct CheckpointOptions {
    /// The checkpoint file, rewritten atomically after every epoch.
    pub path: PathBuf,
    /// Continue from the checkpoint at `path` (which must exist and match `config`).
    pub resume: bool,
    /// What identifies the run (architecture, seed, data, settings); a checkpoint written
    /// with another configuration is refused. [`fit_checkpointed`] adds the [`FitConfig`]
    /// except its number of epochs, so a finished run can be extended by resuming it with more.
    pub config: Vec<(String, String)>,
}

/// [`fit`](crate::train::fit) with a checkpoint after every epoch (model, optimiser, shuffling
/// and dropout generators, history) and, with `options.resume`, continuing from one: the
/// final weights are bit-identical to those of an uninterrupted run. The optimiser must be
/// built over `model`'s parameters, in the same order as when the checkpoint was written.
pub fn fit_checkpointed(
    model: &dyn Module,
    optimizer: &mut dyn Optimizer,
    train: &Dataset,
    val: Option<&Dataset>,
    config: &FitConfig,
    options: &CheckpointOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<History> {
    let mut fingerprint = options.config.clone();
    fingerprint.push(("fit".into(), format!("{:?}", FitConfig { epochs: 0, ..*config })));
    let resume = if options.resume {
        let ck = Checkpoint::load(&options.path)?;
        ck.check_config(&fingerprint)?;
        let state = ck.fit_state("fit")?.ok_or_else(|| bad(&options.path.display().to_string(), "no position"))?;
        ck.restore_model(model)?;
        ck.restore_optimizer(model, optimizer)?;
        remove_stale_temporaries(&options.path);
        Some(state)
    } else {
        None
    };
    let mut save = |state: &FitState, opt: &dyn Optimizer| {
        let mut ck = Checkpoint::new();
        ck.put_config(&fingerprint);
        ck.put_model(model)?;
        ck.put_optimizer(model, opt)?;
        ck.put_fit_state("fit", state);
        ck.save(&options.path)
    };
    fit_resumable(model, optimizer, train, val, config, resume, &mut save, progress)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_and_rng_round_trip_exactly() {
        let h = History {
            epochs: vec![EpochRecord {
                epoch: 3,
                train_loss: 0.1 + 0.2,
                train_metric: None,
                val_loss: Some(f32::MIN_POSITIVE),
                val_metric: Some(0.75),
                wall_time: Duration::from_nanos(123_456_789),
                lr: 1e-3,
            }],
            ..History::default()
        };
        assert_eq!(history_from_string(&history_to_string(&h)).ok(), Some(h));
        assert!(history_from_string("1,2").is_err());
        let s = [0, u64::MAX, 7, 1 << 40];
        assert_eq!(rng_from_string(&rng_to_string(s)), Some(s));
    }

    #[test]
    fn mismatched_configuration_is_named() {
        let mut ck = Checkpoint::new();
        ck.put_config(&[("seed".into(), "1".into()), ("spec".into(), "linear(2,2)".into())]);
        let e = ck.check_config(&[("seed".into(), "2".into()), ("spec".into(), "linear(2,2)".into())]);
        let msg = e.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg.contains("seed is \"1\" in the checkpoint but \"2\" now"), "{msg}");
    }
}
