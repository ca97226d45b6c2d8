//! `fit` and `evaluate`: progress events, reproducibility, frozen layers, modes, target checks,
//! and stopping on a non-finite loss with the weights of the previous step.

use graft_engine::{Result as EngineResult, Rng, Tensor};
use graft_nn::data::{Dataset, Targets};
use graft_nn::layers::{Linear, Relu};
use graft_nn::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use graft_nn::train::{evaluate, fit, FitConfig, LossKind, MetricKind, Progress};
use graft_nn::{Module, NnError, Sequential};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

fn mlp(seed: u64, inputs: usize, outputs: usize) -> Sequential {
    let mut rng = Rng::new(seed);
    Sequential::new().layer(Linear::new(inputs, 8, &mut rng)).layer(Relu).layer(Linear::new(8, outputs, &mut rng))
}

/// Two blobs: class 1 when x0 + x1 > 0.
fn blobs(n: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let x = Tensor::randn(&[n, 2], 0.0, 1.0, &mut rng);
    let labels = x.to_vec().unwrap().chunks(2).map(|p| usize::from(p[0] + p[1] > 0.0)).collect();
    Dataset::new(x, Targets::Classes(labels)).unwrap()
}

/// `y = 2·x0 − x1` as a regression target `[n, 1]`.
fn regression(n: usize) -> Dataset {
    let mut rng = Rng::new(5);
    let x = Tensor::randn(&[n, 2], 0.0, 1.0, &mut rng);
    let y: Vec<f32> = x.to_vec().unwrap().chunks(2).map(|p| 2.0 * p[0] - p[1]).collect();
    Dataset::new(x, Targets::Values(Tensor::from_vec(y, &[n, 1]).unwrap())).unwrap()
}

fn weights(model: &dyn Module) -> Vec<Vec<f32>> {
    model.parameters().iter().map(|p| p.to_vec().unwrap()).collect()
}

fn sgd(model: &dyn Module, lr: f32) -> Sgd {
    Sgd::new(model.parameters(), SgdConfig { lr, ..Default::default() })
}

#[test]
fn progress_reports_each_epoch_and_step_and_history_matches() {
    let (model, data) = (mlp(0, 2, 2), blobs(50, 1));
    let mut opt = sgd(&model, 0.2);
    let config = FitConfig { epochs: 3, batch_size: 16, ..FitConfig::default() };
    let mut events = Vec::new();
    let history = fit(&model, &mut opt, &data, Some(&blobs(20, 2)), &config, &mut |p| events.push(p)).unwrap();
    assert_eq!(events.len(), 3 * (1 + 4 + 1));
    assert_eq!(events[0], Progress::EpochStart { epoch: 1, epochs: 3, steps: 4 });
    let Progress::Batch { epoch: 1, step: 4, steps: 4, running_loss, .. } = events[4] else {
        panic!("{:?}", events[4])
    };
    let Progress::EpochEnd(record) = &events[5] else { panic!("{:?}", events[5]) };
    assert_eq!(record, &history.epochs[0]);
    assert!((running_loss - record.train_loss).abs() < 1e-6, "the last running loss is the epoch's loss");
    assert_eq!(history.epochs.iter().map(|e| e.epoch).collect::<Vec<_>>(), vec![1, 2, 3]);
    assert!(history.epochs.iter().all(|e| e.lr == 0.2 && e.val_loss.is_some() && e.val_metric.is_some()));
    assert!(history.wall_time() > std::time::Duration::ZERO);

    let none = fit(&model, &mut opt, &data, None, &FitConfig { epochs: 0, ..config }, &mut |_| {}).unwrap();
    assert!(none.epochs.is_empty());
    let no_val =
        fit(&model, &mut opt, &data, None, &FitConfig { epochs: 1, metric: MetricKind::None, ..config }, &mut |_| {})
            .unwrap();
    assert_eq!((no_val.epochs[0].val_loss, no_val.epochs[0].train_metric), (None, None));
}

#[test]
fn a_seed_fixes_the_run_and_another_seed_changes_it() {
    let data = blobs(64, 3);
    let run = |seed| {
        let model = mlp(7, 2, 2);
        let mut opt = sgd(&model, 0.3);
        let config = FitConfig { epochs: 2, batch_size: 10, seed, ..FitConfig::default() };
        let h = fit(&model, &mut opt, &data, None, &config, &mut |_| {}).unwrap();
        (weights(&model), h.train_losses())
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).0, run(2).0);
    // Without shuffling the seed does not matter.
    let unshuffled = |seed| {
        let model = mlp(7, 2, 2);
        let mut opt = sgd(&model, 0.3);
        let config = FitConfig { epochs: 2, batch_size: 10, seed, shuffle: false, ..FitConfig::default() };
        fit(&model, &mut opt, &data, None, &config, &mut |_| {}).unwrap();
        weights(&model)
    };
    assert_eq!(unshuffled(1), unshuffled(2));
}

