"""Vigie models in Python: the loader of MLflow's ``python_function`` flavor.

Vigie writes this file into a model folder (``code/vigie_pyfunc.py``) for the families that can
be scored with numpy alone: the linear models (logistic regression, linear SVM) on char,
char_wb or word TF-IDF, and Isolation Forest on hashed, projected tokens. MLflow calls
``_load_pyfunc`` with the model folder; ``predict`` takes a DataFrame (column ``text``, else its
first column), a Series or a list of raw requests and returns a DataFrame with ``score`` and
``malicious``, the scores ``vigie score`` gives (within 1e-6): the training data's decoding,
then the model's own tokenisation and arithmetic.

The model's files are read as Vigie wrote them, each checked against the sha256 that the
manifest (``vigie-model.json``) lists: an edited or truncated file is refused, as Vigie refuses
it. ``model_config={"decode": False}`` scores the texts as given (``vigie score --no-decode``).
"""

import hashlib
import json
import math
import os
import re
import struct
from collections import Counter
from functools import lru_cache

import numpy as np

MANIFEST_FILE = "vigie-model.json"
SETTINGS_FILE = "python/pyfunc.json"
MANIFEST_VERSION = 1
SETTINGS_VERSION = 1
LINEAR_VERSION = 1
FOREST_VERSION = 1
FOREST_MAGIC = b"VIGIEIF\0"
SECURITY_TOKEN_PATTERN = r"[^\W\d]+|\d+|[^\w\s]"
MASK64 = (1 << 64) - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
EULER_GAMMA = 0.5772156649015329


class VigieModelError(Exception):
    """A model folder this loader cannot score with."""


def _load_pyfunc(path, model_config=None):
    """MLflow's entry point: the model in the folder ``path``."""
    return VigieModel(path, model_config)


class VigieModel:
    """A Vigie model folder, scoring raw requests as ``vigie score`` does."""

    def __init__(self, path, model_config=None):
        folder = ModelFolder(path)
        settings = folder.json(SETTINGS_FILE)
        if settings.get("format_version") != SETTINGS_VERSION:
            raise VigieModelError(f"{SETTINGS_FILE}: unsupported format version")
        decode = settings.get("decode")
        if model_config and model_config.get("decode") is False:
            decode = None
        self.decoder = Decoder(decode)
        self.threshold = float(folder.manifest["threshold"])
        self.kind = folder.manifest["kind"]
        family = folder.manifest["family"]
        if family == "linear":
            self.scorer = LinearScorer(folder)
        elif family == "anomaly":
            self.scorer = ForestScorer(folder)
        else:
            raise VigieModelError(f"the {family} family has no Python scorer")

    def predict(self, model_input, params=None):
        """``score`` and ``malicious`` of each raw request of ``model_input``."""
        import pandas as pd

        texts = [self.decoder(text) for text in input_texts(model_input)]
        scores = np.asarray(self.scorer.scores(texts), dtype=np.float64)
        return pd.DataFrame({"score": scores, "malicious": scores >= self.threshold})


def input_texts(model_input):
    """The requests of a DataFrame (column ``text``, else the first), a Series, a list or a
    single string."""
    if hasattr(model_input, "columns"):
        column = "text" if "text" in model_input.columns else model_input.columns[0]
        values = model_input[column].tolist()
    elif hasattr(model_input, "tolist"):
        values = model_input.tolist()
    elif isinstance(model_input, str):
        values = [model_input]
    else:
        values = list(model_input)
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"a request must be a string, got {type(value).__name__}")
    return values


class ModelFolder:
    """The manifest of a model folder and its files, each checked against the manifest."""

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, MANIFEST_FILE), "rb") as file:
            self.manifest = json.loads(file.read())
        if self.manifest.get("format") != "vigie-model":
            raise VigieModelError(f"{path}: not a Vigie model folder")
        if self.manifest.get("format_version") != MANIFEST_VERSION:
            raise VigieModelError(f"{path}: unsupported manifest version")

    def read(self, relative):
        expected = self.manifest["files"].get(relative)
        if expected is None:
            raise VigieModelError(f"{relative}: not listed in {MANIFEST_FILE}")
        with open(os.path.join(self.path, relative), "rb") as file:
            data = file.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected:
            raise VigieModelError(
                f"{relative}: checksum mismatch (sha256 {actual}, the manifest says "
                f"{expected}): the file was modified or truncated"
            )
        return data

    def json(self, relative):
        return json.loads(self.read(relative))


