//! BERT WordPiece tokenizer (uncased BERT / all-MiniLM-L6-v2 style).
//!
//! Reproduces the Hugging Face `tokenizers` pipeline used by BERT checkpoints:
//! added/special tokens are matched in the raw text first, every other span goes
//! through `BertNormalizer` (clean text, space out CJK ideographs, strip accents,
//! lowercase), `BertPreTokenizer` (split on whitespace, isolate each punctuation
//! character) and the greedy longest-match-first `WordPiece` model. `encode` then
//! wraps the pieces as `[CLS] … [SEP]`, like the checkpoint's `TemplateProcessing`.
//!
//! Character classes come from the same data HF uses: the `unicode_categories`
//! 0.1.1 crate (see the generated tables at the end of this file), so ids match
//! the Python/Rust `tokenizers` library exactly, including its quirks (unassigned
//! code points are *not* removed, `Mn` is judged by that crate's Unicode version).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use unicode_normalization::UnicodeNormalization;

use super::chars::{is_bert_punctuation, is_chinese_char, is_control, is_mark_nonspacing, is_whitespace};

/// Special tokens every BERT vocabulary must provide for `encode`/`encode_batch`.
const CLS: &str = "[CLS]";
const SEP: &str = "[SEP]";
const PAD: &str = "[PAD]";
const UNK: &str = "[UNK]";
/// Tokens never split when loading from `vocab.txt` (HF registers the same five
/// as added tokens for `BertTokenizerFast`).
const VOCAB_TXT_SPECIALS: [&str; 5] = [PAD, UNK, CLS, SEP, "[MASK]"];

/// Errors from loading a vocabulary or encoding text. Never a panic.
#[derive(Debug)]
pub enum TokenizerError {
    /// A file could not be opened or read.
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A JSON file did not parse.
    Json {
        /// The file that failed.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A file parsed but describes something this tokenizer cannot reproduce
    /// (non-WordPiece model, unknown normalizer, malformed vocab, …).
    Unsupported {
        /// The file that was refused.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The vocabulary lacks a token that encoding needs.
    MissingSpecialToken {
        /// The missing token, e.g. `[CLS]`.
        token: String,
    },
    /// The text is empty, or only whitespace / removed control characters, so
    /// there is nothing to encode.
    EmptyText,
    /// `max_len` cannot hold `[CLS]` and `[SEP]`.
    InvalidMaxLen {
        /// The rejected value.
        max_len: usize,
    },
    /// `encode_batch` was given no texts.
    EmptyBatch,
    /// One text of a batch failed.
    BatchItem {
        /// Index of the failing text in the batch.
        index: usize,
        /// Why it failed.
        source: Box<TokenizerError>,
    },
}

impl fmt::Display for TokenizerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { path, source } => write!(f, "cannot read {}: {source}", path.display()),
            Self::Json { path, message } => {
                write!(f, "{} is not valid JSON: {message}", path.display())
            }
            Self::Unsupported { path, message } => {
                write!(f, "unsupported tokenizer file {}: {message}", path.display())
            }
            Self::MissingSpecialToken { token } => {
                write!(f, "vocabulary has no special token {token}")
            }
            Self::EmptyText => write!(f, "text is empty (or only whitespace/control characters); nothing to encode"),
            Self::InvalidMaxLen { max_len } => {
                write!(f, "max_len = {max_len} is too small: it must be at least 2 to hold [CLS] and [SEP]")
            }
            Self::EmptyBatch => write!(f, "encode_batch was given no texts"),
            Self::BatchItem { index, source } => write!(f, "batch text {index}: {source}"),
        }
    }
}

impl std::error::Error for TokenizerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::BatchItem { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// One encoded text: token ids plus the masks a BERT model takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoding {
    /// Token ids, starting with `[CLS]`; `[SEP]` ends the real tokens.
    pub ids: Vec<u32>,
    /// 1 for real tokens, 0 for `[PAD]` added by `encode_batch`.
    pub attention_mask: Vec<u32>,
    /// Segment ids; always 0 (single-sentence input).
    pub type_ids: Vec<u32>,
}

/// `BertNormalizer` switches, as in `tokenizer.json`.
#[derive(Debug, Clone, Copy)]
struct Normalization {
    clean_text: bool,
    handle_chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
}

