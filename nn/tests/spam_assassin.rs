//! The SpamAssassin loader, stratified splits and the TF-IDF baseline.
//!
//! Most tests read the hand-made fixtures in `tests/data/text/`. `real_corpus` reads the real
//! corpus from `data/spam-assassin` (or `GRAFT_SPAM_DIR`) when `bash scripts/fetch-spam-assassin.sh`
//! has fetched it, and skips otherwise — unless `GRAFT_REQUIRE_SPAM=1`, which makes a missing
//! corpus a failure.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use graft_nn::data::text::{
    load_spam_assassin, load_spam_assassin_counted, split_examples, strip_mail_headers, TextExample,
};
use graft_nn::text::TfIdf;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/text")
}

fn keys(v: &[TextExample]) -> Vec<(String, String)> {
    v.iter().map(|e| (e.group.clone(), e.id.clone())).collect()
}

fn spam_count(v: &[TextExample]) -> usize {
    v.iter().filter(|e| e.label == 1).count()
}

#[test]
fn mini_corpus_loads_sorted_labelled_and_without_headers() {
    let (examples, dropped) = load_spam_assassin_counted(&fixtures().join("mini-corpus")).unwrap();
    assert_eq!(dropped, 1, "spam-1/00002 has a whitespace-only body");
    let got: Vec<(&str, &str, usize)> = examples.iter().map(|e| (e.group.as_str(), e.id.as_str(), e.label)).collect();
    assert_eq!(
        got,
        [
            ("easy-ham-1", "00001", 0),
            ("easy-ham-1", "00002", 0),
            ("hard-ham-1", "00001", 0),
            ("spam-1", "00001", 1),
            ("spam-1", "00003", 1),
        ]
    );
    assert_eq!(examples[0].text, "The nightly build passed.\r\n");
    assert_eq!(examples[1].text, "Sounds good, see you at noon.\n\n-- alice\n");
    assert_eq!(examples[2].text, "<html><body>Your order has shipped.</body></html>\n");
    assert_eq!(examples[4].text, "Claim your FREE prize now!!! Click here.\n");
    for e in &examples {
        assert!(!e.text.contains("Return-Path:") && !e.text.contains("Subject:"), "{:?}", e.text);
    }
    assert_eq!(load_spam_assassin(&fixtures().join("mini-corpus")).unwrap(), examples);
}

#[test]
fn header_stripping() {
    assert_eq!(strip_mail_headers("Subject: a\n\nbody"), "body");
    assert_eq!(strip_mail_headers("Subject: a\r\n\r\nbody"), "body");
    assert_eq!(strip_mail_headers("no blank line\nat all"), "no blank line\nat all");
}

#[test]
fn unknown_group_is_refused_by_name() {
    let err = load_spam_assassin(&fixtures().join("bad-group")).unwrap_err().to_string();
    assert!(err.contains("\"newsletters\"") && err.contains("unknown SpamAssassin group"), "{err}");
}

#[test]
fn bad_json_is_refused_naming_the_file() {
    let err = load_spam_assassin(&fixtures().join("bad-json")).unwrap_err().to_string();
    assert!(err.contains("00002.json") && err.contains("not a JSON message"), "{err}");
    let err = load_spam_assassin(&fixtures().join("no-text")).unwrap_err().to_string();
    assert!(err.contains("00001.json") && err.contains("no \"text\" field"), "{err}");
}

#[test]
fn missing_or_empty_directory_names_the_fetch_script() {
    let err = load_spam_assassin(&fixtures().join("no-such-corpus")).unwrap_err().to_string();
    assert!(err.contains("no-such-corpus") && err.contains("scripts/fetch-spam-assassin.sh"), "{err}");
    let err = load_spam_assassin(&fixtures().join("mini-corpus/spam-1")).unwrap_err().to_string();
    assert!(err.contains("holds no SpamAssassin group") && err.contains("fetch-spam-assassin.sh"), "{err}");
}

