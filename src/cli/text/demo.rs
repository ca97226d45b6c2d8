//! `graft text-transfer --demo`: the baselines and the sweep over unfrozen layers.

use super::super::transfer_report::{baseline, sweep_unfrozen_units, Curves, Row, UnfreezeSweep};
use super::super::CliResult;
use super::{TextArgs, TextSplit};
use graft::nn::bert::BertConfig;
use graft::nn::data::Dataset;
use graft::nn::optim::AdamConfig;
use graft::nn::spec::parse_spec;
use graft::nn::text::TfIdf;
use graft::nn::Sequential;
use graft::transfer::{OptimizerSpec, SweepData};

/// TF-IDF terms the bag-of-words baseline keeps, and the documents a term must appear in.
const TFIDF_FEATURES: usize = 5000;
const TFIDF_MIN_DF: usize = 2;
/// Learning rates tried for the baselines, the best on validation kept: plain SGD for the
/// TF-IDF head (its unit rows spread over thousands of terms, so it needs larger steps than a
/// head on 384 dense features), Adam for the transformer trained from scratch.
const TFIDF_LRS: [f32; 5] = [1.0, 3.0, 10.0, 30.0, 100.0];
const SCRATCH_LRS: [f32; 3] = [3e-4, 1e-3, 3e-3];

pub(super) fn run(
    a: &TextArgs,
    encoder: &Sequential,
    config: &BertConfig,
    [train_s, val_s, test_s]: [&TextSplit; 3],
    rows: &mut Vec<Row>,
    all_curves: &mut Vec<(String, Curves)>,
) -> CliResult<()> {
    let device = graft::nn::module_device(encoder);
    // Baseline 1: the same head on TF-IDF features of the same split.
    fn texts(s: &TextSplit) -> Vec<&str> {
        s.texts.iter().map(String::as_str).collect()
    }
    let tfidf = TfIdf::fit(&texts(train_s), TFIDF_FEATURES, TFIDF_MIN_DF)?;
    let features = |s: &TextSplit| -> CliResult<Dataset> {
        Ok(Dataset::new(tfidf.transform(&texts(s))?, s.data.targets().clone())?.to_device(&device)?)
    };
    let (tr, va, te) = (features(train_s)?, features(val_s)?, features(test_s)?);
    // Each baseline gets its learning rate chosen on validation, as the sweep chooses ours.
    let make_head = || -> CliResult<Sequential> {
        let head = parse_spec(&format!("linear({},2)", tfidf.num_features()), a.seed)?;
        graft::nn::move_to_device(&head, &device)?;
        Ok(head)
    };
    let sgd = TFIDF_LRS.map(OptimizerSpec::sgd);
    let terms = tfidf.num_features();
    let describe = |lr| format!("TF-IDF ({terms} terms) + head ({} ep @ {lr}, lr by val)", a.head_epochs);
    let (row, head_curves) =
        baseline(&make_head, &sgd, "tf-idf head", a.head_epochs, (&tr, &va, &te), a.seed, &describe)?;
    rows.insert(0, row);
    all_curves.push(("tfidf_head".into(), head_curves));

    // Baseline 2: a small transformer (one 64-wide layer) trained from scratch on the tokens.
    let vocab = config.vocab_size;
    let spec = format!(
        "bert_embeddings({vocab},64,positions={}),bert_layer(64,heads=4,intermediate=256),masked_mean_pool,linear(64,2)",
        a.max_len
    );
    let epochs = a.head_epochs;
    // Adam, as transformers are trained from scratch (plain SGD left it at chance).
    let make_scratch = || -> CliResult<Sequential> {
        let scratch = parse_spec(&spec, a.seed)?;
        graft::nn::move_to_device(&scratch, &device)?;
        Ok(scratch)
    };
    let adam = SCRATCH_LRS.map(|lr| OptimizerSpec::Adam(AdamConfig { lr, ..AdamConfig::default() }));
    let data = (&train_s.data, &val_s.data, &test_s.data);
    let describe = |lr| format!("small transformer from scratch ({epochs} ep, Adam @ {lr}, lr by val)");
    let (row, scratch_curves) = baseline(&make_scratch, &adam, "from scratch", epochs, data, a.seed, &describe)?;
    rows.insert(1, row);
    all_curves.push(("from_scratch".into(), scratch_curves));

    // The sweep: how many top encoder layers to unfreeze, and at which rate.
    let plan = UnfreezeSweep {
        unfreeze: &a.sweep_unfreeze,
        finetune_lrs: &a.sweep_lrs,
        head_epochs: a.head_epochs,
        head_lr: a.head_lr,
        finetune_epochs: a.finetune_epochs,
        seed: a.seed,
    };
    let data = SweepData { train: &train_s.data, val: &val_s.data, test: &test_s.data };
    let head = format!("linear({},2)", config.hidden_size);
    rows.push(sweep_unfrozen_units(encoder, &head, data, &plan, "layers")?);
    Ok(())
}
