"""Regenerate nn/tests/data/text/tfidf_reference.json from scikit-learn's TfidfVectorizer.

Usage: python3 scripts/reference/tfidf_reference.py [OUT]
OUT defaults to nn/tests/data/text/tfidf_reference.json. Needs scikit-learn only (no torch).
The settings reproduce graft_nn::text::TfIdf exactly: lower-cased runs of alphanumeric
characters (`[^\\W_]+`, so `_` separates terms and single characters are terms), terms in at
least MIN_DF texts, of those the MAX_FEATURES with the largest total count, smooth idf, raw
counts, L2-normalised rows. scikit-learn breaks ties in that count with numpy's unstable
argsort, graft by term; the script refuses texts whose cut-off falls inside a tie, so the
reference does not depend on the tie order.
"""

import json
import sys

import numpy as np
import sklearn
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

OUT = sys.argv[1] if len(sys.argv) > 1 else "nn/tests/data/text/tfidf_reference.json"
# (max_features, min_df): the first cuts the vocabulary by total count, where ranking by
# document frequency would differ ("now" is in 3 texts, "free" in 2, but "free" is counted 4
# times and "now" 3); the second keeps every term.
CASES = [(3, 2), (1000, 1)]
TOKEN_PATTERN = r"(?u)[^\W_]+"

FIT_TEXTS = [
    "Win a FREE prize now! Click here to claim your prize.",
    "Meeting at 10am tomorrow: please bring the Q3 report.",
    "free_money free-money FREE money!!! click click click",
    "Re: the report -- I attached the draft, see page 2.",
    "Café au lait at the café? A short note, nothing more.",
    "URGENT: your account needs verification, click here now",
    "The build failed on x86_64; see log line 2 and line 10.",
    "lunch tomorrow? the usual place, 12:30 now",
]
TRANSFORM_TEXTS = FIT_TEXTS + [
    "Click HERE for a free report",
    "nothing known: zebra quokka",
    "",
]



def case(max_features, min_df):
    counts = CountVectorizer(token_pattern=TOKEN_PATTERN, min_df=min_df).fit(FIT_TEXTS)
    tfs = np.asarray(counts.transform(FIT_TEXTS).sum(axis=0)).ravel()
    ranked = np.sort(tfs)[::-1]
    if len(ranked) > max_features and ranked[max_features - 1] == ranked[max_features]:
        sys.exit(f"the max_features cut-off falls inside a tie of count {ranked[max_features]}: change the texts")
    vec = TfidfVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True, min_df=min_df, max_features=max_features)
    vec.fit(FIT_TEXTS)
    terms = vec.get_feature_names_out().tolist()
    assert terms == sorted(terms), "scikit-learn's columns are in term order"
    return {
        "max_features": max_features,
        "min_df": min_df,
        "terms": terms,
        "idf": vec.idf_.tolist(),
        "matrix": vec.transform(TRANSFORM_TEXTS).toarray().tolist(),
    }


cases = [case(m, d) for m, d in CASES]

with open(OUT, "w", encoding="utf-8") as f:
    json.dump(
        {
            "generator": f"scripts/reference/tfidf_reference.py, scikit-learn {sklearn.__version__}",
            "token_pattern": TOKEN_PATTERN,
            "fit_texts": FIT_TEXTS,
            "transform_texts": TRANSFORM_TEXTS,
            "cases": cases,
        },
        f,
        ensure_ascii=False,
        indent=1,
    )
    f.write("\n")
print(f"wrote {OUT}: " + ", ".join(f"{len(c['terms'])} terms" for c in cases) + f"; {len(TRANSFORM_TEXTS)} rows")
