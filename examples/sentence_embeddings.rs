//! The README's text workflow in code: sentence embeddings from all-MiniLM-L6-v2, and the
//! encoder with a new head, ready to fine-tune its top layer.
//!
//! `bash scripts/fetch-minilm.sh`, then `cargo run --release --example sentence_embeddings`.

use graft::nn::bert::BertModel;
use graft::nn::text::{encodings_to_tensors, WordPiece};
use graft::nn::{spec::parse_spec, Module};
use graft::transfer::{graft_head, TrainableMask};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new("models/all-MiniLM-L6-v2");
    let tokenizer = WordPiece::from_dir(dir)?;
    let texts = ["Win a free prize!!! Click now", "Are we still on for lunch at 12?", "Claim your free prize today"];
    let (ids, mask) = encodings_to_tensors(&tokenizer.encode_batch(&texts, 64)?)?;
    let bert = BertModel::load(dir)?;
    let e = bert.sentence_embeddings(&ids, &mask)?.to_vec()?; // [3, 384], unit rows
    let cosine = |a: usize, b: usize| (0..384).map(|i| e[a * 384 + i] * e[b * 384 + i]).sum::<f32>();
    println!("cosine(prize, lunch) = {:.3}, cosine(prize, prize) = {:.3}", cosine(0, 1), cosine(0, 2));

    let encoder = bert.into_sequential(); // embeddings, encoder.layer.0..5, pooling, normalize
    let model = graft_head(&encoder, &parse_spec("linear(384,2)", 0)?, &[2, 64])?; // [batch, 2 (ids, mask), 64]
    TrainableMask::head_and_top_units(&model, 7, 1).apply(&model)?; // the head and encoder.layer.5.* train
    println!("{} of {} parameters train", model.trainable_parameters().len(), model.parameters().len());
    Ok(())
}
