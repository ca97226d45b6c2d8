//! The parts of a BERT encoder, named as Hugging Face's `BertModel` names them so its
//! `model.safetensors` loads by name.

use super::BertConfig;
use crate::layers::embedding::row_indices;
use crate::layers::{LayerNorm, Linear};
use crate::module::Module;
use crate::side_inputs::{SideInputs, ATTENTION_MASK};
use graft_engine::{Error, Result, Rng, Tensor};

/// `named_parameters` of `module`, each name under `prefix.`.
pub(super) fn prefixed(prefix: &str, module: &dyn Module) -> Vec<(String, Tensor)> {
    module.named_parameters().into_iter().map(|(n, t)| (format!("{prefix}.{n}"), t)).collect()
}

/// Word, position and token-type embeddings, summed and layer-normalised.
pub struct BertEmbeddings {
    pub word_embeddings: Tensor,
    pub position_embeddings: Tensor,
    pub token_type_embeddings: Tensor,
    pub layer_norm: LayerNorm,
}

impl BertEmbeddings {
    pub fn new(c: &BertConfig, rng: &mut Rng) -> Self {
        Self::with_sizes(
            [c.vocab_size, c.max_position_embeddings, c.type_vocab_size],
            c.hidden_size,
            c.layer_norm_eps,
            rng,
        )
    }

    /// Tables of `[vocab, positions, types]` rows of `hidden` features, N(0, 0.02) as BERT
    /// initialises them.
    pub fn with_sizes([vocab, positions, types]: [usize; 3], hidden: usize, eps: f32, rng: &mut Rng) -> Self {
        let mut table = |rows: usize| {
            Tensor::randn(&[rows, hidden], 0.0, 0.02, rng).requires_grad_(true).expect("fresh tensors are leaves")
        };
        BertEmbeddings {
            word_embeddings: table(vocab),
            position_embeddings: table(positions),
            token_type_embeddings: table(types),
            layer_norm: LayerNorm::new(hidden, eps),
        }
    }

    fn hidden(&self) -> usize {
        self.word_embeddings.shape()[1]
    }

    /// `[batch, seq]` token ids (and token-type ids, all 0 when `None`) to `[batch, seq, hidden]`.
    /// Positions count from 0 in every row, as Hugging Face's absolute position embeddings do.
    pub fn embed(&self, ids: &Tensor, type_ids: Option<&Tensor>) -> Result<Tensor> {
        let [batch, seq] = *ids.shape() else {
            return Err(Error::BadShape {
                op: "bert_embeddings",
                shape: ids.shape().to_vec(),
                reason: "token ids are [batch, seq]".into(),
            });
        };
        let (positions, hidden) = (self.position_embeddings.shape()[0], self.position_embeddings.shape()[1]);
        if seq > positions {
            return Err(Error::BadShape {
                op: "bert_embeddings",
                shape: ids.shape().to_vec(),
                reason: format!(
                    "{seq} tokens, but the model has position embeddings for {positions}: truncate the text to \
                     {positions} tokens"
                ),
            });
        }
        let words = row_indices("bert_embeddings", "id", ids, self.word_embeddings.shape()[0])?;
        let position_rows: Vec<usize> = (0..batch * seq).map(|i| i % seq).collect();
        let type_rows = match type_ids {
            None => vec![0; batch * seq],
            Some(t) => {
                if t.shape() != ids.shape() {
                    return Err(Error::ShapeMismatch {
                        op: "bert_embeddings",
                        lhs: ids.shape().to_vec(),
                        rhs: t.shape().to_vec(),
                        hint: "token-type ids must have the token ids' shape".into(),
                    });
                }
                row_indices("bert_embeddings", "token type", t, self.token_type_embeddings.shape()[0])?
            }
        };
        let sum = Tensor::embedding_sum(&[
            (&self.word_embeddings, &words),
            (&self.position_embeddings, &position_rows),
            (&self.token_type_embeddings, &type_rows),
        ])?;
        self.layer_norm.forward(&sum.reshape(&[batch, seq, hidden])?)
    }
}