/// 300 synthetic examples, 93 (31%) spam.
fn synthetic() -> Vec<TextExample> {
    (0..300)
        .map(|i| TextExample {
            id: format!("{i:05}"),
            group: if i % 100 < 31 { "spam-1" } else { "easy-ham-1" }.into(),
            text: format!("message {i}"),
            label: usize::from(i % 100 < 31),
        })
        .collect()
}

#[test]
fn split_is_reproducible_stratified_and_disjoint() {
    let a = split_examples(synthetic(), (100, 50, 120), 42).unwrap();
    let b = split_examples(synthetic(), (100, 50, 120), 42).unwrap();
    assert_eq!(a, b, "same seed, same splits");
    let c = split_examples(synthetic(), (100, 50, 120), 43).unwrap();
    assert_ne!(keys(&a.train), keys(&c.train), "another seed, other splits");

    assert_eq!((a.train.len(), a.val.len(), a.test.len()), (100, 50, 120));
    // 31% of 100, 150 and 270 cumulatively: 31, 46.5 → 47, 83.7 → 84.
    assert_eq!((spam_count(&a.train), spam_count(&a.val), spam_count(&a.test)), (31, 16, 37));

    let mut seen = HashSet::new();
    for e in a.train.iter().chain(&a.val).chain(&a.test) {
        assert!(seen.insert((e.group.clone(), e.id.clone())), "{} is in two splits", e.id);
    }
    // The classes are interleaved, not spam first.
    assert!(a.train[..31].iter().any(|e| e.label == 0));
}

#[test]
fn split_sizes_beyond_the_corpus_are_refused() {
    let err = split_examples(synthetic(), (200, 50, 51), 0).unwrap_err().to_string();
    assert!(err.contains("train 200, val 50, test 51") && err.contains("301") && err.contains("300"), "{err}");
    assert!(split_examples(synthetic(), (200, 50, 50), 0).is_ok());
}

#[test]
fn tfidf_matches_scikit_learn() {
    let text = std::fs::read_to_string(fixtures().join("tfidf_reference.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let strings = |key: &str| -> Vec<String> {
        reference[key].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    let fit_texts = strings("fit_texts");
    let transform_texts = strings("transform_texts");
    let fit: Vec<&str> = fit_texts.iter().map(String::as_str).collect();
    let transform: Vec<&str> = transform_texts.iter().map(String::as_str).collect();
    let cases = reference["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let max_features = case["max_features"].as_u64().unwrap() as usize;
        let min_df = case["min_df"].as_u64().unwrap() as usize;
        let tfidf = TfIdf::fit(&fit, max_features, min_df).unwrap();
        let terms: Vec<&str> = case["terms"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(tfidf.terms(), terms, "max_features {max_features}, min_df {min_df}");
        assert_eq!(tfidf.num_features(), terms.len());
        for (got, want) in tfidf.idf().iter().zip(case["idf"].as_array().unwrap()) {
            assert!((got - want.as_f64().unwrap()).abs() < 1e-12, "idf {got} vs {want}");
        }
        let x = tfidf.transform(&transform).unwrap();
        assert_eq!(x.shape(), &[transform.len(), terms.len()]);
        let got = x.to_vec().unwrap();
        let want: Vec<f64> = case["matrix"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap())
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((*g as f64 - w).abs() < 1e-6, "max_features {max_features}: element {i}: {g} vs {w}");
        }
    }
}

/// The real corpus's directory, or `None` (with a skip message) when it is not there.
fn real_corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("GRAFT_SPAM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/spam-assassin"));
    if dir.join("spam-1").is_dir() {
        return Some(dir);
    }
    let message = format!(
        "the SpamAssassin corpus is not at {} (set GRAFT_SPAM_DIR, or fetch it with `bash scripts/fetch-spam-assassin.sh`)",
        dir.display()
    );
    if std::env::var("GRAFT_REQUIRE_SPAM").as_deref() == Ok("1") {
        panic!("GRAFT_REQUIRE_SPAM=1: {message}");
    }
    eprintln!("skipping real_corpus: {message}");
    None
}

