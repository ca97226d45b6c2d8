//! Labelled text corpora: the SpamAssassin public mail corpus, and seeded stratified splits.
//!
//! `bash scripts/fetch-spam-assassin.sh` puts the corpus in `data/spam-assassin/`: one JSON
//! file per message (`{"id", "group", "checksum", "text"}`, `text` the raw mail with its
//! headers) in five group directories, `easy-ham-1`, `easy-ham-2`, `hard-ham-1` (ham) and
//! `spam-1`, `spam-2` (spam).
//!
//! ```no_run
//! use graft_nn::data::text::{load_spam_assassin, split_examples};
//! use graft_nn::text::TfIdf;
//! use std::path::Path;
//! let corpus = load_spam_assassin(Path::new("data/spam-assassin"))?;
//! let splits = split_examples(corpus, (200, 500, 1000), 42)?;
//! let texts: Vec<&str> = splits.train.iter().map(|e| e.text.as_str()).collect();
//! let tfidf = TfIdf::fit(&texts, 5000, 2)?;
//! let x = tfidf.transform(&texts)?; // [200, ≤5000]
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use graft_engine::Rng;

use crate::NnError;

/// The fix named when the corpus is missing or damaged.
const FETCH_HINT: &str = "run `bash scripts/fetch-spam-assassin.sh [DIR]` to fetch it";

/// One labelled message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextExample {
    /// The message's id within its group (`"00001"`).
    pub id: String,
    /// The group (directory) it came from (`"easy-ham-1"`, `"spam-2"`, ...).
    pub group: String,
    /// The text: for SpamAssassin, the mail body without its headers.
    pub text: String,
    /// The class: `0` = ham, `1` = spam.
    pub label: usize,
}

/// Train, validation and test examples, disjoint; see [`split_examples`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextSplits {
    pub train: Vec<TextExample>,
    pub val: Vec<TextExample>,
    pub test: Vec<TextExample>,
}

/// The label of a SpamAssassin group: `easy-ham*` and `hard-ham*` are ham (0), `spam*` is spam (1).
fn group_label(group: &str) -> Option<usize> {
    if group.starts_with("easy-ham") || group.starts_with("hard-ham") {
        Some(0)
    } else if group.starts_with("spam") {
        Some(1)
    } else {
        None
    }
}

/// The body of a raw mail: the text after the first blank line (`"\n\n"` or `"\r\n\r\n"`,
/// whichever comes first), or the whole text when it has no blank line. A text that starts
/// with a blank line has no headers: its body is the rest.
///
/// ```
/// use graft_nn::data::text::strip_mail_headers;
/// assert_eq!(strip_mail_headers("Subject: hi\nFrom: a@b\n\nHello\n\nBye"), "Hello\n\nBye");
/// assert_eq!(strip_mail_headers("Subject: hi\r\n\r\nHello"), "Hello");
/// assert_eq!(strip_mail_headers("no headers here"), "no headers here");
/// ```
pub fn strip_mail_headers(raw: &str) -> &str {
    if let Some(rest) = raw.strip_prefix("\r\n").or_else(|| raw.strip_prefix('\n')) {
        return rest;
    }
    let lf = raw.find("\n\n").map(|i| i + 2);
    let crlf = raw.find("\r\n\r\n").map(|i| i + 4);
    let start = match (lf, crlf) {
        // Compare where the blank lines begin, not where the bodies do.
        (Some(a), Some(b)) => {
            if a - 2 <= b - 4 {
                a
            } else {
                b
            }
        }
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => 0,
    };
    &raw[start..]
}

/// Reads every `<dir>/<group>/*.json` message of a SpamAssassin corpus (as
/// `scripts/fetch-spam-assassin.sh` lays it out), sorted by (group, id), with the mail headers
/// stripped ([`strip_mail_headers`]). Messages whose body is empty or whitespace only are
/// dropped; [`load_spam_assassin_counted`] says how many. Files in `dir` itself (`LICENSE`,
/// `NOTICE`) and files not ending in `.json` are ignored.
///
/// Refuses a missing or empty directory, a group that is neither ham (`easy-ham*`,
/// `hard-ham*`) nor spam (`spam*`), a file that is not JSON, lacks a string `"text"`, or names
/// another group than its directory.
pub fn load_spam_assassin(dir: &Path) -> crate::Result<Vec<TextExample>> {
    load_spam_assassin_counted(dir).map(|(examples, _)| examples)
}

