//! The reuse-pretrained-layers workflow end to end on the demo's real task B data
//! (Fashion-MNIST T-shirt vs pullover, shipped in `data/demo`).

use graft::engine::{op_stats, reset_op_stats, Rng};
use graft::nn::data::{load_idx, Dataset, LoadOptions, TargetKind};
use graft::nn::layers::{Linear, Relu};
use graft::nn::train::{LossKind, MetricKind};
use graft::nn::{Module, Sequential};
use graft::transfer::{
    cacheable_prefix, clone_model, drop_top_units, graft_head, keep_units, run_schedule, set_training_mode, Schedule,
    TrainableMask,
};

fn demo(split: &str) -> Dataset {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/data/demo");
    load_idx(
        format!("{dir}/taskb-{split}-images.idx.gz"),
        format!("{dir}/taskb-{split}-labels.idx.gz"),
        &LoadOptions::flat().targets(TargetKind::Classes),
    )
    .expect("the demo data ships with the repository")
}

/// A stand-in for model A: flatten-free MLP 784-32-32-8 with seeded weights.
fn pretrained(seed: u64) -> Sequential {
    let mut rng = Rng::new(seed);
    Sequential::new()
        .layer(Linear::new(784, 32, &mut rng))
        .layer(Relu)
        .layer(Linear::new(32, 32, &mut rng))
        .layer(Relu)
        .layer(Linear::new(32, 8, &mut rng))
}

fn new_head(seed: u64) -> Sequential {
    Sequential::new().layer(Linear::new(32, 2, &mut Rng::new(seed)))
}

fn values(m: &dyn Module) -> Vec<Vec<f32>> {
    m.parameters().iter().map(|p| p.to_vec().unwrap()).collect()
}

#[test]
fn training_a_clone_never_changes_the_original() {
    let original = pretrained(1);
    let before = values(&original);
    let model =
        graft_head(&drop_top_units(&clone_model(&original).unwrap(), 1).unwrap(), &new_head(2), &[784]).unwrap();
    let schedule = Schedule {
        phases: Schedule::freeze_then_finetune(4, 2, (1, 0.05), (1, 0.05)),
        batch_size: 32,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed: 0,
        feature_cache: false,
    };
    run_schedule(&model, &schedule, &demo("train"), None, &mut |_| {}).unwrap();
    assert_eq!(values(&original), before, "the original's weights are untouched");
    assert_ne!(values(&model.slice(..4)), values(&original.slice(..4)), "the clone's reused layers did train");
}

#[test]
fn slicing_by_units_and_grafting_check_the_fit() {
    let a = pretrained(3);
    assert_eq!(keep_units(&a, 2).unwrap().len(), 4);
    assert_eq!(drop_top_units(&a, 1).unwrap().spec(), "linear(784,32),relu,linear(32,32),relu");
    let trunk = keep_units(&a, 1).unwrap();
    let err = graft_head(&trunk, &Sequential::new().layer(Linear::new(100, 2, &mut Rng::new(0))), &[784]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("does not fit the trunk's output") && msg.contains("[32]"), "{msg}");
    assert!(keep_units(&a, 4).unwrap_err().to_string().contains("only 3 layers"));
}

#[test]
fn a_mask_that_names_nothing_is_refused() {
    let a = pretrained(4);
    let msg = TrainableMask::pattern(&a, "features.*").unwrap_err().to_string();
    assert!(msg.contains("selects no parameter") && msg.contains("0.weight"), "{msg}");
    let m = TrainableMask::pattern(&a, "2.*").unwrap();
    m.apply(&a).unwrap();
    assert_eq!(a.trainable_parameters().len(), 2);
}

#[test]
fn a_frozen_trunk_does_no_backward_work_below_the_head() {
    let model = graft_head(&drop_top_units(&pretrained(5), 1).unwrap(), &new_head(6), &[784]).unwrap();
    TrainableMask::from_layer(&model, 4).apply(&model).unwrap();
    set_training_mode(&model, true);
    let data = demo("train");
    let batch = data.subset(&(0..32).collect::<Vec<_>>()).unwrap();
    let labels = batch.targets().as_classes().unwrap().to_vec();
    let loss = graft::nn::loss::cross_entropy(&model.forward(batch.x()).unwrap(), &labels).unwrap();
    reset_op_stats();
    loss.backward().unwrap();
    let stats = op_stats();
    assert_eq!(stats.backward_launches("matmul"), 1, "only the head's ∂W: {stats:?}");
    assert_eq!(stats.backward_launches("relu"), 0, "nothing flows into the trunk: {stats:?}");
    for p in model.slice(..4).parameters() {
        assert!(p.grad().is_none());
    }
}

