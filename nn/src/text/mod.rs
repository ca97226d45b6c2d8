//! Text to model inputs: BERT's WordPiece tokenizer, and batches of encodings as tensors.

mod chars;
mod tfidf;
mod wordpiece;

pub use tfidf::TfIdf;
pub use wordpiece::{Encoding, TokenizerError, WordPiece};

use graft_engine::{Result, Tensor};

/// Token ids and attention masks of equally long `encodings` (as
/// [`WordPiece::encode_batch`] pads them) as two `[batch, seq]` f32 tensors, the inputs of
/// [`BertModel::sentence_embeddings`](crate::bert::BertModel::sentence_embeddings).
pub fn encodings_to_tensors(encodings: &[Encoding]) -> Result<(Tensor, Tensor)> {
    let seq = encodings.first().map_or(0, |e| e.ids.len());
    if let Some(bad) = encodings.iter().find(|e| e.ids.len() != seq || e.attention_mask.len() != seq) {
        return Err(graft_engine::Error::BadShape {
            op: "encodings_to_tensors",
            shape: vec![encodings.len(), seq],
            reason: format!(
                "an encoding has {} ids where the first has {seq}: encode them together with encode_batch, which pads",
                bad.ids.len()
            ),
        });
    }
    let ids = encodings.iter().flat_map(|e| e.ids.iter().map(|&i| i as f32)).collect();
    let mask = encodings.iter().flat_map(|e| e.attention_mask.iter().map(|&m| m as f32)).collect();
    Ok((Tensor::from_vec(ids, &[encodings.len(), seq])?, Tensor::from_vec(mask, &[encodings.len(), seq])?))
}