class Decoder:
    """Vigie's decoding of a raw request (the training dataset's ``[decode]`` table):
    percent-escapes in the charset, ``+`` as space if asked, lowercase, strip."""

    def __init__(self, settings):
        self.settings = settings
        if settings is None:
            return
        alternatives = []
        if settings["percent_decode"]:
            alternatives.append(rb"%[0-9A-Fa-f]{2}")
        if settings["plus_as_space"]:
            alternatives.append(rb"\+")
        self.escapes = re.compile(b"|".join(alternatives)) if alternatives else None

    def __call__(self, raw):
        settings = self.settings
        if settings is None:
            return raw
        data = raw.encode("utf-8", "surrogatepass")
        if self.escapes is not None:
            data = self.escapes.sub(_unescape, data)
        if settings["charset"] == "latin-1":
            text = data.decode("latin-1")
        else:
            text = data.decode("utf-8", "replace")
        if settings["lowercase"]:
            text = text.lower()
        if settings["trim"]:
            text = text.strip()
        return text


def _unescape(match):
    found = match.group(0)
    return b" " if found == b"+" else bytes([int(found[1:], 16)])


_WHITE_SPACES = re.compile(r"\s\s+")


def build_analyzer(config):
    """scikit-learn's analyzer for a Vigie tokenizer config: text to terms."""
    analyzer = config.get("analyzer", {"kind": "word"})
    kind = analyzer["kind"]
    low = analyzer.get("ngram_min", 1)
    high = analyzer.get("ngram_max", 1)
    lowercase = config.get("lowercase", True)
    if kind == "char":
        terms = lambda text: char_ngrams(_WHITE_SPACES.sub(" ", text), low, high)
    elif kind == "char_wb":
        terms = lambda text: char_wb_ngrams(text, low, high)
    elif kind == "word":
        pattern = re.compile(analyzer.get("pattern", SECURITY_TOKEN_PATTERN))
        terms = lambda text: word_ngrams(pattern.findall(text), low, high)
    else:
        raise VigieModelError(f"the {kind} analyzer has no Python port")
    if lowercase:
        return lambda text: terms(text.lower())
    return terms


def char_ngrams(text, low, high):
    return [
        text[start : start + n]
        for n in range(low, min(high, len(text)) + 1)
        for start in range(len(text) - n + 1)
    ]


def char_wb_ngrams(text, low, high):
    ngrams = []
    for word in text.split():
        padded = f" {word} "
        for n in range(low, high + 1):
            offset = 0
            ngrams.append(padded[offset : offset + n])
            while offset + n < len(padded):
                offset += 1
                ngrams.append(padded[offset : offset + n])
            if offset == 0:
                break
    return ngrams


def word_ngrams(tokens, low, high):
    return [
        " ".join(tokens[start : start + n])
        for n in range(low, min(high, len(tokens)) + 1)
        for start in range(len(tokens) - n + 1)
    ]


class LinearScorer:
    """Logistic regression or linear SVM on TF-IDF (``linear.json``, ``tfidf.json``,
    ``weights.f32``): ``bias + w . tfidf(text)``, through the sigmoid for logistic regression."""

    def __init__(self, folder):
        meta = folder.json("linear.json")
        if meta.get("format_version") != LINEAR_VERSION:
            raise VigieModelError("linear.json: unsupported format version")
        tfidf = folder.json("tfidf.json")
        config = tfidf["config"]
        weights = np.frombuffer(folder.read("weights.f32"), dtype="<f4")
        vocabulary = tfidf["vocabulary"]
        if not len(weights) == len(vocabulary) == meta["n_features"]:
            raise VigieModelError("weights.f32 and tfidf.json disagree on the feature count")
        # Vigie scores with idf and weights in single precision and sums in double.
        idf = np.asarray(tfidf["idf"], dtype=np.float64).astype(np.float32)
        if not config.get("use_idf", True):
            idf = np.ones_like(idf)
        self.entries = dict(zip(vocabulary, zip(idf.tolist(), weights.tolist())))
        self.terms = build_analyzer(config.get("tokenizer", {}))
        self.sublinear = config.get("sublinear_tf", False)
        self.norm = config.get("norm", "l2")
        self.bias = float(meta["bias"])
        self.logistic = meta["kind"] == "logistic_regression"

    def scores(self, texts):
        margins = [self.bias + self.dot(text) for text in texts]
        return [sigmoid(m) for m in margins] if self.logistic else margins

    def dot(self, text):
        dot = total = 0.0
        for term, count in Counter(self.terms(text)).items():
            entry = self.entries.get(term)
            if entry is None:
                continue
            idf, weight = entry
            value = (math.log(count) + 1.0 if self.sublinear else float(count)) * idf
            total += value * value if self.norm == "l2" else abs(value)
            dot += value * weight
        norm = {"l2": math.sqrt(total), "l1": total}.get(self.norm, 1.0)
        return dot / norm if norm > 0.0 else 0.0


