//! `graft text-transfer`: a pretrained BERT sentence encoder (Hugging Face directory, e.g.
//! all-MiniLM-L6-v2) reused for text classification on the SpamAssassin corpus.
//!
//! The encoder runs frozen once over the corpus (a progress bar per split) and a new 2-way
//! head trains on the cached sentence embeddings; then the head and the top encoder layer(s)
//! train together at a lower rate. `--demo` adds the baselines (the same head on TF-IDF
//! features, a small transformer trained from scratch) and a sweep over how many top layers to
//! unfreeze, selected on validation.

mod demo;

use super::svg::write_curves;
use super::transfer_report::{accuracy, curves, embed, train, Row};
use super::{model, CliResult, DeviceChoice};
use clap::Args;
use graft::engine::Tensor;
use graft::nn::bert::BertModel;
use graft::nn::data::text::{load_spam_assassin, split_examples, TextExample};
use graft::nn::data::{Dataset, Targets};
use graft::nn::save_model;
use graft::nn::text::{encodings_to_tensors, WordPiece};
use graft::transfer::{clone_model, graft_head, OptimizerSpec, Phase, Trainable};
use std::path::PathBuf;
use std::time::Instant;

#[derive(Args, Debug)]
pub struct TextArgs {
    /// A Hugging Face BERT directory (config.json, model.safetensors or pytorch_model.bin,
    /// tokenizer.json or vocab.txt).
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    model: PathBuf,
    /// The SpamAssassin corpus (one folder per group of JSON messages).
    #[arg(long, default_value = "data/spam-assassin")]
    data: PathBuf,
    /// Train, validation and test sizes, drawn stratified from the corpus.
    #[arg(long, value_delimiter = ',', default_value = "200,500,1000", value_name = "TRAIN,VAL,TEST")]
    sizes: Vec<usize>,
    /// Tokens per message ([CLS] and [SEP] included); longer messages are truncated.
    #[arg(long, default_value_t = 128)]
    max_len: usize,
    /// Epochs and learning rate (plain SGD, as the sweep's phases) of the head on the frozen
    /// encoder.
    #[arg(long, default_value_t = 30)]
    head_epochs: usize,
    #[arg(long, default_value_t = 1.0)]
    head_lr: f32,
    /// Top encoder layers trained with the head in the fine-tuning phase.
    #[arg(long, default_value_t = 2)]
    unfreeze: usize,
    #[arg(long, default_value_t = 4)]
    finetune_epochs: usize,
    #[arg(long, default_value_t = 0.05)]
    finetune_lr: f32,
    /// Also train the baselines (TF-IDF features, a small transformer from scratch) and sweep
    /// the number of unfrozen layers.
    #[arg(long)]
    demo: bool,
    /// Numbers of top layers the demo's sweep unfreezes.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,3")]
    sweep_unfreeze: Vec<usize>,
    /// Fine-tuning learning rates the demo's sweep tries.
    #[arg(long, value_delimiter = ',', default_value = "0.05")]
    sweep_lrs: Vec<f32>,
    /// Where the fine-tuned model (.safetensors) and the learning curves (SVG) go.
    #[arg(long, default_value = "target/graft-text")]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where to compute: cpu, gpu, or auto (the GPU when one is available, else the CPU).
    #[arg(long, value_enum, ignore_case = true, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
}

/// One split as model inputs: `x` is `[n, 2, seq]` (token ids, then the attention mask).
pub(super) struct TextSplit {
    pub texts: Vec<String>,
    pub data: Dataset,
}

fn tokenize(tok: &WordPiece, examples: Vec<TextExample>, max_len: usize) -> CliResult<TextSplit> {
    let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
    let encodings = tok.encode_batch(&texts, max_len).map_err(|e| match e {
        graft::nn::text::TokenizerError::BatchItem { index, source } => {
            format!("message {}/{}: {source}", examples[index].group, examples[index].id)
        }
        other => other.to_string(),
    })?;
    let (ids, mask) = encodings_to_tensors(&encodings)?;
    let [n, seq] = *ids.shape() else { return Err("token ids are [n, seq]".into()) };
    let x = Tensor::stack(&[ids, mask], 1)?.reshape(&[n, 2, seq])?;
    let labels = examples.iter().map(|e| e.label).collect();
    Ok(TextSplit {
        texts: examples.into_iter().map(|e| e.text).collect(),
        data: Dataset::new(x, Targets::Classes(labels))?,
    })
}

