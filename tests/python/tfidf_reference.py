#!/usr/bin/env python3
"""Fit scikit-learn's TfidfVectorizer on texts given by a Rust test; print the fitted
vocabulary, idf and the transformed matrix as JSON, for the parity tests.

Input (stdin, JSON): {"texts": [...], "params": {TfidfVectorizer keyword arguments}}.
`ngram_range` arrives as a list and is turned into a tuple. Output (stdout, JSON):
vocabulary in column order, idf, and the CSR matrix (indptr, indices, data) of
fit_transform(texts).
"""

import json
import sys

import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer


def main() -> None:
    request = json.load(sys.stdin)
    params = dict(request["params"])
    if "ngram_range" in params:
        params["ngram_range"] = tuple(params["ngram_range"])
    vectorizer = TfidfVectorizer(**params)
    matrix = vectorizer.fit_transform(request["texts"]).tocsr()
    matrix.sort_indices()
    vocabulary = [None] * len(vectorizer.vocabulary_)
    for term, column in vectorizer.vocabulary_.items():
        vocabulary[column] = term
    json.dump(
        {
            "sklearn_version": sklearn.__version__,
            "vocabulary": vocabulary,
            "idf": vectorizer.idf_.tolist(),
            "indptr": matrix.indptr.tolist(),
            "indices": matrix.indices.tolist(),
            "data": matrix.data.tolist(),
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