impl Normalization {
    /// HF's `strip_accents: null` means "follow `lowercase`".
    fn bert(lowercase: bool, strip_accents: Option<bool>) -> Self {
        Self {
            clean_text: true,
            handle_chinese_chars: true,
            strip_accents: strip_accents.unwrap_or(lowercase),
            lowercase,
        }
    }
}

/// A loaded WordPiece vocabulary plus the BERT normalization settings.
#[derive(Debug, Clone)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    /// id → token; ids are dense (checked at load time).
    inverse: Vec<String>,
    norm: Normalization,
    unk_token: String,
    continuing_prefix: String,
    max_input_chars_per_word: usize,
    /// Tokens matched verbatim in the raw text before normalization, longest first.
    specials: Vec<String>,
    cls_id: u32,
    sep_id: u32,
    pad_id: u32,
    unk_id: u32,
}

fn read_to_string(path: &Path) -> Result<String, TokenizerError> {
    std::fs::read_to_string(path).map_err(|source| TokenizerError::Io { path: path.to_path_buf(), source })
}

fn read_json(path: &Path) -> Result<Value, TokenizerError> {
    let text = read_to_string(path)?;
    serde_json::from_str(&text).map_err(|e| TokenizerError::Json { path: path.to_path_buf(), message: e.to_string() })
}

fn unsupported(path: &Path, message: impl Into<String>) -> TokenizerError {
    TokenizerError::Unsupported { path: path.to_path_buf(), message: message.into() }
}

/// Reads an optional boolean that may also be `null` (HF writes `strip_accents: null`).
fn opt_bool(v: &Value, key: &str, path: &Path) -> Result<Option<bool>, TokenizerError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(unsupported(path, format!("`{key}` must be true, false or null, found {other}"))),
    }
}

impl WordPiece {
    /// Builds from a token → id map, checking ids are dense and specials exist.
    fn build(
        vocab: HashMap<String, u32>,
        norm: Normalization,
        unk_token: String,
        continuing_prefix: String,
        max_input_chars_per_word: usize,
        mut specials: Vec<String>,
        source: &Path,
    ) -> Result<Self, TokenizerError> {
        // A dense inverse table keeps id_to_token O(1) and lets vocab_size mean
        // "embedding rows"; a gap would mean the file is not a plain BERT vocab.
        let mut inverse: Vec<Option<String>> = vec![None; vocab.len()];
        for (tok, &id) in &vocab {
            match inverse.get_mut(id as usize) {
                Some(slot @ None) => *slot = Some(tok.clone()),
                Some(Some(other)) => {
                    return Err(unsupported(source, format!("tokens {other:?} and {tok:?} share id {id}")));
                }
                None => {
                    return Err(unsupported(
                        source,
                        format!("token {tok:?} has id {id}, but ids must be 0..{} with no gaps", vocab.len()),
                    ));
                }
            }
        }
        let inverse: Vec<String> = inverse.into_iter().map(Option::unwrap_or_default).collect();

        let need =
            |t: &str| vocab.get(t).copied().ok_or_else(|| TokenizerError::MissingSpecialToken { token: t.to_string() });
        let cls_id = need(CLS)?;
        let sep_id = need(SEP)?;
        let pad_id = need(PAD)?;
        let unk_id = need(&unk_token)?;

        specials.retain(|s| !s.is_empty());
        // Longest first so that "leftmost-longest" matching is a simple scan.
        specials.sort_by_key(|s| std::cmp::Reverse(s.len()));
        specials.dedup();
        Ok(Self {
            vocab,
            inverse,
            norm,
            unk_token,
            continuing_prefix,
            max_input_chars_per_word,
            specials,
            cls_id,
            sep_id,
            pad_id,
            unk_id,
        })
    }

    /// Loads a BERT `vocab.txt`: one token per line, id = 0-based line number.
    ///
    /// `lowercase` selects uncased behaviour; as in HF (`strip_accents: null`),
    /// accents are stripped exactly when lowercasing. Trailing whitespace on a
    /// line is ignored, as HF's WordPiece reader does. `[PAD] [UNK] [CLS] [SEP]
    /// [MASK]` found in the vocab are matched verbatim in input text.
    pub fn from_vocab_txt(path: &Path, lowercase: bool) -> Result<Self, TokenizerError> {
        Self::from_vocab_txt_with(path, Normalization::bert(lowercase, None))
    }

