//! The real all-MiniLM-L6-v2 (sentence-transformers' BERT encoder): graft's WordPiece gives the
//! ids of Hugging Face's `tokenizers`, and graft's encoder gives PyTorch's sentence embeddings.
//!
//! The model is too large for the repository: `bash scripts/fetch-minilm.sh` puts it in
//! `models/all-MiniLM-L6-v2` (or set `GRAFT_MINILM_DIR`). Without it these tests print how to
//! fetch it and pass, unless `GRAFT_REQUIRE_MINILM=1` (CI fetches it and sets that).
//!
//! Fixtures in `tests/data/minilm` (made once offline): `token_ids.json` from
//! `scripts/reference/minilm_tokens.py` (tokenizers 0.23.3), `sentences.json` and
//! `reference.safetensors` from `scripts/reference/minilm_reference.py` (transformers'
//! `BertModel`, mean pooling over the attention mask, L2 normalisation; torch 2.15 CPU).

use graft_engine::Tensor;
use graft_nn::bert::BertModel;
use graft_nn::model_file::read_tensors;
use graft_nn::text::{encodings_to_tensors, WordPiece};
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/minilm").join(name)
}

/// The model directory, or `None` (after saying how to fetch it) when it is absent.
fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GRAFT_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2"));
    if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
        return Some(dir);
    }
    let why = format!(
        "all-MiniLM-L6-v2 is not in {} — run `bash scripts/fetch-minilm.sh` (or set GRAFT_MINILM_DIR)",
        dir.display()
    );
    if std::env::var("GRAFT_REQUIRE_MINILM").is_ok_and(|v| v == "1") {
        panic!("GRAFT_REQUIRE_MINILM=1 but {why}");
    }
    eprintln!("skipping: {why}");
    None
}

/// `(max_len, [(text, ids)])` of a JSON fixture of Hugging Face tokenizer output.
fn token_cases(name: &str) -> (usize, Vec<(String, Vec<u32>)>) {
    let text = std::fs::read_to_string(data(name)).expect("the fixture is in the repository");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("the fixture is JSON");
    let max_len = doc["max_len"].as_u64().expect("max_len") as usize;
    let cases = doc["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            let ids = c["ids"].as_array().expect("ids").iter().map(|v| v.as_u64().expect("id") as u32).collect();
            (c["text"].as_str().expect("text").to_string(), ids)
        })
        .collect();
    (max_len, cases)
}

fn assert_same_ids(wp: &WordPiece, how: &str, fixture: &str) {
    let (max_len, cases) = token_cases(fixture);
    let tokens = |ids: &[u32]| ids.iter().map(|&i| wp.id_to_token(i).unwrap_or("<bad id>")).collect::<Vec<_>>();
    for (n, (text, want)) in cases.iter().enumerate() {
        let got = wp.encode(text, max_len).unwrap_or_else(|e| panic!("{how}: case {n} {text:?}: {e}")).ids;
        assert!(
            got == *want,
            "{how}: case {n} {text:?}\n  want {want:?} {:?}\n  got  {got:?} {:?}",
            tokens(want),
            tokens(&got)
        );
    }
    eprintln!("{how}: all {} cases of {fixture} equal Hugging Face's ids", cases.len());
}

#[test]
fn wordpiece_gives_hugging_faces_ids_from_each_kind_of_vocabulary_file() {
    let Some(dir) = model_dir() else { return };
    let from_json = WordPiece::from_tokenizer_json(&dir.join("tokenizer.json")).expect("tokenizer.json");
    assert_eq!(from_json.vocab_size(), 30522);
    for (wp, how) in [
        (from_json, "tokenizer.json"),
        (WordPiece::from_vocab_txt(&dir.join("vocab.txt"), true).expect("vocab.txt"), "vocab.txt"),
        (WordPiece::from_dir(&dir).expect("model directory"), "from_dir"),
    ] {
        assert_same_ids(&wp, how, "token_ids.json");
        assert_same_ids(&wp, how, "sentences.json");
    }
}

#[test]
fn sentence_embeddings_equal_pytorchs_within_1e_4() {
    let Some(dir) = model_dir() else { return };
    let model = BertModel::load(&dir).expect("the fetched model loads");
    assert_eq!((model.layers.len(), model.config.hidden_size), (6, 384));
    let reference: std::collections::HashMap<String, Tensor> =
        read_tensors(data("reference.safetensors")).expect("reference fixture").into_iter().collect();
    let want = reference["embeddings"].to_vec().unwrap();
    let want_cls = reference["cls_hidden"].to_vec().unwrap();

    // The fixture's ids (Hugging Face's tokenizer), then graft's own tokenizer end to end.
    let (_, cases) = token_cases("sentences.json");
    assert!(cases.len() >= 20);
    let wp = WordPiece::from_dir(&dir).expect("tokenizer");
    let texts: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    let (ids, mask) = encodings_to_tensors(&wp.encode_batch(&texts, 128).expect("encode")).unwrap();
    assert_eq!(ids.to_vec().unwrap(), reference["input_ids"].to_vec().unwrap(), "graft's ids, padded");
    assert_eq!(mask.to_vec().unwrap(), reference["attention_mask"].to_vec().unwrap());

    let hidden = model.encode(&ids, Some(&mask)).unwrap();
    let cls = hidden.narrow(1, 0, 1).unwrap().to_vec().unwrap();
    let got = model.sentence_embeddings(&ids, &mask).unwrap();
    assert_eq!(got.shape(), &[cases.len(), 384]);
    let got = got.to_vec().unwrap();
    let worst = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
    let (e, c) = (worst(&got, &want), worst(&cls, &want_cls));
    eprintln!("{} sentences: max |graft − PyTorch| = {e:.2e} (embeddings), {c:.2e} ([CLS] hidden state)", cases.len());
    assert!(c <= 1e-3, "[CLS] hidden states differ by {c}");
    assert!(e <= 1e-4, "sentence embeddings differ by {e}");
}

#[test]
fn bad_text_is_refused_and_over_long_text_is_truncated() {
    let Some(dir) = model_dir() else { return };
    let wp = WordPiece::from_dir(&dir).expect("tokenizer");
    let e = wp.encode("  \t ", 128).unwrap_err().to_string();
    assert!(e.contains("empty"), "{e}");
    let long = "word ".repeat(1000);
    let enc = wp.encode(&long, 128).unwrap();
    assert_eq!(enc.ids.len(), 128);
    assert_eq!(enc.ids.last(), wp.token_to_id("[SEP]").as_ref());
    let unknown = wp.encode("ꙮꙮꙮ", 128).unwrap();
    assert_eq!(unknown.ids[1], wp.token_to_id("[UNK]").unwrap(), "an unknown word is [UNK], not an error");
    let model = BertModel::load(&dir).unwrap();
    let too_long = Tensor::ones(&[1, 513]);
    let e = model.encode(&too_long, None).unwrap_err().to_string();
    assert!(e.contains("513 tokens") && e.contains("512"), "{e}");
}