pub fn run(a: TextArgs) -> CliResult<()> {
    let device = model::device(&a.device)?;
    let [train_n, val_n, test_n] = a.sizes[..] else {
        return Err(format!("--sizes takes three sizes, TRAIN,VAL,TEST; got {}", a.sizes.len()).into());
    };
    let bert = BertModel::load(&a.model)?;
    let tok = WordPiece::from_dir(&a.model)?;
    let hidden = bert.config.hidden_size;
    if a.max_len < 2 || a.max_len > bert.config.max_position_embeddings {
        return Err(format!(
            "--max-len {}: the model takes 2..={} tokens per message",
            a.max_len, bert.config.max_position_embeddings
        )
        .into());
    }
    let layers = bert.layers.len();
    let config = bert.config.clone();
    if a.unfreeze > layers {
        return Err(format!("--unfreeze {}: the encoder has {layers} layers", a.unfreeze).into());
    }
    let encoder = bert.into_sequential();
    graft::nn::move_to_device(&encoder, &device)?;
    let corpus = load_spam_assassin(&a.data)?;
    let (messages, spam) = (corpus.len(), corpus.iter().filter(|e| e.label == 1).count());
    let splits = split_examples(corpus, (train_n, val_n, test_n), a.seed)?;
    println!(
        "encoder: {} ({layers} layers, {hidden} features, on {device}); corpus: {} messages, {spam} spam, headers stripped",
        a.model.display(),
        messages
    );
    println!(
        "split (seed {}): {train_n} train, {val_n} validation, {test_n} test; {} tokens per message\n",
        a.seed, a.max_len
    );
    let to_device =
        |s: TextSplit| -> CliResult<TextSplit> { Ok(TextSplit { texts: s.texts, data: s.data.to_device(&device)? }) };
    let train_s = to_device(tokenize(&tok, splits.train, a.max_len)?)?;
    let val_s = to_device(tokenize(&tok, splits.val, a.max_len)?)?;
    let test_s = to_device(tokenize(&tok, splits.test, a.max_len)?)?;

    // 1. Frozen encoder: embed every split once, train a new head on the cached embeddings.
    let started = Instant::now();
    let (train_f, val_f, test_f) = (
        embed(&encoder, &train_s.data, "train", "messages")?,
        embed(&encoder, &val_s.data, "validation", "messages")?,
        embed(&encoder, &test_s.data, "test", "messages")?,
    );
    let embed_time = started.elapsed();
    println!("embedded {} messages in {:.1} s", train_f.len() + val_f.len() + test_f.len(), embed_time.as_secs_f64());
    let head = graft::nn::spec::parse_spec(&format!("linear({hidden},2)"), a.seed)?;
    graft::nn::move_to_device(&head, &device)?;
    let head_phase = Phase {
        name: "head on frozen encoder".into(),
        trainable: Trainable::All,
        optimizer: OptimizerSpec::sgd(a.head_lr),
        epochs: a.head_epochs,
    };
    let r_head = train(&head, vec![head_phase], &train_f, &val_f, a.seed)?;
    let mut rows = vec![Row {
        name: format!("MiniLM frozen + head ({} ep @ {})", a.head_epochs, a.head_lr),
        val: accuracy(&head, &val_f)?,
        test: accuracy(&head, &test_f)?,
        time: r_head.wall_time()
            + embed_time.mul_f64(train_f.len() as f64 / (train_f.len() + val_f.len() + test_f.len()) as f64),
    }];
    let mut all_curves = vec![("head_frozen_encoder".to_string(), curves(&r_head))];

    // 2. Fine-tune: the trained head on the encoder, the top layer(s) unfrozen at a lower rate.
    let model = graft_head(&clone_model(&encoder)?, &head, &[2, a.max_len])?;
    let head_start = encoder.len();
    let phase = Phase {
        name: format!("head + top {}", a.unfreeze),
        trainable: Trainable::HeadAndTopUnits { head_start, k: a.unfreeze },
        optimizer: OptimizerSpec::sgd(a.finetune_lr),
        epochs: a.finetune_epochs,
    };
    let r_ft = train(&model, vec![phase], &train_s.data, &val_s.data, a.seed)?;
    rows.push(Row {
        name: format!("... then top {} unfrozen ({} ep @ {})", a.unfreeze, a.finetune_epochs, a.finetune_lr),
        val: accuracy(&model, &val_s.data)?,
        test: accuracy(&model, &test_s.data)?,
        time: rows[0].time + r_ft.wall_time(),
    });
    all_curves.push(("finetune_top".to_string(), [curves(&r_head), curves(&r_ft)].concat()));
    std::fs::create_dir_all(&a.out)?;
    let model_path = a.out.join("spam_minilm.safetensors");
    save_model(&model, &model_path)?;

    if a.demo {
        demo::run(&a, &encoder, &config, [&train_s, &val_s, &test_s], &mut rows, &mut all_curves)?;
    }

    println!("{:<58} {:>8} {:>8} {:>8}", "configuration", "val_acc", "test_acc", "time_s");
    for row in &rows {
        println!("{:<58} {:>8.4} {:>8.4} {:>8.1}", row.name, row.val, row.test, row.time.as_secs_f64());
    }
    for (name, phases) in &all_curves {
        write_curves(&a.out.join(format!("{name}.svg")), &format!("graft text-transfer: {name}"), phases)?;
    }
    println!("\nfine-tuned model: {}; learning curves in {}/", model_path.display(), a.out.display());
    Ok(())
}
