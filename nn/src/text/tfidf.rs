//! A bag-of-words TF-IDF vectoriser matching scikit-learn's `TfidfVectorizer` defaults.

use std::collections::HashMap;

use graft_engine::Tensor;

use crate::NnError;

/// A TF-IDF vocabulary: term → column, and an inverse document frequency per column.
///
/// It reproduces scikit-learn's
/// `TfidfVectorizer(lowercase=True, token_pattern=r"(?u)[^\W_]+", min_df=min_df, max_features=max_features)`
/// with its other defaults (`norm="l2"`, `use_idf=True`, `smooth_idf=True`, `sublinear_tf=False`):
///
/// - **Terms** are the runs of alphanumeric characters of the lower-cased text: anything that is
///   not alphanumeric (`char::is_alphanumeric`) separates terms, the underscore included, and
///   single characters are terms. (Python's `[^\W_]` and Rust's `is_alphanumeric` agree on
///   letters and digits of every script in practice; they differ only on rare marks and
///   numerals such as combining vowel signs.)
/// - **Vocabulary**: the terms whose document frequency (number of fitted texts containing them)
///   is at least `min_df`; of those, when more than `max_features` remain, the `max_features`
///   with the largest total count over all fitted texts (scikit-learn ranks by corpus term
///   frequency, not by document frequency), ties broken by the term in ascending order
///   (scikit-learn's tie order is whatever numpy's unstable argsort gives). Columns are the kept
///   terms in ascending (Unicode code point) order, as in scikit-learn's `vocabulary_`.
/// - **idf** of a column is `ln((1 + n) / (1 + df)) + 1`, `n` the number of fitted texts.
/// - [`TfIdf::transform`] gives raw term counts × idf, each row scaled to unit L2 norm (rows
///   with no known term stay zero).
///
/// ```
/// use graft_nn::text::TfIdf;
/// let docs = ["the cat sat", "the dog sat", "a cat and a dog"];
/// let tfidf = TfIdf::fit(&docs, 1000, 1)?;
/// assert_eq!(tfidf.terms(), ["a", "and", "cat", "dog", "sat", "the"]);
/// let x = tfidf.transform(&["The CAT!", "no known words"])?;
/// assert_eq!(x.shape(), &[2, 6]);
/// let rows = x.to_vec()?;
/// let norm: f32 = rows[..6].iter().map(|v| v * v).sum::<f32>().sqrt();
/// assert!((norm - 1.0).abs() < 1e-6);
/// assert!(rows[6..].iter().all(|&v| v == 0.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct TfIdf {
    terms: Vec<String>,
    columns: HashMap<String, usize>,
    idf: Vec<f64>,
}

/// The terms of `text`: lower-cased runs of alphanumeric characters.
fn terms_of(text: &str) -> Vec<String> {
    text.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_owned).collect()
}

impl TfIdf {
    /// Learns the vocabulary and idf of `texts` (see [`TfIdf`] for the rules): terms found in at
    /// least `min_df` texts (`0` counts as `1`), at most `max_features` of them, the most
    /// frequent over the corpus (`usize::MAX` keeps all).
    ///
    /// Refuses no texts, `max_features == 0`, and a vocabulary left empty by `min_df`.
    pub fn fit(texts: &[&str], max_features: usize, min_df: usize) -> crate::Result<TfIdf> {
        if texts.is_empty() {
            return Err(NnError::Data("TfIdf::fit needs at least one text to learn a vocabulary from".into()));
        }
        if max_features == 0 {
            return Err(NnError::Data(
                "TfIdf::fit got max_features = 0: ask for at least one feature (usize::MAX keeps every term)".into(),
            ));
        }
        // term -> (document frequency, total count)
        let mut stats: HashMap<String, (usize, usize)> = HashMap::new();
        for text in texts {
            let mut counts: HashMap<String, usize> = HashMap::new();
            for term in terms_of(text) {
                *counts.entry(term).or_insert(0) += 1;
            }
            for (term, count) in counts {
                let entry = stats.entry(term).or_insert((0, 0));
                entry.0 += 1;
                entry.1 += count;
            }
        }
        let seen = stats.len();
        let mut kept: Vec<(String, usize, usize)> =
            stats.into_iter().filter(|(_, (df, _))| *df >= min_df).map(|(t, (df, tf))| (t, df, tf)).collect();
        if kept.is_empty() {
            return Err(NnError::Data(format!(
                "TfIdf::fit: none of the {seen} terms of the {} texts occurs in min_df = {min_df} texts or more; lower min_df",
                texts.len()
            )));
        }
        if kept.len() > max_features {
            kept.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
            kept.truncate(max_features);
        }
        kept.sort_by(|a, b| a.0.cmp(&b.0));
        let n = texts.len() as f64;
        let idf = kept.iter().map(|(_, df, _)| ((1.0 + n) / (1.0 + *df as f64)).ln() + 1.0).collect();
        let terms: Vec<String> = kept.into_iter().map(|(t, _, _)| t).collect();
        let columns = terms.iter().enumerate().map(|(i, t)| (t.clone(), i)).collect();
        Ok(TfIdf { terms, columns, idf })
    }

