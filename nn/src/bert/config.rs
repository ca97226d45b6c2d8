//! `config.json` of a Hugging Face BERT model.

use crate::{NnError, Result};
use serde_json::Value;
use std::path::Path;

/// The architecture of a BERT encoder, as Hugging Face's `BertConfig` writes it.
#[derive(Clone, Debug, PartialEq)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f32,
    pub pad_token_id: usize,
}

impl BertConfig {
    /// Reads and checks `config.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| NnError::Model(format!("{}: cannot read the BERT config: {e}", path.display())))?;
        Self::from_json(&text, &path.display().to_string())
    }

    /// Parses and checks the text of a `config.json`; `label` names it in errors.
    ///
    /// ```
    /// use graft_nn::bert::BertConfig;
    /// let c = BertConfig::from_json(r#"{"vocab_size": 100, "hidden_size": 8, "num_hidden_layers": 2,
    ///     "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 32}"#, "tiny")?;
    /// assert_eq!((c.head_dim(), c.type_vocab_size, c.layer_norm_eps), (4, 2, 1e-12));
    /// # Ok::<(), graft_nn::NnError>(())
    /// ```
    pub fn from_json(text: &str, label: &str) -> Result<Self> {
        let bad = |msg: String| NnError::Model(format!("{label}: {msg}"));
        let json: Value = serde_json::from_str(text).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let obj = json.as_object().ok_or_else(|| bad("a BERT config is a JSON object".into()))?;
        if let Some(t) = obj.get("model_type").and_then(Value::as_str) {
            if !matches!(t, "bert") {
                return Err(bad(format!("model_type is \"{t}\"; graft loads BERT encoders (model_type \"bert\")")));
            }
        }
        let count = |key: &str, default: Option<usize>| -> Result<usize> {
            match obj.get(key) {
                Some(v) => v
                    .as_u64()
                    .filter(|&n| n > 0 || key == "pad_token_id")
                    .map(|n| n as usize)
                    .ok_or_else(|| bad(format!("`{key}` is {v}, expected a positive integer"))),
                None => default.ok_or_else(|| bad(format!("`{key}` is missing; a BERT config.json must give it"))),
            }
        };
        for (key, want) in [("hidden_act", "gelu"), ("position_embedding_type", "absolute")] {
            if let Some(v) = obj.get(key) {
                if v.as_str() != Some(want) {
                    return Err(bad(format!("`{key}` is {v}; graft's BERT supports only \"{want}\"")));
                }
            }
        }
        let layer_norm_eps = match obj.get("layer_norm_eps") {
            None => 1e-12,
            Some(v) => v
                .as_f64()
                .filter(|e| *e > 0.0 && e.is_finite())
                .ok_or_else(|| bad(format!("`layer_norm_eps` is {v}, expected a small positive number")))?
                as f32,
        };
        let config = BertConfig {
            vocab_size: count("vocab_size", None)?,
            hidden_size: count("hidden_size", None)?,
            num_hidden_layers: count("num_hidden_layers", None)?,
            num_attention_heads: count("num_attention_heads", None)?,
            intermediate_size: count("intermediate_size", None)?,
            max_position_embeddings: count("max_position_embeddings", None)?,
            type_vocab_size: count("type_vocab_size", Some(2))?,
            layer_norm_eps,
            pad_token_id: count("pad_token_id", Some(0))?,
        };
        if !config.hidden_size.is_multiple_of(config.num_attention_heads) {
            return Err(bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            )));
        }
        Ok(config)
    }

    /// Features per attention head.
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = r#"{"vocab_size": 100, "hidden_size": 8, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 32,
        "layer_norm_eps": 1e-5, "hidden_act": "gelu", "model_type": "bert"}"#;

    fn err(text: &str) -> String {
        BertConfig::from_json(text, "config.json").unwrap_err().to_string()
    }

    #[test]
    fn reads_every_field_and_defaults_the_optional_ones() {
        let c = BertConfig::from_json(TINY, "tiny").unwrap();
        assert_eq!((c.vocab_size, c.hidden_size, c.num_hidden_layers, c.intermediate_size), (100, 8, 2, 16));
        assert_eq!((c.layer_norm_eps, c.type_vocab_size, c.pad_token_id), (1e-5, 2, 0));
    }

    #[test]
    fn bad_configs_are_refused_naming_the_key() {
        let e = err(&TINY.replace("\"hidden_size\": 8,", ""));
        assert!(e.contains("`hidden_size` is missing") && e.contains("config.json"), "{e}");
        let e = err(&TINY.replace("\"hidden_size\": 8", "\"hidden_size\": 9"));
        assert!(e.contains("hidden_size 9 is not a multiple of num_attention_heads 2"), "{e}");
        let e = err(&TINY.replace("\"gelu\"", "\"relu\""));
        assert!(e.contains("`hidden_act` is \"relu\""), "{e}");
        let e = err(&TINY.replace("\"bert\"", "\"gpt2\""));
        assert!(e.contains("model_type is \"gpt2\""), "{e}");
        let e = err(&TINY.replace("\"vocab_size\": 100", "\"vocab_size\": -1"));
        assert!(e.contains("`vocab_size` is -1"), "{e}");
        assert!(err("[1, 2]").contains("JSON object"));
        assert!(err("{").contains("not valid JSON"));
    }
}