def sigmoid(margin):
    if margin >= 0.0:
        return 1.0 / (1.0 + math.exp(-margin))
    e = math.exp(margin)
    return e / (1.0 + e)


class ForestScorer:
    """Isolation Forest (``isolation_forest.json``, ``trees.bin``) on Vigie's projection: feature
    hashing (xxh3) then a seeded sparse random projection, in single precision as Vigie does."""

    def __init__(self, folder):
        meta = folder.json("isolation_forest.json")
        if meta.get("format_version") != FOREST_VERSION:
            raise VigieModelError("isolation_forest.json: unsupported format version")
        self.projection = Projection(meta["config"]["projection"], meta["projection_seed"])
        self.forest = Forest(folder.read("trees.bin"))
        if self.forest.dims != self.projection.dims:
            raise VigieModelError("trees.bin and the projection disagree on the dimensions")

    def scores(self, texts):
        rows = np.zeros((len(texts), self.projection.dims), dtype=np.float32)
        for i, text in enumerate(texts):
            rows[i] = self.projection.project(text)
        return self.forest.scores(rows).tolist()


class Projection:
    """Vigie's ``anomaly::projection``: hashed rows projected to ``dims`` dense values."""

    def __init__(self, config, seed):
        hashing = config["hashing"]
        self.terms = build_analyzer(hashing.get("tokenizer", {}))
        self.n_features = hashing["n_features"]
        self.alternate_sign = hashing["alternate_sign"]
        self.sublinear = hashing["sublinear_tf"]
        self.norm = hashing["norm"]
        self.dims = config["dims"]
        self.normalize = config["normalize"]
        density = config["density"]
        self.nonzero_below = round_half_away(density * float(1 << 53))
        self.scale = np.float32(math.sqrt((1.0 / density) / self.dims))
        self.stream = np.uint64(mix64(seed ^ 0x6A09E667F3BCC909))
        self.dim_keys = np.arange(self.dims, dtype=np.uint64) * np.uint64(GOLDEN_GAMMA)

    def project(self, text):
        columns, values = self.hashed(text)
        row = np.zeros(self.dims, dtype=np.float32)
        if len(columns):
            weights = values * self.scale
            # Summed column by column in single precision, in Vigie's order.
            row = np.cumsum(self.signs(columns) * weights[:, None], axis=0, dtype=np.float32)[-1]
        if self.normalize:
            norm = math.sqrt(np.cumsum(row.astype(np.float64) ** 2)[-1])
            if norm > 0.0:
                row = row * np.float32(1.0 / norm)
        return row

    def hashed(self, text):
        """The hashed row: sorted columns and their float32 values."""
        sums = Counter()
        for term in self.terms(text):
            digest = term_hash(term)
            negative = self.alternate_sign and digest >> 63 == 1
            sums[digest % self.n_features] += -1.0 if negative else 1.0
        columns = [column for column in sorted(sums) if sums[column] != 0.0]
        values = [sums[column] for column in columns]
        if self.sublinear:
            values = [math.copysign(1.0 + math.log(abs(v)), v) for v in values]
        total = {"l2": lambda: math.sqrt(sequential_sum(v * v for v in values)),
                 "l1": lambda: sequential_sum(abs(v) for v in values)}.get(self.norm)
        divisor = total() if total else 0.0
        if divisor > 0.0:
            values = [v / divisor for v in values]
        return np.asarray(columns, dtype=np.uint64), np.asarray(values, dtype=np.float32)

    def signs(self, columns):
        """+1, -1 or 0: the projection matrix's entries for ``columns`` (rows) by dimension."""
        keys = mix64_array(mix64_array(self.stream + columns * np.uint64(GOLDEN_GAMMA)))
        draws = mix64_array(keys[:, None] ^ self.dim_keys[None, :]) >> np.uint64(11)
        half = self.nonzero_below // 2
        signs = np.where(draws < half, 1.0, np.where(draws < self.nonzero_below, -1.0, 0.0))
        return signs.astype(np.float32)