#[test]
fn two_phase_schedule_records_its_learning_rates() {
    let model = graft_head(&drop_top_units(&pretrained(7), 1).unwrap(), &new_head(8), &[784]).unwrap();
    let schedule = Schedule {
        phases: Schedule::freeze_then_finetune(4, 2, (2, 1e-3), (3, 1e-4)),
        batch_size: 32,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed: 1,
        feature_cache: true,
    };
    let result = run_schedule(&model, &schedule, &demo("train"), Some(&demo("val")), &mut |_| {}).unwrap();
    let lrs: Vec<f32> = result.phases.iter().map(|p| p.lr).collect();
    assert_eq!(lrs, vec![1e-3, 1e-4]);
    let epoch_lrs: Vec<f32> = result.phases.iter().flat_map(|p| p.history.epochs.iter().map(|e| e.lr)).collect();
    assert_eq!(epoch_lrs, vec![1e-3, 1e-3, 1e-4, 1e-4, 1e-4]);
    assert_eq!(result.phases[0].trainable, vec!["4.weight", "4.bias"]);
    assert_eq!(result.phases[0].cached_layers, 4, "the frozen trunk was cached in the head phase");
    assert_eq!(result.phases[1].trainable.len(), 6);
    assert!(result.final_val_metric().is_some());
}

#[test]
fn the_feature_cache_gives_exactly_the_uncached_result() {
    let run = |cache: bool| {
        let model = graft_head(&drop_top_units(&pretrained(9), 1).unwrap(), &new_head(10), &[784]).unwrap();
        let schedule = Schedule {
            phases: Schedule::freeze_then_finetune(4, 1, (3, 0.05), (0, 0.0)),
            batch_size: 32,
            loss: LossKind::CrossEntropy,
            metric: MetricKind::Accuracy,
            seed: 2,
            feature_cache: cache,
        };
        let r = run_schedule(&model, &schedule, &demo("train"), Some(&demo("val")), &mut |_| {}).unwrap();
        (values(&model), r.phases[0].history.epochs.iter().map(|e| (e.train_loss, e.val_metric)).collect::<Vec<_>>())
    };
    let (cached_w, cached_h) = run(true);
    let (plain_w, plain_h) = run(false);
    assert_eq!(cached_w, plain_w, "bit-identical weights");
    assert_eq!(cached_h, plain_h, "identical learning curves");
}

#[test]
fn the_cacheable_prefix_stops_at_the_first_trainable_layer() {
    let model = pretrained(11);
    TrainableMask::from_layer(&model, 2).apply(&model).unwrap();
    assert_eq!(cacheable_prefix(&model), 2);
    TrainableMask::all(&model, true).apply(&model).unwrap();
    assert_eq!(cacheable_prefix(&model), 0);
}

#[test]
fn a_parallel_sweep_gives_the_sequential_results_and_chooses_by_validation() {
    use graft::transfer::{sweep, SweepConfig, SweepData, UNFREEZE_ALL};
    let (train, val, test) = (demo("train"), demo("val"), demo("test"));
    let trunk = drop_top_units(&pretrained(12), 1).unwrap();
    let head = |f: &[usize]| -> graft::transfer::Result<Sequential> {
        Ok(Sequential::new().layer(Linear::new(f.iter().product(), 2, &mut Rng::new(13))))
    };
    let run = |parallel: bool| {
        let config = SweepConfig {
            reuse: vec![0, 1, 2],
            unfreeze: vec![0, UNFREEZE_ALL],
            finetune_lrs: vec![1e-3, 1e-2],
            head_epochs: 1,
            head_lr: 0.01,
            finetune_epochs: 1,
            batch_size: 32,
            loss: LossKind::CrossEntropy,
            metric: MetricKind::Accuracy,
            seed: 3,
            feature_cache: true,
            parallel,
        };
        sweep(&trunk, &head, SweepData { train: &train, val: &val, test: &test }, &config).unwrap()
    };
    let (par, seq) = (run(true), run(false));
    let key = |r: &graft::transfer::SweepReport| {
        r.trials.iter().map(|t| (t.reuse, t.unfreeze, t.finetune_lr, t.val_metric, t.test_metric)).collect::<Vec<_>>()
    };
    assert_eq!(key(&par), key(&seq), "trials are independent and reproducible from their seed");
    // reuse 0 has only "unfreeze 0": (0,0)x2 + (1,0),(1,1)x2 + (2,0),(2,2)x2 = 10 trials.
    assert_eq!(par.trials.len(), 10);
    let best_val = par.trials.iter().map(|t| t.val_metric).fold(f32::MIN, f32::max);
    assert_eq!(par.best().val_metric, best_val);
}