#[test]
fn frozen_layers_keep_their_weights() {
    let (model, data) = (mlp(1, 2, 2), blobs(40, 4));
    let first = model.get(0).unwrap().parameters();
    first.iter().for_each(|p| p.set_requires_grad(false).unwrap());
    let before = weights(&model);
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr: 0.05, ..Default::default() });
    fit(&model, &mut opt, &data, None, &FitConfig { epochs: 2, batch_size: 8, ..FitConfig::default() }, &mut |_| {})
        .unwrap();
    let after = weights(&model);
    assert_eq!(before[..2], after[..2], "the frozen layer is untouched");
    assert_ne!(before[2..], after[2..], "the trainable layer learned");
    assert!(first.iter().all(|p| p.grad().is_none()), "no gradient is computed for a frozen layer");

    model.parameters().iter().for_each(|p| p.set_requires_grad(false).unwrap());
    let err = fit(&model, &mut opt, &data, None, &FitConfig::default(), &mut |_| {}).unwrap_err().to_string();
    assert!(err.contains("no parameter") && err.contains("unfreeze"), "{err}");
}

#[test]
fn a_nan_sample_stops_training_with_the_weights_of_the_previous_step() {
    let n = 8;
    let mut x: Vec<f32> = (0..2 * n).map(|i| i as f32 / 10.0).collect();
    x[2 * 5] = f32::NAN; // sample 5: in the third batch of 2
    let y = Tensor::from_vec((0..n).map(|i| i as f32).collect(), &[n, 1]).unwrap();
    let data = Dataset::new(Tensor::from_vec(x, &[n, 2]).unwrap(), Targets::Values(y)).unwrap();
    // No ReLU here: graft's relu maps NaN to 0 (PyTorch's keeps NaN), which would hide the NaN
    // input from the loss.
    let mut rng = Rng::new(2);
    let model = Sequential::new().layer(Linear::new(2, 4, &mut rng)).layer(Linear::new(4, 1, &mut rng));
    let mut opt = Sgd::new(model.parameters(), SgdConfig { lr: 0.01, momentum: 0.9, ..Default::default() });
    let config = FitConfig {
        epochs: 2,
        batch_size: 2,
        shuffle: false,
        loss: LossKind::Mse,
        metric: MetricKind::None,
        ..FitConfig::default()
    };
    let initial = weights(&model);
    let mut snapshots = Vec::new();
    let err = fit(&model, &mut opt, &data, None, &config, &mut |p| {
        if let Progress::Batch { step, .. } = p {
            snapshots.push((step, weights(&model)));
        }
    })
    .unwrap_err();
    let NnError::NonFinite { epoch, step, loss } = err else { panic!("expected NonFinite, got {err}") };
    assert_eq!((epoch, step), (1, 3));
    assert!(loss.is_nan());
    assert_eq!(snapshots.len(), 2);
    assert_ne!(snapshots[1].1, initial, "two steps were taken");
    assert_eq!(weights(&model), snapshots[1].1, "the weights are those after step 2");
    assert!(weights(&model).iter().flatten().all(|v| v.is_finite()));
    assert!(NnError::NonFinite { epoch, step, loss }.to_string().contains("epoch 1, step 3"));
}

#[test]
fn a_diverging_learning_rate_stops_training_before_the_bad_step() {
    let (model, data) = (mlp(3, 2, 1), regression(64));
    let mut opt = sgd(&model, 1e12);
    let config =
        FitConfig { epochs: 5, batch_size: 16, loss: LossKind::Mse, metric: MetricKind::None, ..FitConfig::default() };
    let mut last = (0, weights(&model));
    let err = fit(&model, &mut opt, &data, None, &config, &mut |p| {
        if let Progress::Batch { epoch, step, .. } = p {
            last = (epoch * 100 + step, weights(&model));
        }
    })
    .unwrap_err();
    let NnError::NonFinite { epoch, step, loss } = err else { panic!("expected NonFinite, got {err}") };
    assert!(!loss.is_finite());
    assert_eq!(last.0 + 1, epoch * 100 + step, "it stops at the step after the last completed one");
    assert_eq!(weights(&model), last.1, "the weights are those after the previous step");
}

/// A linear layer that records the mode it is in each time it runs.
struct Probe {
    inner: Linear,
    training: AtomicBool,
    seen: Arc<Mutex<Vec<bool>>>,
}

impl Module for Probe {
    fn forward(&self, x: &Tensor) -> EngineResult<Tensor> {
        self.seen.lock().unwrap().push(self.training.load(Ordering::Relaxed));
        self.inner.forward(x)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.inner.named_parameters()
    }
    fn set_training(&self, on: bool) {
        self.training.store(on, Ordering::Relaxed)
    }
    fn is_training(&self) -> bool {
        self.training.load(Ordering::Relaxed)
    }
    fn spec(&self) -> String {
        self.inner.spec()
    }
    fn clone_module(&self) -> EngineResult<Box<dyn Module>> {
        self.inner.clone_module()
    }
}

