//! The whole encoder: embeddings, N encoder layers, an optional pooler.

use super::layers::{prefixed, BertEmbeddings, BertLayer, BertPooler, L2Normalize, MaskedMeanPool};
use super::pooling::{l2_normalize, masked_mean_pool};
use super::BertConfig;
use crate::layers::Linear;
use crate::model_file::{inspect, load_state_dict_ignoring};
use crate::module::Module;
use crate::{NnError, Result, Sequential};
use graft_engine::{Error, Rng, Tensor};
use std::path::Path;

/// A BERT encoder (Hugging Face's `BertModel`): `embeddings → layers → pooler`. Parameter names
/// are Hugging Face's (`encoder.layer.3.attention.self.query.weight`), so each encoder layer
/// can be frozen or unfrozen by name, and `model.safetensors` loads by name.
pub struct BertModel {
    pub config: BertConfig,
    pub embeddings: BertEmbeddings,
    pub layers: Vec<BertLayer>,
    /// `pooler.dense` on `[CLS]`; `None` when the file has none (sentence embeddings do not use it).
    pub pooler: Option<BertPooler>,
}

/// File tensors a BERT checkpoint may hold that are not weights: the position ids are always
/// `0..max_position_embeddings`, which graft computes.
const IGNORED: [&str; 2] = ["embeddings.position_ids", "embeddings.token_type_ids"];

impl BertModel {
    /// A randomly initialised encoder (N(0, 0.02) embeddings, PyTorch-default linear layers).
    pub fn new(config: BertConfig, with_pooler: bool, rng: &mut Rng) -> Self {
        let embeddings = BertEmbeddings::new(&config, rng);
        let layers = (0..config.num_hidden_layers).map(|_| BertLayer::new(&config, rng)).collect();
        let pooler =
            with_pooler.then(|| BertPooler { dense: Linear::new(config.hidden_size, config.hidden_size, rng) });
        BertModel { config, embeddings, layers, pooler }
    }

