//! An MLP and a small convnet learn Fashion-MNIST (a 1800/450-image subset shipped in
//! `tests/data/fashion-mnist-small`) within seconds: the loss falls and test accuracy rises
//! far above chance (10%).

use graft_engine::{Pool2dOptions, Rng};
use graft_nn::data::{load_idx, Dataset, LoadOptions};
use graft_nn::layers::{Conv2d, Flatten, Linear, MaxPool2d, Relu};
use graft_nn::optim::{Adam, AdamConfig};
use graft_nn::train::{evaluate, fit, FitConfig, History, LossKind, MetricKind, Progress};
use graft_nn::{Module, Sequential};
use std::path::PathBuf;
use std::time::Instant;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/fashion-mnist-small")
}

fn load(split: &str, options: &LoadOptions) -> Dataset {
    let dir = data_dir();
    load_idx(
        dir.join(format!("{split}-images-idx3-ubyte.gz")),
        dir.join(format!("{split}-labels-idx1-ubyte.gz")),
        options,
    )
    .expect("the Fashion-MNIST subset ships with the repository")
}

/// Trains `model` and checks that it learned; returns the history.
fn train_and_check(name: &str, model: &dyn Module, options: LoadOptions, epochs: usize, lr: f32) -> History {
    let (train, test) = (load("train", &options), load("test", &options));
    assert_eq!((train.len(), test.len(), train.num_classes()), (1800, 450, Some(10)));
    let before = evaluate(model, &test, 256, LossKind::CrossEntropy, MetricKind::Accuracy).unwrap();
    let mut opt = Adam::new(model.parameters(), AdamConfig { lr, ..Default::default() });
    let config = FitConfig { epochs, batch_size: 32, seed: 1, ..FitConfig::default() };
    let (mut steps, mut ends) = (0, 0);
    let start = Instant::now();
    let history = fit(model, &mut opt, &train, Some(&test), &config, &mut |p| match p {
        Progress::Batch { .. } => steps += 1,
        Progress::EpochEnd(_) => ends += 1,
        Progress::EpochStart { .. } => {}
    })
    .unwrap();
    let elapsed = start.elapsed();
    assert_eq!((steps, ends), (epochs * 1800usize.div_ceil(32), epochs));
    for e in &history.epochs {
        eprintln!(
            "{name} epoch {}: train loss {:.3} acc {:.3} | test loss {:.3} acc {:.3} | {:?}",
            e.epoch,
            e.train_loss,
            e.train_metric.unwrap(),
            e.val_loss.unwrap(),
            e.val_metric.unwrap(),
            e.wall_time
        );
    }
    eprintln!(
        "{name}: before training test loss {:.3} acc {:.3}; {epochs} epochs in {elapsed:?}",
        before.loss,
        before.metric.unwrap()
    );
    let (first, last) = (&history.epochs[0], history.last().unwrap());
    assert!(
        last.train_loss < 0.8 * first.train_loss,
        "{name}: training loss did not fall: {:?}",
        history.train_losses()
    );
    assert!(
        last.val_loss.unwrap() < 0.5 * before.loss,
        "{name}: test loss {} vs {} before",
        last.val_loss.unwrap(),
        before.loss
    );
    assert!(last.val_metric.unwrap() > 0.7, "{name}: test accuracy {}", last.val_metric.unwrap());
    assert!(last.train_metric.unwrap() > first.train_metric.unwrap());
    history
}

#[test]
fn an_mlp_learns_fashion_mnist() {
    let mut rng = Rng::new(0);
    let model =
        Sequential::new().layer(Linear::new(784, 64, &mut rng)).layer(Relu).layer(Linear::new(64, 10, &mut rng));
    train_and_check("mlp", &model, LoadOptions::flat(), 4, 2e-3);
}

#[test]
fn a_convnet_learns_fashion_mnist() {
    let mut rng = Rng::new(0);
    let model = Sequential::new()
        .layer(Conv2d::new(1, 8, 3, 1, 0, &mut rng))
        .layer(Relu)
        .layer(MaxPool2d(Pool2dOptions::square(2)))
        .layer(Flatten)
        .layer(Linear::new(8 * 13 * 13, 10, &mut rng));
    train_and_check("convnet", &model, LoadOptions::chw(), 4, 2e-3);
}