#[test]
fn fit_trains_in_train_mode_evaluates_in_eval_mode_and_restores_the_mode() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let probe =
        Probe { inner: Linear::new(2, 2, &mut Rng::new(0)), training: AtomicBool::new(false), seen: seen.clone() };
    let (train, val) = (blobs(8, 1), blobs(4, 2));
    let mut opt = sgd(&probe, 0.1);
    let config = FitConfig { epochs: 1, batch_size: 4, ..FitConfig::default() };
    fit(&probe, &mut opt, &train, Some(&val), &config, &mut |_| {}).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![true, true, false], "two training steps, then validation");
    assert!(!probe.is_training(), "eval mode restored");

    probe.set_training(true);
    seen.lock().unwrap().clear();
    let r = evaluate(&probe, &val, 3, LossKind::CrossEntropy, MetricKind::Accuracy).unwrap();
    assert_eq!(*seen.lock().unwrap(), vec![false, false]);
    assert!(probe.is_training(), "train mode restored after evaluate");
    assert!(r.loss.is_finite() && (0.0..=1.0).contains(&r.metric.unwrap()));

    // Also restored when training fails.
    let bad = Dataset::new(Tensor::full(&[2, 2], f32::NAN), Targets::Classes(vec![0, 1])).unwrap();
    probe.set_training(false);
    assert!(matches!(fit(&probe, &mut opt, &bad, None, &config, &mut |_| {}), Err(NnError::NonFinite { .. })));
    assert!(!probe.is_training());
}

#[test]
fn losses_and_metrics_must_suit_the_targets() {
    let (model, classes, values) = (mlp(0, 2, 2), blobs(8, 1), regression(8));
    let mut opt = sgd(&model, 0.1);
    let check = |r: graft_nn::Result<_>, want: &[&str]| {
        let err = r.map(|_: graft_nn::train::History| ()).unwrap_err().to_string();
        assert!(want.iter().all(|w| err.contains(w)), "{err}");
    };
    let mse = FitConfig { loss: LossKind::Mse, metric: MetricKind::None, ..FitConfig::default() };
    check(
        fit(&model, &mut opt, &classes, None, &mse, &mut |_| {}),
        &["Mse", "class labels", "cross-entropy", "TargetKind::Values"],
    );
    let ce = FitConfig::default();
    check(fit(&model, &mut opt, &values, None, &ce, &mut |_| {}), &["CrossEntropy", "values of shape [8, 1]"]);
    check(fit(&model, &mut opt, &classes, Some(&values), &ce, &mut |_| {}), &["validation set"]);
    let acc = FitConfig { metric: MetricKind::Accuracy, ..mse };
    check(
        fit(&model, &mut opt, &values, None, &acc, &mut |_| {}),
        &["Accuracy", "binary accuracy", "TargetKind::Classes"],
    );
    check(fit(&model, &mut opt, &classes, None, &FitConfig { batch_size: 0, ..ce }, &mut |_| {}), &["batch size"]);
    check(fit(&model, &mut opt, &classes.subset(&[]).unwrap(), None, &ce, &mut |_| {}), &["empty"]);
    assert!(evaluate(&model, &values, 4, LossKind::CrossEntropy, MetricKind::None).is_err());
}

#[test]
fn binary_targets_of_one_value_per_sample_train_with_bce() {
    let mut rng = Rng::new(9);
    let x = Tensor::randn(&[128, 2], 0.0, 1.0, &mut rng);
    let y: Vec<f32> = x.to_vec().unwrap().chunks(2).map(|p| f32::from(u8::from(p[0] - p[1] > 0.0))).collect();
    let data = Dataset::new(x, Targets::Values(Tensor::from_vec(y, &[128]).unwrap())).unwrap(); // [n], model gives [n, 1]
    let model = mlp(4, 2, 1);
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr: 0.05, ..Default::default() });
    let config = FitConfig {
        epochs: 15,
        batch_size: 16,
        loss: LossKind::BceWithLogits,
        metric: MetricKind::BinaryAccuracy,
        ..FitConfig::default()
    };
    let h = fit(&model, &mut opt, &data, Some(&data), &config, &mut |_| {}).unwrap();
    let last = h.last().unwrap();
    assert!(last.train_loss < 0.5 * h.epochs[0].train_loss, "{:?}", h.train_losses());
    assert!(last.val_metric.unwrap() > 0.9, "{last:?}");

    // Regression with MSE on the same machinery.
    let (model, data) = (mlp(5, 2, 1), regression(128));
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr: 0.02, ..Default::default() });
    let config = FitConfig { epochs: 20, batch_size: 16, loss: LossKind::Mse, metric: MetricKind::None, ..config };
    let h = fit(&model, &mut opt, &data, None, &config, &mut |_| {}).unwrap();
    assert!(h.last().unwrap().train_loss < 0.1 * h.epochs[0].train_loss, "{:?}", h.train_losses());
}