impl Module for BertEmbeddings {
    /// Token ids with their attention mask, `[batch, 2, seq]` (row 0 the ids, row 1 the mask),
    /// or ids alone `[batch, seq]` (no padding), to packed hidden states
    /// `[batch, seq, hidden + 1]`: the embeddings with the mask as a last column (see
    /// [`SideInputs`]; inside a `Sequential` the mask travels beside them instead).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        SideInputs::alone(|side| self.forward_with(x, side))
    }
    /// The embeddings `[batch, seq, hidden]`, with the attention mask set as a side input.
    fn forward_with(&self, x: &Tensor, side: &mut SideInputs) -> Result<Tensor> {
        let (ids, mask) = match *x.shape() {
            [_, _] => (x.clone(), Tensor::ones(x.shape()).to_device(&x.device())?),
            [batch, 2, seq] => (x.narrow(1, 0, 1)?.reshape(&[batch, seq])?, x.narrow(1, 1, 1)?.reshape(&[batch, seq])?),
            _ => {
                return Err(Error::BadShape {
                    op: "bert_embeddings",
                    shape: x.shape().to_vec(),
                    reason: "expected token ids [batch, seq] or ids and attention mask [batch, 2, seq]".into(),
                })
            }
        };
        side.set(ATTENTION_MASK, mask);
        self.embed(&ids, None)
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = vec![
            ("word_embeddings.weight".to_string(), self.word_embeddings.clone()),
            ("position_embeddings.weight".to_string(), self.position_embeddings.clone()),
            ("token_type_embeddings.weight".to_string(), self.token_type_embeddings.clone()),
        ];
        out.extend(prefixed("LayerNorm", &self.layer_norm));
        out
    }
    fn spec(&self) -> String {
        format!(
            "bert_embeddings({},{},positions={},types={},eps={})",
            self.word_embeddings.shape()[0],
            self.hidden(),
            self.position_embeddings.shape()[0],
            self.token_type_embeddings.shape()[0],
            self.layer_norm.eps
        )
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(self.deep_clone()?))
    }
}

impl BertEmbeddings {
    /// A copy with new tensors (same values and `requires_grad` flags).
    pub fn deep_clone(&self) -> Result<Self> {
        Ok(BertEmbeddings {
            word_embeddings: self.word_embeddings.deep_clone()?,
            position_embeddings: self.position_embeddings.deep_clone()?,
            token_type_embeddings: self.token_type_embeddings.deep_clone()?,
            layer_norm: self.layer_norm.deep_clone()?,
        })
    }
}

/// One encoder layer: multi-head self-attention and a GELU feed-forward block, each with a
/// residual connection and a post-LayerNorm (the original BERT arrangement).
pub struct BertLayer {
    pub heads: usize,
    pub query: Linear,
    pub key: Linear,
    pub value: Linear,
    pub attention_output: Linear,
    pub attention_norm: LayerNorm,
    pub intermediate: Linear,
    pub output: Linear,
    pub output_norm: LayerNorm,
}

impl BertLayer {
    pub fn new(c: &BertConfig, rng: &mut Rng) -> Self {
        Self::with_sizes(c.hidden_size, c.num_attention_heads, c.intermediate_size, c.layer_norm_eps, rng)
    }

    /// A layer of `hidden` features in `heads` heads (which must divide it) with a
    /// feed-forward block `intermediate` wide.
    pub fn with_sizes(hidden: usize, heads: usize, intermediate: usize, eps: f32, rng: &mut Rng) -> Self {
        let (h, i) = (hidden, intermediate);
        BertLayer {
            heads,
            query: Linear::new(h, h, rng),
            key: Linear::new(h, h, rng),
            value: Linear::new(h, h, rng),
            attention_output: Linear::new(h, h, rng),
            attention_norm: LayerNorm::new(h, eps),
            intermediate: Linear::new(h, i, rng),
            output: Linear::new(i, h, rng),
            output_norm: LayerNorm::new(h, eps),
        }
    }

    fn hidden(&self) -> usize {
        self.query.weight.shape()[0]
    }

    /// `[batch, seq, hidden]` to the same shape. `mask` `[batch, seq]` says which tokens may be
    /// attended to (1 = token, 0 = padding, Hugging Face's `attention_mask`); `None` attends
    /// everywhere.
    pub fn forward_masked(&self, x: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        if x.rank() != 3 {
            return Err(Error::BadShape {
                op: "bert_layer",
                shape: x.shape().to_vec(),
                reason: "hidden states are [batch, seq, hidden]".into(),
            });
        }
        let (q, k, v) = (self.query.forward(x)?, self.key.forward(x)?, self.value.forward(x)?);
        let context = q.attention(&k, &v, mask, self.heads)?;
        let attended = self.attention_norm.forward(&self.attention_output.forward(&context)?.add(x)?)?;
        let inner = self.intermediate.forward(&attended)?.gelu()?;
        self.output_norm.forward(&self.output.forward(&inner)?.add(&attended)?)
    }
}