    fn from_vocab_txt_with(path: &Path, norm: Normalization) -> Result<Self, TokenizerError> {
        let text = read_to_string(path)?;
        let mut vocab = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let id = u32::try_from(i).map_err(|_| unsupported(path, "vocabulary has more than u32::MAX lines"))?;
            if vocab.insert(line.trim_end().to_string(), id).is_some() {
                return Err(unsupported(path, format!("token {:?} appears twice (line {})", line.trim_end(), i + 1)));
            }
        }
        if vocab.is_empty() {
            return Err(unsupported(path, "vocabulary file is empty"));
        }
        let specials = VOCAB_TXT_SPECIALS.iter().filter(|t| vocab.contains_key(**t)).map(|t| t.to_string()).collect();
        Self::build(vocab, norm, UNK.to_string(), "##".to_string(), 100, specials, path)
    }

    /// Loads a Hugging Face `tokenizer.json`.
    ///
    /// Reads `model.vocab`, `model.unk_token`, `model.continuing_subword_prefix`,
    /// `model.max_input_chars_per_word`, the `BertNormalizer` flags and
    /// `added_tokens`. Refuses a model other than `WordPiece`, and a normalizer or
    /// pre-tokenizer other than the BERT ones, rather than silently tokenizing
    /// differently from the checkpoint.
    pub fn from_tokenizer_json(path: &Path) -> Result<Self, TokenizerError> {
        let root = read_json(path)?;
        let model = root.get("model").ok_or_else(|| unsupported(path, "no `model` section"))?;
        match model.get("type").and_then(Value::as_str) {
            Some("WordPiece") => {}
            Some(other) => {
                return Err(unsupported(path, format!("model type is {other:?}; only \"WordPiece\" is supported")));
            }
            None => return Err(unsupported(path, "model has no `type`")),
        }

        let vocab_obj = model
            .get("vocab")
            .and_then(Value::as_object)
            .ok_or_else(|| unsupported(path, "model.vocab is missing or not an object"))?;
        let mut vocab = HashMap::with_capacity(vocab_obj.len());
        for (tok, id) in vocab_obj {
            let id = id
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| unsupported(path, format!("id of {tok:?} is not a u32: {id}")))?;
            vocab.insert(tok.clone(), id);
        }

        let str_field = |key: &str, default: &str| -> Result<String, TokenizerError> {
            match model.get(key) {
                None | Some(Value::Null) => Ok(default.to_string()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(unsupported(path, format!("model.{key} must be a string, found {other}"))),
            }
        };
        let unk_token = str_field("unk_token", UNK)?;
        let prefix = str_field("continuing_subword_prefix", "##")?;
        let max_chars = match model.get("max_input_chars_per_word") {
            None | Some(Value::Null) => 100,
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| unsupported(path, format!("max_input_chars_per_word is not a count: {v}")))?,
        };

        let norm = match root.get("normalizer") {
            None | Some(Value::Null) => {
                Normalization { clean_text: false, handle_chinese_chars: false, strip_accents: false, lowercase: false }
            }
            Some(n) if n.get("type").and_then(Value::as_str) == Some("BertNormalizer") => {
                let lowercase = opt_bool(n, "lowercase", path)?.unwrap_or(true);
                Normalization {
                    clean_text: opt_bool(n, "clean_text", path)?.unwrap_or(true),
                    handle_chinese_chars: opt_bool(n, "handle_chinese_chars", path)?.unwrap_or(true),
                    strip_accents: opt_bool(n, "strip_accents", path)?.unwrap_or(lowercase),
                    lowercase,
                }
            }
            Some(n) => {
                return Err(unsupported(
                    path,
                    format!(
                        "normalizer type {}; only BertNormalizer is supported",
                        n.get("type").unwrap_or(&Value::Null)
                    ),
                ));
            }
        };
        match root.get("pre_tokenizer") {
            None | Some(Value::Null) => {}
            Some(p) if p.get("type").and_then(Value::as_str) == Some("BertPreTokenizer") => {}
            Some(p) => {
                return Err(unsupported(
                    path,
                    format!(
                        "pre_tokenizer type {}; only BertPreTokenizer is supported",
                        p.get("type").unwrap_or(&Value::Null)
                    ),
                ));
            }
        }

        // Added tokens are matched in the raw text before normalization. An added
        // token missing from model.vocab gets its own id, as in HF.
        let mut specials = Vec::new();
        if let Some(added) = root.get("added_tokens").and_then(Value::as_array) {
            for t in added {
                let (Some(content), Some(id)) =
                    (t.get("content").and_then(Value::as_str), t.get("id").and_then(Value::as_u64))
                else {
                    return Err(unsupported(path, format!("malformed added token {t}")));
                };
                let id = u32::try_from(id).map_err(|_| unsupported(path, format!("added token id {id} too large")))?;
                vocab.entry(content.to_string()).or_insert(id);
                specials.push(content.to_string());
            }
        }
        Self::build(vocab, norm, unk_token, prefix, max_chars, specials, path)
    }

    /// Loads from a model directory: `tokenizer.json` when present, otherwise
    /// `vocab.txt` with `do_lower_case` / `strip_accents` /
    /// `tokenize_chinese_chars` from `tokenizer_config.json` when that exists
    /// (defaults: lowercase, strip accents when lowercasing, split CJK).
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizerError> {
        let tj = dir.join("tokenizer.json");
        if tj.is_file() {
            return Self::from_tokenizer_json(&tj);
        }
        let cfg_path = dir.join("tokenizer_config.json");
        let mut norm = Normalization::bert(true, None);
        if cfg_path.is_file() {
            let cfg = read_json(&cfg_path)?;
            let lowercase = opt_bool(&cfg, "do_lower_case", &cfg_path)?.unwrap_or(true);
            norm = Normalization::bert(lowercase, opt_bool(&cfg, "strip_accents", &cfg_path)?);
            if let Some(cjk) = opt_bool(&cfg, "tokenize_chinese_chars", &cfg_path)? {
                norm.handle_chinese_chars = cjk;
            }
        }
        Self::from_vocab_txt_with(&dir.join("vocab.txt"), norm)
    }

    /// Number of ids (rows of the embedding table).
    pub fn vocab_size(&self) -> usize {
        self.inverse.len()
    }

    /// The id of an exact token string (pieces carry their `##` prefix).
    pub fn token_to_id(&self, t: &str) -> Option<u32> {
        self.vocab.get(t).copied()
    }

    /// The token string of an id, `None` when out of range.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.inverse.get(id as usize).map(String::as_str)
    }

    /// Splits `text` into WordPiece tokens, without `[CLS]`/`[SEP]` and without
    /// truncation. Unknown words become the unk token (`[UNK]`). Special tokens
    /// written literally in the text (e.g. `[SEP]`) are kept as themselves.
    pub fn tokenize(&self, text: &str) -> Vec<String> {
        self.token_ids(text).into_iter().map(|id| self.id_to_token(id).unwrap_or(&self.unk_token).to_string()).collect()
    }

    /// The pipeline proper: ids of all pieces of `text`, no specials added.
    fn token_ids(&self, text: &str) -> Vec<u32> {
        let mut ids = Vec::new();
        let mut rest = text;
        let mut i = 0;
        // Leftmost-longest scan for special tokens in the raw text, as HF does
        // before normalization; the spans between them are tokenized normally.
        while i < rest.len() {
            let hit = self
                .specials
                .iter()
                .find(|s| rest[i..].starts_with(s.as_str()))
                .and_then(|s| self.vocab.get(s.as_str()).map(|&id| (s.len(), id)));
            if let Some((len, id)) = hit {
                self.tokenize_span(&rest[..i], &mut ids);
                ids.push(id);
                rest = &rest[i + len..];
                i = 0;
            } else {
                i += rest[i..].chars().next().map_or(1, char::len_utf8);
            }
        }
        self.tokenize_span(rest, &mut ids);
        ids
    }

    /// Normalize, pre-tokenize and WordPiece one span free of special tokens.
    fn tokenize_span(&self, span: &str, ids: &mut Vec<u32>) {
        if span.is_empty() {
            return;
        }
        let normalized = self.normalize(span);
        let mut word = String::new();
        for c in normalized.chars() {
            if c.is_whitespace() {
                self.word_pieces(&word, ids);
                word.clear();
            } else if is_bert_punctuation(c) {
                // Every punctuation char is its own word.
                self.word_pieces(&word, ids);
                word.clear();
                let mut buf = [0u8; 4];
                self.word_pieces(c.encode_utf8(&mut buf), ids);
            } else {
                word.push(c);
            }
        }
        self.word_pieces(&word, ids);
    }

    /// `BertNormalizer`, steps in HF's order: clean, CJK, strip accents, lowercase.
    fn normalize(&self, text: &str) -> String {
        let mut s = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if self.norm.clean_text {
                if c == '\0' || c == '\u{fffd}' || is_control(c) {
                    continue;
                }
                if is_whitespace(c) {
                    s.push(' ');
                    continue;
                }
            }
            if self.norm.handle_chinese_chars && is_chinese_char(c) {
                s.push(' ');
                s.push(c);
                s.push(' ');
            } else {
                s.push(c);
            }
        }
        if self.norm.strip_accents {
            s = s.nfd().filter(|&c| !is_mark_nonspacing(c)).collect();
        }
        if self.norm.lowercase {
            s = s.chars().flat_map(char::to_lowercase).collect();
        }
        s
    }

    /// Greedy longest-match-first WordPiece of one pre-token.
    fn word_pieces(&self, word: &str, ids: &mut Vec<u32>) {
        if word.is_empty() {
            return;
        }
        if word.chars().count() > self.max_input_chars_per_word {
            ids.push(self.unk_id);
            return;
        }
        let first = ids.len();
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.continuing_prefix);
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(candidate.as_str()) {
                    found = Some(id);
                    break;
                }
                // Step back one whole char so slices stay on UTF-8 boundaries.
                end -= word[start..end].chars().next_back().map_or(1, char::len_utf8);
            }
            match found {
                Some(id) => {
                    ids.push(id);
                    start = end;
                }
                None => {
                    // One unmatched remainder makes the whole word unknown.
                    ids.truncate(first);
                    ids.push(self.unk_id);
                    return;
                }
            }
        }
    }

    /// Encodes one text as `[CLS] pieces [SEP]`, no padding.
    ///
    /// Over-long text is not an error: pieces are cut so that the result has at
    /// most `max_len` ids and still ends with `[SEP]` (HF `enable_truncation`).
    /// Errors: `max_len < 2`, or a text with no tokens (empty, whitespace-only,
    /// or only characters that cleaning removes).
    pub fn encode(&self, text: &str, max_len: usize) -> Result<Encoding, TokenizerError> {
        if max_len < 2 {
            return Err(TokenizerError::InvalidMaxLen { max_len });
        }
        let mut pieces = self.token_ids(text);
        if pieces.is_empty() {
            return Err(TokenizerError::EmptyText);
        }
        pieces.truncate(max_len - 2);
        let mut ids = Vec::with_capacity(pieces.len() + 2);
        ids.push(self.cls_id);
        ids.extend(pieces);
        ids.push(self.sep_id);
        let n = ids.len();
        Ok(Encoding { ids, attention_mask: vec![1; n], type_ids: vec![0; n] })
    }

    /// Encodes several texts (each as [`WordPiece::encode`]) and right-pads them
    /// with `[PAD]` to the longest one, so they stack into one `[batch, len]`
    /// tensor. Padding has `attention_mask` 0 and `type_ids` 0.
    pub fn encode_batch(&self, texts: &[&str], max_len: usize) -> Result<Vec<Encoding>, TokenizerError> {
        if texts.is_empty() {
            return Err(TokenizerError::EmptyBatch);
        }
        let mut out = texts
            .iter()
            .enumerate()
            .map(|(index, t)| {
                self.encode(t, max_len).map_err(|e| TokenizerError::BatchItem { index, source: Box::new(e) })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let longest = out.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        for e in &mut out {
            e.ids.resize(longest, self.pad_id);
            e.attention_mask.resize(longest, 0);
            e.type_ids.resize(longest, 0);
        }
        Ok(out)
    }

    /// The unk token string (usually `[UNK]`).
    pub fn unk_token(&self) -> &str {
        &self.unk_token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A throwaway vocab file, unique per test so tests can run in parallel.
    fn vocab_file(name: &str, tokens: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wordpiece_test_{}_{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let path = dir.join("vocab.txt");
        std::fs::write(&path, tokens.join("\n")).expect("write vocab");
        path
    }

    const TOKENS: &[&str] = &[
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "un", "##aff", "##able", "!", ",", "cafe",
        "東", "京", "a",
    ];

    fn tiny(name: &str) -> WordPiece {
        WordPiece::from_vocab_txt(&vocab_file(name, TOKENS), true).expect("load tiny vocab")
    }

    #[test]
    fn tokenizes_like_bert() {
        let wp = tiny("tok");
        assert_eq!(wp.vocab_size(), TOKENS.len());
        assert_eq!(
            wp.tokenize("Hello, WORLD! unaffable Café 東京 xyz"),
            ["hello", ",", "world", "!", "un", "##aff", "##able", "cafe", "東", "京", "[UNK]"]
        );
        // Control chars vanish, tabs/newlines separate words, specials survive.
        assert_eq!(wp.tokenize("hel\u{0}lo\tworld\n[SEP]a"), ["hello", "world", "[SEP]", "a"]);
        assert_eq!(wp.tokenize(&"a".repeat(101)), ["[UNK]"]);
        assert_eq!(wp.token_to_id("##aff"), Some(8));
        assert_eq!(wp.id_to_token(5), Some("hello"));
        assert_eq!(wp.id_to_token(999), None);
    }

    #[test]
    fn encode_adds_specials_and_truncates() {
        let wp = tiny("enc");
        let e = wp.encode("hello world hello world", 4).expect("encode");
        assert_eq!(e.ids, [2, 5, 6, 3]);
        assert_eq!(e.attention_mask, [1; 4]);
        assert_eq!(e.type_ids, [0; 4]);
        assert_eq!(wp.encode("hello", 2).expect("encode").ids, [2, 3]);
    }

    #[test]
    fn batch_pads_to_longest() {
        let wp = tiny("batch");
        let b = wp.encode_batch(&["hello", "hello world !"], 16).expect("batch");
        assert_eq!(b[0].ids, [2, 5, 3, 0, 0]);
        assert_eq!(b[0].attention_mask, [1, 1, 1, 0, 0]);
        assert_eq!(b[0].type_ids, [0; 5]);
        assert_eq!(b[1].ids, [2, 5, 6, 10, 3]);
        assert_eq!(b[1].attention_mask, [1; 5]);
    }

    #[test]
    fn errors_are_clear() {
        let wp = tiny("err");
        for text in ["", "  \t\n ", "\u{0}\u{200b}"] {
            let e = wp.encode(text, 8).expect_err("empty text must fail");
            assert!(matches!(e, TokenizerError::EmptyText), "{e}");
            assert!(e.to_string().contains("empty"), "{e}");
        }
        let e = wp.encode("hello", 1).expect_err("max_len 1");
        assert!(e.to_string().contains("max_len = 1"), "{e}");
        let e = wp.encode_batch(&[], 8).expect_err("empty batch");
        assert!(matches!(e, TokenizerError::EmptyBatch), "{e}");
        let e = wp.encode_batch(&["hello", ""], 8).expect_err("bad item");
        assert!(e.to_string().starts_with("batch text 1:"), "{e}");

        let missing = Path::new("/definitely/not/here/vocab.txt");
        let e = WordPiece::from_vocab_txt(missing, true).expect_err("missing file");
        assert!(e.to_string().contains("/definitely/not/here/vocab.txt"), "{e}");
        let e = WordPiece::from_dir(Path::new("/definitely/not/here")).expect_err("missing dir");
        assert!(e.to_string().contains("/definitely/not/here"), "{e}");

        for (name, drop) in [("nocls", "[CLS]"), ("nosep", "[SEP]"), ("nopad", "[PAD]"), ("nounk", "[UNK]")] {
            let toks: Vec<&str> = TOKENS.iter().copied().filter(|t| *t != drop).collect();
            let e = WordPiece::from_vocab_txt(&vocab_file(name, &toks), true).expect_err(drop);
            assert!(e.to_string().contains(drop), "{e}");
        }
    }

    #[test]
    fn tokenizer_json_checks_model_type() {
        let dir = vocab_file("json", TOKENS);
        let path = dir.with_file_name("tokenizer.json");
        std::fs::write(&path, r#"{"model": {"type": "BPE", "vocab": {}}}"#).expect("write");
        let e = WordPiece::from_tokenizer_json(&path).expect_err("BPE refused");
        assert!(e.to_string().contains("BPE"), "{e}");
        std::fs::write(&path, "{not json").expect("write");
        let e = WordPiece::from_tokenizer_json(&path).expect_err("bad json");
        assert!(matches!(e, TokenizerError::Json { .. }), "{e}");
        std::fs::write(
            &path,
            r#"{"normalizer": {"type": "BertNormalizer", "lowercase": true, "strip_accents": null},
                "pre_tokenizer": {"type": "BertPreTokenizer"},
                "model": {"type": "WordPiece", "unk_token": "[UNK]",
                          "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "cafe": 4}}}"#,
        )
        .expect("write");
        let wp = WordPiece::from_tokenizer_json(&path).expect("load json");
        assert_eq!(wp.encode("CAFÉ", 8).expect("encode").ids, [2, 4, 3]);
        let wp = WordPiece::from_dir(path.parent().expect("dir")).expect("from_dir");
        assert_eq!(wp.vocab_size(), 5);
    }
}
