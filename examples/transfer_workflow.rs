//! The README's library walk-through, compiled and runnable:
//! reuse model A's lower layers for task B, freeze, train the head, then fine-tune.
//!
//! Run: `cargo run --release --example transfer_workflow`

use graft::nn::data::{load_idx, LoadOptions, TargetKind};
use graft::nn::{
    model_file::load_model,
    spec::parse_spec,
    train::{LossKind, MetricKind},
};
use graft::transfer::{clone_model, drop_top_units, graft_head, output_shape, run_schedule, Schedule};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = LoadOptions::chw().targets(TargetKind::Classes);
    let train = load_idx("data/demo/taskb-train-images.idx.gz", "data/demo/taskb-train-labels.idx.gz", &opts)?;
    let val = load_idx("data/demo/taskb-val-images.idx.gz", "data/demo/taskb-val-labels.idx.gz", &opts)?;

    let model_a = load_model("data/demo/model_a.safetensors")?; // architecture from the file
    let trunk = drop_top_units(&clone_model(&model_a)?, 1)?; // deep copy, minus the output layer
    let features = output_shape(&trunk, train.sample_shape())?; // [100]
    let head = parse_spec(&format!("linear({},2)", features[0]), 0)?;
    let model = graft_head(&trunk, &head, train.sample_shape())?; // checks the head fits

    // Freeze the trunk and train the head; then unfreeze the top reused layer at a lower rate.
    let schedule = Schedule {
        phases: Schedule::freeze_then_finetune(trunk.len(), 1, (4, 1e-2), (16, 1e-3)),
        batch_size: 32,
        loss: LossKind::CrossEntropy,
        metric: MetricKind::Accuracy,
        seed: 0,
        feature_cache: true, // the frozen prefix is computed once
    };
    let result = run_schedule(&model, &schedule, &train, Some(&val), &mut |_| {})?;
    for p in &result.phases {
        println!("{}: lr {} val acc {:?}", p.name, p.lr, p.history.last().and_then(|e| e.val_metric));
    }
    Ok(())
}