impl Module for BertLayer {
    /// Packed hidden states `[batch, seq, hidden + 1]` (the mask as a last column) to packed
    /// ones; plain `[batch, seq, hidden]` attend everywhere and stay plain.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        SideInputs::alone(|side| self.forward_with(x, side))
    }
    /// Hidden states `[batch, seq, hidden]` (or packed ones, whose mask is then set as the side
    /// input) to `[batch, seq, hidden]`, attending where the side input's attention mask is 1
    /// (everywhere without one).
    fn forward_with(&self, x: &Tensor, side: &mut SideInputs) -> Result<Tensor> {
        let h = side.unpack("bert_layer", x, self.hidden())?;
        self.forward_masked(&h, side.get(ATTENTION_MASK))
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        out.extend(prefixed("attention.self.query", &self.query));
        out.extend(prefixed("attention.self.key", &self.key));
        out.extend(prefixed("attention.self.value", &self.value));
        out.extend(prefixed("attention.output.dense", &self.attention_output));
        out.extend(prefixed("attention.output.LayerNorm", &self.attention_norm));
        out.extend(prefixed("intermediate.dense", &self.intermediate));
        out.extend(prefixed("output.dense", &self.output));
        out.extend(prefixed("output.LayerNorm", &self.output_norm));
        out
    }
    fn spec(&self) -> String {
        format!(
            "bert_layer({},heads={},intermediate={},eps={})",
            self.hidden(),
            self.heads,
            self.intermediate.weight.shape()[0],
            self.attention_norm.eps
        )
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(self.deep_clone()?))
    }
}

impl BertLayer {
    /// A copy with new tensors (same values and `requires_grad` flags).
    pub fn deep_clone(&self) -> Result<Self> {
        Ok(BertLayer {
            heads: self.heads,
            query: self.query.deep_clone()?,
            key: self.key.deep_clone()?,
            value: self.value.deep_clone()?,
            attention_output: self.attention_output.deep_clone()?,
            attention_norm: self.attention_norm.deep_clone()?,
            intermediate: self.intermediate.deep_clone()?,
            output: self.output.deep_clone()?,
            output_norm: self.output_norm.deep_clone()?,
        })
    }
}

/// Sentence-transformers' mean pooling as a layer: packed hidden states
/// `[batch, seq, hidden + 1]` to the mean over each row's tokens, `[batch, hidden]`.
pub struct MaskedMeanPool;

impl Module for MaskedMeanPool {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        SideInputs::alone(|side| self.forward_with(x, side))
    }
    /// Consumes the attention mask: the side input inside a chain, else the last column of the
    /// packed input. The output is per sentence.
    fn forward_with(&self, x: &Tensor, side: &mut SideInputs) -> Result<Tensor> {
        let h = match side.get(ATTENTION_MASK) {
            Some(_) => x.clone(),
            None => {
                let features = x.shape().last().copied().unwrap_or(0).saturating_sub(1);
                side.unpack("masked_mean_pool", x, features)?
            }
        };
        match side.take(ATTENTION_MASK) {
            Some(mask) => super::masked_mean_pool(&h, &mask),
            None => Err(Error::BadShape {
                op: "masked_mean_pool",
                shape: x.shape().to_vec(),
                reason: "packed hidden states [batch, seq, hidden + 1] (the mask as the last column)".into(),
            }),
        }
    }
    fn spec(&self) -> String {
        "masked_mean_pool".into()
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(MaskedMeanPool))
    }
}

/// L2 normalisation of each row as a layer ([`l2_normalize`](super::l2_normalize)).
pub struct L2Normalize;

impl Module for L2Normalize {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        super::l2_normalize(x)
    }
    fn spec(&self) -> String {
        "l2_normalize".into()
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(L2Normalize))
    }
}

/// BERT's pooler: a dense layer and tanh on the `[CLS]` position.
pub struct BertPooler {
    pub dense: Linear,
}

impl Module for BertPooler {
    /// Hidden states `[batch, seq, hidden]` (or packed, `hidden + 1`) to `[batch, hidden]`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        SideInputs::alone(|side| self.forward_with(x, side))
    }
    /// Consumes the attention mask: the output is per sentence.
    fn forward_with(&self, x: &Tensor, side: &mut SideInputs) -> Result<Tensor> {
        let hidden = self.dense.weight.shape()[1];
        let x = side.unpack("bert_pooler", x, hidden)?;
        side.take(ATTENTION_MASK);
        let batch = x.shape()[0];
        self.dense.forward(&x.narrow(1, 0, 1)?.reshape(&[batch, hidden])?)?.tanh()
    }
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        prefixed("dense", &self.dense)
    }
    fn spec(&self) -> String {
        format!("bert_pooler({})", self.dense.weight.shape()[0])
    }
    fn clone_module(&self) -> Result<Box<dyn Module>> {
        Ok(Box::new(self.deep_clone()?))
    }
}

impl BertPooler {
    /// A copy with new tensors (same values and `requires_grad` flags).
    pub fn deep_clone(&self) -> Result<Self> {
        Ok(BertPooler { dense: self.dense.deep_clone()? })
    }
}