/// [`load_spam_assassin`], also giving the number of messages dropped for an empty body.
pub fn load_spam_assassin_counted(dir: &Path) -> crate::Result<(Vec<TextExample>, usize)> {
    let entries = fs::read_dir(dir).map_err(|e| {
        NnError::Data(format!("cannot read the SpamAssassin corpus directory {}: {e}; {FETCH_HINT}", dir.display()))
    })?;
    let mut group_dirs: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| NnError::Data(format!("cannot list {}: {e}", dir.display())))?;
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        let Some(group) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            return Err(NnError::Data(format!("{}: a group directory name must be UTF-8", path.display())));
        };
        if group.starts_with('.') {
            continue; // hidden (e.g. a fetch interrupted while staging)
        }
        if group_label(&group).is_none() {
            return Err(NnError::Data(format!(
                "{}: unknown SpamAssassin group {group:?}; groups are easy-ham*, hard-ham* (ham) and spam* (spam) — move or remove that directory",
                path.display()
            )));
        }
        group_dirs.push((group, path));
    }
    if group_dirs.is_empty() {
        return Err(NnError::Data(format!(
            "{} holds no SpamAssassin group directories (easy-ham-1, spam-1, ...); {FETCH_HINT}",
            dir.display()
        )));
    }

    let mut examples = Vec::new();
    let mut dropped = 0;
    for (group, group_dir) in &group_dirs {
        let label = group_label(group).unwrap_or(0); // every group was checked above
        let files = fs::read_dir(group_dir)
            .map_err(|e| NnError::Data(format!("cannot list {}: {e}; {FETCH_HINT}", group_dir.display())))?;
        for file in files {
            let path = file.map_err(|e| NnError::Data(format!("cannot list {}: {e}", group_dir.display())))?.path();
            if path.extension().and_then(|x| x.to_str()) != Some("json") || !path.is_file() {
                continue;
            }
            let (id, text) = read_message(&path, group)?;
            let body = strip_mail_headers(&text);
            if body.trim().is_empty() {
                dropped += 1;
                continue;
            }
            examples.push((path, TextExample { id, group: group.clone(), text: body.to_owned(), label }));
        }
    }
    examples.sort_by(|(pa, a), (pb, b)| (&a.group, &a.id, pa).cmp(&(&b.group, &b.id, pb)));
    Ok((examples.into_iter().map(|(_, e)| e).collect(), dropped))
}

/// The id and raw text of one message file. The id falls back to the file name up to its
/// first `.` when the file has no `"id"`.
fn read_message(path: &Path, group: &str) -> crate::Result<(String, String)> {
    let damaged = |what: String| NnError::Data(format!("{}: {what}; {FETCH_HINT} again", path.display()));
    let bytes = fs::read(path).map_err(|e| damaged(format!("cannot read it: {e}")))?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| damaged(format!("not a JSON message: {e}")))?;
    let text = match json.get("text") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(_) => return Err(damaged("its \"text\" is not a string".into())),
        None => return Err(damaged("the message has no \"text\" field".into())),
    };
    if let Some(g) = json.get("group") {
        if g.as_str() != Some(group) {
            return Err(damaged(format!("the message says group {g}, but it is in the directory of group {group:?}")));
        }
    }
    let id = match json.get("id") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => return Err(damaged(format!("its \"id\" {other} is not a string"))),
        None => {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.split('.').next().unwrap_or_default().to_owned()
        }
    };
    Ok((id, text))
}