def sequential_sum(values):
    total = 0.0
    for value in values:
        total += value
    return total


def round_half_away(value):
    """Rust's ``f64::round`` of a non-negative number (Python's ``round`` rounds half to even)."""
    whole = math.floor(value)
    return whole + 1 if value - whole >= 0.5 else whole


def mix64(z):
    """SplitMix64's finaliser on a Python int."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def mix64_array(z):
    """SplitMix64's finaliser on a uint64 array (products wrap modulo 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


class Forest:
    """The trees of ``trees.bin`` (Vigie's little-endian layout) and their anomaly score."""

    NODE = np.dtype(
        [("feature", "<u4"), ("threshold", "<f4"), ("left", "<u4"), ("right", "<u4"), ("size", "<u4")]
    )

    def __init__(self, data):
        if data[:8] != FOREST_MAGIC:
            raise VigieModelError("trees.bin: not an isolation forest file")
        version, self.dims, self.samples_per_tree, n_trees = struct.unpack_from("<4I", data, 8)
        if version != FOREST_VERSION:
            raise VigieModelError("trees.bin: unsupported format version")
        offset = 24
        self.trees = []
        for _ in range(n_trees):
            (n_nodes,) = struct.unpack_from("<I", data, offset)
            nodes = np.frombuffer(data, self.NODE, count=n_nodes, offset=offset + 4)
            offset += 4 + Forest.NODE.itemsize * n_nodes
            adjustment = [average_path_length(int(size)) for size in nodes["size"]]
            self.trees.append((nodes, np.asarray(adjustment, dtype=np.float32)))
        if offset != len(data):
            raise VigieModelError("trees.bin: unexpected bytes after the last tree")

    def scores(self, points):
        total = np.zeros(len(points), dtype=np.float64)
        for nodes, adjustment in self.trees:
            total += path_lengths(nodes, adjustment, points)
        mean = total / max(len(self.trees), 1)
        normaliser = average_path_length(self.samples_per_tree)
        if normaliser <= 0.0:
            return np.ones(len(points))
        return np.exp2(-mean / normaliser)


def path_lengths(nodes, adjustment, points):
    """Depth at which each point reaches a leaf, plus that leaf's ``c(size)``."""
    rows = np.arange(len(points))
    index = np.zeros(len(points), dtype=np.int64)
    depth = np.zeros(len(points), dtype=np.float64)
    while True:
        left = nodes["left"][index]
        inner = left != 0
        if not inner.any():
            break
        goes_left = points[rows, nodes["feature"][index]] <= nodes["threshold"][index]
        child = np.where(goes_left, left, nodes["right"][index])
        index = np.where(inner, child, index)
        depth += inner
    return depth + adjustment[index].astype(np.float64)


def average_path_length(n):
    """``c(n)``, scikit-learn's ``_average_path_length``."""
    if n <= 1:
        return 0.0
    if n == 2:
        return 1.0
    n = float(n)
    return 2.0 * (math.log(n - 1.0) + EULER_GAMMA) - 2.0 * (n - 1.0) / n


# xxh3-64 with seed 0 and the default secret, as the `xxhash-rust` crate computes it: the
# column of a hashed term.
SECRET = bytes.fromhex(
    "b8fe6c3923a44bbe7c01812cf721ad1cded46de9839097db7240a4a4b7b3671f"
    "cb79e64eccc0e578825ad07dccff7221b8084674f743248ee03590e6813a264c"
    "3c2852bb91c300cb88d0658b1b532ea371644897a20df94e3819ef46a9deacd8"
    "a8fa763fe39c343ff9dcbbc7c70b4f1d8a51e04bcdb45931c89f7ec9d9787364"
    "eac5ac8334d3ebc3c581a0fffa1363eb170ddd51b7f0da49d316552629d4689e"
    "2b16be587d47a1fc8ff8b8d17ad031ce45cb3a8f95160428afd7fbcabb4b407e"
)
P32_1, P32_2, P32_3 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D
P64_1, P64_2, P64_3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P64_4, P64_5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def _u64(data, offset):
    return int.from_bytes(data[offset : offset + 8], "little")


def _u32(data, offset):
    return int.from_bytes(data[offset : offset + 4], "little")


def _fold(left, right):
    product = left * right
    return (product & MASK64) ^ (product >> 64)


def _avalanche(h):
    h ^= h >> 37
    h = (h * 0x165667919E3779F9) & MASK64
    return h ^ (h >> 32)