    /// The `[texts.len(), num_features()]` f32 matrix of `texts`: each term's count × its idf,
    /// each row scaled to unit L2 norm; terms outside the vocabulary are ignored, and a text with
    /// none of the vocabulary's terms is a zero row. Computed in f64, stored as f32.
    pub fn transform(&self, texts: &[&str]) -> graft_engine::Result<Tensor> {
        let features = self.terms.len();
        let mut out = vec![0f32; texts.len() * features];
        let mut counts: HashMap<usize, f64> = HashMap::new();
        for (row, text) in out.chunks_mut(features.max(1)).zip(texts) {
            counts.clear();
            for term in terms_of(text) {
                if let Some(&column) = self.columns.get(&term) {
                    *counts.entry(column).or_insert(0.0) += 1.0;
                }
            }
            let norm = counts.iter().map(|(&c, &count)| (count * self.idf[c]).powi(2)).sum::<f64>().sqrt();
            if norm > 0.0 {
                for (&c, &count) in &counts {
                    row[c] = (count * self.idf[c] / norm) as f32;
                }
            }
        }
        Tensor::from_vec(out, &[texts.len(), features])
    }

    /// The number of columns [`TfIdf::transform`] gives.
    pub fn num_features(&self) -> usize {
        self.terms.len()
    }

    /// The vocabulary in column order (ascending).
    pub fn terms(&self) -> &[String] {
        &self.terms
    }

    /// The idf of each column, in column order.
    pub fn idf(&self) -> &[f64] {
        &self.idf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_on_non_alphanumerics_and_underscores() {
        let terms = terms_of("Hello, WORLD_wide x2 é-Été");
        assert_eq!(terms, ["hello", "world", "wide", "x2", "é", "été"]);
    }

    #[test]
    fn max_features_ranks_by_total_count_then_term() {
        // "b" is in one text but counted 3 times; "a" and "c" are in two texts each, once.
        let t = TfIdf::fit(&["a b b b c", "a c d"], 2, 1).unwrap();
        assert_eq!(t.terms(), ["a", "b"]);
        let t = TfIdf::fit(&["a b b b c", "a c d"], 3, 1).unwrap();
        assert_eq!(t.terms(), ["a", "b", "c"]);
        let t = TfIdf::fit(&["a b b b c", "a c d"], 10, 2).unwrap();
        assert_eq!(t.terms(), ["a", "c"]);
        assert!((t.idf()[0] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn refusals() {
        assert!(TfIdf::fit(&[], 10, 1).is_err());
        assert!(TfIdf::fit(&["a"], 0, 1).is_err());
        let err = TfIdf::fit(&["a", "b"], 10, 2).unwrap_err().to_string();
        assert!(err.contains("min_df"), "{err}");
    }

    #[test]
    fn empty_input_to_transform() {
        let t = TfIdf::fit(&["a b"], 10, 1).unwrap();
        assert_eq!(t.transform(&[]).unwrap().shape(), &[0, 2]);
        assert_eq!(t.transform(&["", "zzz"]).unwrap().to_vec().unwrap(), vec![0.0; 4]);
    }
}
