//! BERT encoders from Hugging Face (`BertModel`: `config.json` + `model.safetensors` or
//! `pytorch_model.bin`), such as
//! sentence-transformers' all-MiniLM-L6-v2, with sentence-transformers' mean pooling.
//!
//! The encoder is composed of engine ops that each have a CPU and a WGSL kernel and a
//! gradient: the sum of embedding lookups, LayerNorm with the config's eps, linear layers,
//! multi-head attention with a key padding mask, erf GELU, masked mean pooling and L2
//! normalisation, so it runs and fine-tunes on either device.
//!
//! ```no_run
//! use graft_nn::bert::BertModel;
//! use graft_engine::Tensor;
//! let model = BertModel::load("models/all-MiniLM-L6-v2")?;
//! // [CLS] hello world [SEP], as the tokenizer gives it
//! let ids = Tensor::from_vec(vec![101.0, 7592.0, 2088.0, 102.0], &[1, 4])?;
//! let mask = Tensor::ones(&[1, 4]);
//! let embedding = model.sentence_embeddings(&ids, &mask)?; // [1, 384], unit norm
//! # Ok::<(), graft_nn::NnError>(())
//! ```

mod config;
mod layers;
mod model;
mod pooling;

pub use config::BertConfig;
pub use layers::{BertEmbeddings, BertLayer, BertPooler, L2Normalize, MaskedMeanPool};
pub use model::BertModel;
pub use pooling::{l2_normalize, masked_mean_pool};