def _xxh64_avalanche(h):
    h ^= h >> 33
    h = (h * P64_2) & MASK64
    h ^= h >> 29
    h = (h * P64_3) & MASK64
    return h ^ (h >> 32)


def _rotl(value, bits):
    return ((value << bits) | (value >> (64 - bits))) & MASK64


def _mix16(data, offset, secret_offset):
    return _fold(
        _u64(data, offset) ^ _u64(SECRET, secret_offset),
        _u64(data, offset + 8) ^ _u64(SECRET, secret_offset + 8),
    )


def xxh3_64(data):
    n = len(data)
    if n == 0:
        return _xxh64_avalanche(_u64(SECRET, 56) ^ _u64(SECRET, 64))
    if n <= 3:
        combo = (data[0] << 16) | (data[n >> 1] << 24) | data[n - 1] | (n << 8)
        return _xxh64_avalanche(combo ^ (_u32(SECRET, 0) ^ _u32(SECRET, 4)))
    if n <= 8:
        keyed = (_u32(data, n - 4) + (_u32(data, 0) << 32)) ^ (_u64(SECRET, 8) ^ _u64(SECRET, 16))
        keyed ^= _rotl(keyed, 49) ^ _rotl(keyed, 24)
        keyed = (keyed * 0x9FB21C651E98DF25) & MASK64
        keyed ^= ((keyed >> 35) + n) & MASK64
        keyed = (keyed * 0x9FB21C651E98DF25) & MASK64
        return keyed ^ (keyed >> 28)
    if n <= 16:
        low = _u64(data, 0) ^ (_u64(SECRET, 24) ^ _u64(SECRET, 32))
        high = _u64(data, n - 8) ^ (_u64(SECRET, 40) ^ _u64(SECRET, 48))
        swapped = int.from_bytes(low.to_bytes(8, "little"), "big")
        return _avalanche((n + swapped + high + _fold(low, high)) & MASK64)
    if n <= 128:
        return _xxh3_17to128(data)
    if n <= 240:
        return _xxh3_129to240(data)
    return _xxh3_long(data)


def _xxh3_17to128(data):
    n = len(data)
    acc = n * P64_1
    pairs = [(0, 0)]
    if n > 32:
        pairs.append((16, 32))
    if n > 64:
        pairs.append((32, 64))
    if n > 96:
        pairs.append((48, 96))
    for offset, secret_offset in reversed(pairs):
        acc += _mix16(data, offset, secret_offset)
        acc += _mix16(data, n - offset - 16, secret_offset + 16)
    return _avalanche(acc & MASK64)


def _xxh3_129to240(data):
    n = len(data)
    acc = n * P64_1
    for i in range(8):
        acc += _mix16(data, 16 * i, 16 * i)
    acc = _avalanche(acc & MASK64)
    for i in range(8, n // 16):
        acc += _mix16(data, 16 * i, 16 * (i - 8) + 3)
    acc += _mix16(data, n - 16, 136 - 17)
    return _avalanche(acc & MASK64)


def _accumulate(acc, data, offset, secret_offset):
    for i in range(8):
        value = _u64(data, offset + 8 * i)
        key = value ^ _u64(SECRET, secret_offset + 8 * i)
        acc[i ^ 1] = (acc[i ^ 1] + value) & MASK64
        acc[i] = (acc[i] + (key & 0xFFFFFFFF) * (key >> 32)) & MASK64


def _xxh3_long(data):
    n = len(data)
    acc = [P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1]
    stripes = (len(SECRET) - 64) // 8
    block = 64 * stripes
    blocks = (n - 1) // block
    for b in range(blocks):
        for s in range(stripes):
            _accumulate(acc, data, b * block + 64 * s, 8 * s)
        for i in range(8):
            value = acc[i] ^ (acc[i] >> 47) ^ _u64(SECRET, len(SECRET) - 64 + 8 * i)
            acc[i] = (value * P32_1) & MASK64
    for s in range(((n - 1) - block * blocks) // 64):
        _accumulate(acc, data, blocks * block + 64 * s, 8 * s)
    _accumulate(acc, data, n - 64, len(SECRET) - 64 - 7)
    result = n * P64_1
    for i in range(4):
        result += _fold(acc[2 * i] ^ _u64(SECRET, 11 + 16 * i), acc[2 * i + 1] ^ _u64(SECRET, 19 + 16 * i))
    return _avalanche(result & MASK64)


@lru_cache(maxsize=1 << 16)
def term_hash(term):
    return xxh3_64(term.encode("utf-8"))