#[test]
fn real_corpus() {
    let Some(dir) = real_corpus_dir() else { return };
    let (examples, dropped) = load_spam_assassin_counted(&dir).unwrap();
    // 6046 JSON messages in the package (easy-ham-1 2500, easy-ham-2 1400, hard-ham-1 250,
    // spam-1 500, spam-2 1396); none has an empty body.
    assert_eq!(dropped, 0);
    assert_eq!(examples.len(), 6046);
    assert_eq!(spam_count(&examples), 1896);
    for (group, n) in
        [("easy-ham-1", 2500), ("easy-ham-2", 1400), ("hard-ham-1", 250), ("spam-1", 500), ("spam-2", 1396)]
    {
        assert_eq!(examples.iter().filter(|e| e.group == group).count(), n, "{group}");
    }
    // Headers are gone. One spam, spam-2/00403, is a forwarded mail whose body is itself a
    // mail with headers: the loader strips the outer headers only.
    let header_like: Vec<String> = examples
        .iter()
        .filter(|e| e.text.starts_with("Return-Path:") || e.text.starts_with("From "))
        .map(|e| format!("{}/{}", e.group, e.id))
        .collect();
    assert_eq!(header_like, ["spam-2/00403"]);
    assert!(examples.iter().all(|e| !e.text.trim().is_empty()));

    let splits = split_examples(examples, (200, 500, 1000), 42).unwrap();
    assert_eq!((splits.train.len(), splits.val.len(), splits.test.len()), (200, 500, 1000));
    // 1896 / 6046 = 31.4% spam: 62.7 → 63 of 200, 219.5 → 220 of 700, 533.4 → 533 of 1700.
    assert_eq!((spam_count(&splits.train), spam_count(&splits.val), spam_count(&splits.test)), (63, 157, 313));
    let mut seen = HashSet::new();
    for e in splits.train.iter().chain(&splits.val).chain(&splits.test) {
        assert!(seen.insert((e.group.clone(), e.id.clone())));
    }
    assert_eq!(split_examples(load_spam_assassin(&dir).unwrap(), (200, 500, 1000), 42).unwrap(), splits);

    // The bag-of-words baseline: TF-IDF fitted on train, nearest class centroid by cosine.
    let train: Vec<&str> = splits.train.iter().map(|e| e.text.as_str()).collect();
    let test: Vec<&str> = splits.test.iter().map(|e| e.text.as_str()).collect();
    let tfidf = TfIdf::fit(&train, 5000, 2).unwrap();
    let f = tfidf.num_features();
    assert!(f > 1000 && f <= 5000, "{f} features");
    let xtrain = tfidf.transform(&train).unwrap().to_vec().unwrap();
    let xtest = tfidf.transform(&test).unwrap().to_vec().unwrap();
    let mut centroids = vec![vec![0f32; f]; 2];
    for (row, e) in xtrain.chunks(f).zip(&splits.train) {
        for (c, v) in centroids[e.label].iter_mut().zip(row) {
            *c += v;
        }
    }
    let correct = xtest
        .chunks(f)
        .zip(&splits.test)
        .filter(|(row, e)| {
            let score = |c: &[f32]| {
                let norm = c.iter().map(|v| v * v).sum::<f32>().sqrt();
                row.iter().zip(c).map(|(a, b)| a * b).sum::<f32>() / norm
            };
            usize::from(score(&centroids[1]) > score(&centroids[0])) == e.label
        })
        .count();
    let accuracy = correct as f32 / test.len() as f32;
    eprintln!(
        "real_corpus: TF-IDF ({f} features) + nearest centroid on 200 training mails: test accuracy {accuracy:.3}"
    );
    assert!(accuracy > 0.8, "accuracy {accuracy}");
}