/// A reproducible stratified split into `sizes = (train, val, test)` examples.
///
/// Each class is shuffled with `Rng::new(seed)` (ham first, then spam, from one stream); each
/// split takes as many spam examples as the corpus proportion gives it (rounded so that the
/// cumulative counts train, train + val, train + val + test each follow the proportion to
/// within half an example), the rest ham; each split is then shuffled so its classes are
/// interleaved. The same corpus, sizes and seed give the same splits; the splits are disjoint.
/// Examples beyond `train + val + test` are left out.
///
/// Refuses sizes adding up to more than the corpus holds, and labels other than 0 and 1.
///
/// ```
/// use graft_nn::data::text::{split_examples, TextExample};
/// let corpus: Vec<TextExample> = (0..10)
///     .map(|i| TextExample { id: format!("{i}"), group: "g".into(), text: "t".into(), label: usize::from(i < 3) })
///     .collect();
/// let s = split_examples(corpus, (6, 2, 2), 7)?;
/// assert_eq!(s.train.iter().filter(|e| e.label == 1).count(), 2); // 30% of 6 ≈ 2
/// assert_eq!((s.train.len(), s.val.len(), s.test.len()), (6, 2, 2));
/// # Ok::<(), graft_nn::NnError>(())
/// ```
pub fn split_examples(
    examples: Vec<TextExample>,
    sizes: (usize, usize, usize),
    seed: u64,
) -> crate::Result<TextSplits> {
    let (train, val, test) = sizes;
    let total = examples.len();
    let wanted = train.checked_add(val).and_then(|s| s.checked_add(test));
    if wanted.is_none_or(|w| w > total) {
        return Err(NnError::Data(format!(
            "split sizes (train {train}, val {val}, test {test}) need {} examples, but the corpus has {total}; ask for smaller splits",
            wanted.map_or_else(|| "more than usize::MAX".to_owned(), |w| w.to_string())
        )));
    }
    if let Some(bad) = examples.iter().find(|e| e.label > 1) {
        return Err(NnError::Data(format!(
            "split_examples: example {}/{} has label {}; only 0 (ham) and 1 (spam) are stratified",
            bad.group, bad.id, bad.label
        )));
    }
    let (mut spam, mut ham): (Vec<_>, Vec<_>) = examples.into_iter().partition(|e| e.label == 1);
    let mut rng = Rng::new(seed);
    rng.shuffle(&mut ham);
    rng.shuffle(&mut spam);
    let n_spam = spam.len();
    // Spam among the first `c` examples: round(c * n_spam / total), in u128 so it cannot overflow.
    let spam_upto = |c: usize| -> usize {
        if total == 0 {
            0
        } else {
            ((2 * c as u128 * n_spam as u128 + total as u128) / (2 * total as u128)) as usize
        }
    };
    let cuts = [0, train, train + val, train + val + test];
    let mut ham = ham.into_iter();
    let mut spam = spam.into_iter();
    let mut parts = Vec::with_capacity(3);
    for w in cuts.windows(2) {
        let take_spam = spam_upto(w[1]) - spam_upto(w[0]);
        let take_ham = (w[1] - w[0]) - take_spam;
        let mut part: Vec<TextExample> = spam.by_ref().take(take_spam).chain(ham.by_ref().take(take_ham)).collect();
        rng.shuffle(&mut part);
        parts.push(part);
    }
    let mut parts = parts.into_iter();
    let (train, val, test) = (parts.next(), parts.next(), parts.next());
    Ok(TextSplits { train: train.unwrap_or_default(), val: val.unwrap_or_default(), test: test.unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus(n: usize, spam: usize) -> Vec<TextExample> {
        (0..n)
            .map(|i| TextExample {
                id: format!("{i:05}"),
                group: if i < spam { "spam-1" } else { "easy-ham-1" }.into(),
                text: format!("message {i}"),
                label: usize::from(i < spam),
            })
            .collect()
    }

    #[test]
    fn headers_are_stripped() {
        assert_eq!(strip_mail_headers("A: b\nC: d\n\nbody\n"), "body\n");
        assert_eq!(strip_mail_headers("A: b\r\n\r\nbody\r\n\r\nmore"), "body\r\n\r\nmore");
        assert_eq!(strip_mail_headers("A: b\r\n\r\nx\n\ny"), "x\n\ny");
        assert_eq!(strip_mail_headers("A: b\n\nx\r\n\r\ny"), "x\r\n\r\ny");
        assert_eq!(strip_mail_headers("\nbody"), "body");
        assert_eq!(strip_mail_headers("A: b\n\n"), "");
        assert_eq!(strip_mail_headers("just text"), "just text");
        assert_eq!(strip_mail_headers(""), "");
    }

    #[test]
    fn split_is_stratified_and_exact() {
        let s = split_examples(corpus(1000, 310), (200, 300, 500), 1).unwrap();
        let spam = |v: &[TextExample]| v.iter().filter(|e| e.label == 1).count();
        assert_eq!((spam(&s.train), spam(&s.val), spam(&s.test)), (62, 93, 155));
        assert_eq!((s.train.len(), s.val.len(), s.test.len()), (200, 300, 500));
    }

    #[test]
    fn split_edge_cases() {
        let s = split_examples(corpus(5, 0), (2, 2, 1), 3).unwrap();
        assert!(s.train.iter().chain(&s.val).chain(&s.test).all(|e| e.label == 0));
        let s = split_examples(corpus(5, 5), (0, 0, 5), 3).unwrap();
        assert_eq!(s.test.len(), 5);
        let s = split_examples(Vec::new(), (0, 0, 0), 3).unwrap();
        assert!(s.train.is_empty());
        assert!(split_examples(corpus(5, 1), (usize::MAX, 1, 1), 3).is_err());
        let mut bad = corpus(3, 1);
        bad[0].label = 2;
        assert!(split_examples(bad, (1, 1, 1), 0).is_err());
    }
}