    /// Loads a Hugging Face model directory: `config.json` and `model.safetensors` (or, when
    /// there is none, `pytorch_model.bin` through the safe `.pth` reader), strictly
    /// (every tensor found with the config's shape, nothing unexpected, or one error listing
    /// every problem).
    ///
    /// ```no_run
    /// let model = graft_nn::bert::BertModel::load("models/all-MiniLM-L6-v2")?;
    /// assert_eq!(model.layers.len(), 6);
    /// # Ok::<(), graft_nn::NnError>(())
    /// ```
    pub fn load(dir: impl AsRef<Path>) -> Result<Self> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(NnError::Model(format!(
                "{}: not a directory; a Hugging Face BERT model is a directory with config.json and \
                 model.safetensors (all-MiniLM-L6-v2: run scripts/fetch-minilm.sh)",
                dir.display()
            )));
        }
        let config = BertConfig::from_file(dir.join("config.json"))?;
        // Newer Hub repositories ship safetensors; older ones only PyTorch's pickle, which the
        // restricted `.pth` reader loads without running it.
        let Some(weights) =
            ["model.safetensors", "pytorch_model.bin"].map(|f| dir.join(f)).into_iter().find(|p| p.is_file())
        else {
            return Err(NnError::Model(format!(
                "{}: neither model.safetensors nor pytorch_model.bin is there; graft reads BERT weights from one \
                 of them",
                dir.display()
            )));
        };
        let has_pooler = inspect(&weights)?.tensors.iter().any(|t| t.name.starts_with("pooler."));
        let model = BertModel::new(config, has_pooler, &mut Rng::new(0));
        load_state_dict_ignoring(&model, &weights, &IGNORED)?;
        Ok(model)
    }

    /// The last hidden state `[batch, seq, hidden]` of token ids `[batch, seq]` and their
    /// attention mask (1 = token, 0 = padding; `None`: no padding).
    pub fn encode(&self, ids: &Tensor, mask: Option<&Tensor>) -> graft_engine::Result<Tensor> {
        let h = self.embeddings.embed(ids, None)?;
        self.run_layers(&h, mask, 0..self.layers.len())
    }

    /// Runs encoder layers `range` on hidden states `h`: the model's lower layers can run once
    /// (their output cached) and its upper ones many times.
    pub fn run_layers(
        &self,
        h: &Tensor,
        mask: Option<&Tensor>,
        range: std::ops::Range<usize>,
    ) -> graft_engine::Result<Tensor> {
        if range.end > self.layers.len() || range.start > range.end {
            return Err(Error::BadShape {
                op: "bert_encoder",
                shape: h.shape().to_vec(),
                reason: format!("encoder layers {range:?} asked for, but the model has 0..{}", self.layers.len()),
            });
        }
        let mask = match mask {
            None => None,
            Some(m) => {
                let shape = h.shape();
                if m.shape() != &shape[..shape.len().min(2)] {
                    return Err(Error::ShapeMismatch {
                        op: "bert_encoder",
                        lhs: shape.to_vec(),
                        rhs: m.shape().to_vec(),
                        hint: "the attention mask is [batch, seq] of the token ids".into(),
                    });
                }
                Some(m.to_device(&h.device())?)
            }
        };
        let mut h = h.clone();
        for layer in &self.layers[range] {
            h = layer.forward_masked(&h, mask.as_ref())?;
        }
        Ok(h)
    }

    /// The sentence encoder as a [`Sequential`] that the transfer workflow slices, freezes and
    /// grafts heads onto like any other: `embeddings`, `encoder.layer.0` … `encoder.layer.{N-1}`,
    /// `pooling` ([`MaskedMeanPool`]) and `normalize` ([`L2Normalize`]), so each encoder layer is
    /// one layer unit and parameter names stay Hugging Face's. It takes token ids and attention
    /// mask stacked as `[batch, 2, seq]` and gives the sentence embeddings `[batch, hidden]`;
    /// between its layers the mask travels beside the hidden states as a side input
    /// ([`SideInputs`](crate::SideInputs)), packed as a last column only where a slice ends
    /// inside the encoder. The pooler,
    /// which sentence embeddings do not use, is dropped.
    ///
    /// ```no_run
    /// use graft_nn::{bert::BertModel, Module};
    /// let encoder = BertModel::load("models/all-MiniLM-L6-v2")?.into_sequential();
    /// assert_eq!(encoder.name_of(6), "encoder.layer.5");
    /// assert!(encoder.named_parameters().iter().any(|(n, _)| n == "encoder.layer.5.output.dense.weight"));
    /// # Ok::<(), graft_nn::NnError>(())
    /// ```
    pub fn into_sequential(self) -> Sequential {
        let mut seq = Sequential::new().named_layer("embeddings", self.embeddings);
        for (i, layer) in self.layers.into_iter().enumerate() {
            seq = seq.named_layer(&format!("encoder.layer.{i}"), layer);
        }
        seq.named_layer("pooling", MaskedMeanPool).named_layer("normalize", L2Normalize)
    }

    /// Sentence embeddings `[batch, hidden]`: the last hidden state averaged over the tokens
    /// the mask keeps, then L2-normalised (what sentence-transformers computes for
    /// all-MiniLM-L6-v2).
    pub fn sentence_embeddings(&self, ids: &Tensor, mask: &Tensor) -> graft_engine::Result<Tensor> {
        let h = self.encode(ids, Some(mask))?;
        l2_normalize(&masked_mean_pool(&h, mask)?)
    }
}

impl Module for BertModel {
    /// Token ids `[batch, seq]` (no padding) to the last hidden state.
    fn forward(&self, ids: &Tensor) -> graft_engine::Result<Tensor> {
        self.encode(ids, None)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = prefixed("embeddings", &self.embeddings);
        for (i, layer) in self.layers.iter().enumerate() {
            out.extend(prefixed(&format!("encoder.layer.{i}"), layer));
        }
        if let Some(p) = &self.pooler {
            out.extend(prefixed("pooler", p));
        }
        out
    }
    fn spec(&self) -> String {
        let c = &self.config;
        format!(
            "bert(vocab={},hidden={},layers={},heads={},intermediate={})",
            c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size
        )
    }
    fn clone_module(&self) -> graft_engine::Result<Box<dyn Module>> {
        Ok(Box::new(self.deep_clone()?))
    }
}

impl BertModel {
    /// A deep copy (new parameter tensors, same values and `requires_grad` flags).
    pub fn deep_clone(&self) -> graft_engine::Result<BertModel> {
        Ok(BertModel {
            config: self.config.clone(),
            embeddings: self.embeddings.deep_clone()?,
            layers: self.layers.iter().map(BertLayer::deep_clone).collect::<graft_engine::Result<_>>()?,
            pooler: self.pooler.as_ref().map(BertPooler::deep_clone).transpose()?,
        })
    }
}
