"""Build tiny but real Argos Translate packages for tests.

A package built here has the layout of the packages in the Argos index::

    translate-en_fr-1_0/
        metadata.json
        README.md
        sentencepiece.model
        model/            (CTranslate2 model: model.bin, config.json,
                           shared_vocabulary.json)

and it loads and decodes through the real path (``ctranslate2.Translator``
on ``model/``, tokenised with the package's sentencepiece model).  The
weights are random, so a normal package translates into nonsense, but it
does so deterministically for a given ``seed``.

``copy=True`` builds a hand-wired model whose greedy/beam output is the
source sentence itself, token by token (see ``_fill_copy_weights``): use it
when a test needs to predict the output, e.g. for term enforcement.  The
output is the source as sentencepiece normalises it (NFKC: a full-width
"，" comes back as ","), input is limited to MAX_POSITIONS (256) tokens, and
tokens unknown to the vocabulary come back only with
``replace_unknowns=True`` (argostranslate sets it).  Note that
argostranslate's ``SentencePieceTokenizer.decode`` also turns "_" into a
space, so "A_01" comes back as "A 01" through that decoder.

Everything is plain functions: pytest fixtures that cache packages are
wired elsewhere.
"""

from __future__ import annotations

import functools
import io
import itertools
import json
import tempfile
import zipfile
from pathlib import Path

import ctranslate2
import numpy as np
import sentencepiece as spm
from ctranslate2.specs import model_spec

LANGUAGE_NAMES = {
    "en": "English",
    "fr": "French",
    "zh": "Chinese",
    "ko": "Korean",
    "ms": "Malay",
}

# Shop-floor lines in the five languages; CJK and Hangul are included so that
# the sentencepiece model covers those scripts (character_coverage=1.0).
DEFAULT_CORPUS: tuple[str, ...] = (
    "The anode coating line stopped because the slurry viscosity alarm was triggered.",
    "Check the open circuit voltage before the module is packed.",
    "The formation cabinet shows a temperature alarm on channel twelve.",
    "Please move the cells to the aging room after electrolyte filling.",
    "Wear gloves and safety glasses near the electrolyte tank.",
    "Veuillez vérifier la tension en circuit ouvert avant l'emballage du module.",
    "La ligne d'enduction de l'anode est arrêtée à cause d'une alarme de viscosité.",
    "Déplacez les cellules vers la salle de vieillissement après le remplissage.",
    "涂布机的浆料粘度报警，请检查搅拌罐。",
    "模组包装前请检查开路电压。",
    "化成柜第十二通道温度报警。",
    "注液后请把电芯移到老化房。",
    "전해액 주입 후 셀을 에이징 룸으로 옮기세요.",
    "모듈 포장 전에 개방 회로 전압을 확인하세요.",
    "음극 코팅 라인이 슬러리 점도 알람으로 정지했습니다.",
    "Sila periksa voltan litar terbuka sebelum pembungkusan modul.",
    "Talian salutan anod berhenti kerana penggera kelikatan buburan.",
    "Pindahkan sel ke bilik penuaan selepas pengisian elektrolit.",
    "OCV, AGV, BMS, SOC, 3.65 V, 25 °C, 100%, #12, A-01.",
)

# Control tokens in the order OpenNMT-py writes them; CTranslate2 needs the
# unk/bos/eos tokens named in its config.json ("<unk>", "<s>", "</s>").
SPECIAL_TOKENS = ("<unk>", "<blank>", "<s>", "</s>")


@functools.lru_cache(maxsize=16)
def train_sentencepiece(corpus: tuple[str, ...] = DEFAULT_CORPUS, vocab_size: int = 160) -> bytes:
    """Train a unigram sentencepiece model and return its serialized bytes.

    ``hard_vocab_limit=False`` lets a corpus this small end with fewer pieces
    than asked.  Cached: training is cheap, but tests build many packages.
    """
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=buffer,
        vocab_size=vocab_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
    )
    return buffer.getvalue()


def vocabulary_from_sentencepiece(model_bytes: bytes) -> list[str]:
    """CTranslate2 vocabulary: the special tokens, then every ordinary piece."""
    processor = spm.SentencePieceProcessor(model_proto=model_bytes)
    pieces = [
        processor.id_to_piece(i)
        for i in range(processor.get_piece_size())
        if not (processor.is_control(i) or processor.is_unknown(i))
    ]
    return list(SPECIAL_TOKENS) + pieces


# --------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------


def _weight_shape(name: str, vocab: int, d_model: int, ff: int) -> tuple[int, ...]:
    """Shape of a TransformerSpec weight from its scope name."""
    if name.endswith(("embeddings_0/weight", "embeddings/weight", "projection/weight")):
        return (vocab, d_model)
    if name.endswith(("/gamma", "/beta")):
        return (d_model,)
    # ".../<block>/linear_<i>/weight"
    block, linear = name.split("/")[-3:-1]
    shapes = {
        ("ffn", "linear_0"): (ff, d_model),
        ("ffn", "linear_1"): (d_model, ff),
        ("self_attention", "linear_0"): (3 * d_model, d_model),  # fused Q, K, V
        ("self_attention", "linear_1"): (d_model, d_model),  # output
        ("attention", "linear_0"): (d_model, d_model),  # Q (encoder-decoder attention)
        ("attention", "linear_1"): (2 * d_model, d_model),  # fused K, V
        ("attention", "linear_2"): (d_model, d_model),  # output
    }
    if (block, linear) not in shapes:
        raise ValueError(f"no shape rule for weight {name}")
    return shapes[(block, linear)]


def _fill_random_weights(spec, *, vocab: int, d_model: int, ff: int, seed: int) -> None:
    """Set every required (still None) weight of ``spec`` to random values."""
    rng = np.random.default_rng(seed)

    def fill(layer, name, value):
        if value is not None:
            return
        shape = _weight_shape(name, vocab, d_model, ff)
        attr = name.rsplit("/", 1)[-1]
        if attr == "gamma":
            array = np.ones(shape, dtype=np.float32)
        elif attr == "beta":
            array = np.zeros(shape, dtype=np.float32)
        else:
            array = rng.normal(0.0, 1.0 / np.sqrt(shape[-1]), shape).astype(np.float32)
        setattr(layer, attr, array)

    model_spec.visit_spec(spec, fill)


# Copy model.  The residual stream is laid out as [h, -h] where
# h = [token code (CODE_DIM) | position (2 * N_FREQ)].  The mirrored half keeps
# every vector at zero mean, so each layer norm is a plain uniform scaling and
# never mixes the token and position parts.  With 2 heads, head 0 sees h and
# head 1 sees -h, and both compute the same attention.
CODE_DIM = 64
N_FREQ = 16
MAX_POSITIONS = 256
_QK_GAIN = 4.0  # sharpens cross-attention onto the same position
_COPY_GAIN = 8.0  # copied source token outweighs the decoder's own input token


def _position_table() -> np.ndarray:
    """Random-frequency sinusoids: p_t . p_s is largest, by a clear margin, at s == t."""
    freqs = np.random.default_rng(1234).uniform(0.15, 3.0, N_FREQ)
    angles = np.outer(np.arange(MAX_POSITIONS), freqs)
    table = np.concatenate([np.cos(angles), np.sin(angles)], axis=1)
    gram = table @ table.T
    np.fill_diagonal(gram, -np.inf)
    assert (N_FREQ - gram.max(axis=1)).min() > 5.0, "position codes too close"
    return table.astype(np.float32)


def _mirror(half: np.ndarray) -> np.ndarray:
    """[x] -> [x, -x] along the last axis."""
    return np.concatenate([half, -half], axis=-1)


def _lift(matrix: np.ndarray) -> np.ndarray:
    """Apply the same map to both mirrored halves: block-diagonal (M, M)."""
    rows, cols = matrix.shape
    out = np.zeros((2 * rows, 2 * cols), dtype=np.float32)
    out[:rows, :cols] = matrix
    out[rows:, cols:] = matrix
    return out


def _select(half_dim: int, start: int, stop: int, gain: float) -> np.ndarray:
    """Half-space map keeping dims [start, stop) scaled by gain, zeroing the rest."""
    diag = np.zeros(half_dim, dtype=np.float32)
    diag[start:stop] = gain
    return np.diag(diag)


def _fill_copy_weights(spec, *, vocab: int) -> None:
    """Hand-wire a model whose output repeats the source token by token.

    Encoder: every sublayer outputs zero, so it passes token + position on.
    Decoder layer 0: cross-attention matches the decoder step's position
    against the source positions (query/key read only the position part) and
    copies the token code found there (value reads only the token part).  The
    output projection reads the token part back.  Every other sublayer
    outputs zero.  The source ends with </s> (add_source_eos), so copying it
    ends the output.
    """
    half = CODE_DIM + 2 * N_FREQ
    d_model = 2 * half
    _fill_random_weights(spec, vocab=vocab, d_model=d_model, ff=4, seed=0)

    codes = np.random.default_rng(99).choice([-1.0, 1.0], size=(vocab, CODE_DIM)).astype(np.float32)
    zeros_pos = np.zeros((vocab, 2 * N_FREQ), dtype=np.float32)
    embeddings = _mirror(np.concatenate([codes, zeros_pos], axis=1))
    positions = _mirror(
        np.concatenate([np.zeros((MAX_POSITIONS, CODE_DIM), dtype=np.float32), _position_table()], axis=1)
    )
    position_only = _lift(_select(half, CODE_DIM, half, _QK_GAIN))
    token_only = _lift(_select(half, 0, CODE_DIM, _COPY_GAIN))
    zero = np.zeros((d_model, d_model), dtype=np.float32)

    for stack in (spec.encoder, spec.decoder):
        stack.scale_embeddings = False  # keep token and position parts at set scales
        stack.position_encodings.encodings = positions
        for layer in stack.layer:
            layer.self_attention.linear[1].weight = zero
            layer.ffn.linear_1.weight = np.zeros_like(layer.ffn.linear_1.weight)
    spec.encoder.embeddings[0].weight = embeddings
    spec.decoder.embeddings.weight = embeddings

    projection = np.zeros((vocab, d_model), dtype=np.float32)
    projection[:, :CODE_DIM] = codes
    spec.decoder.projection.weight = projection

    for index, layer in enumerate(spec.decoder.layer):
        attention = layer.attention
        attention.linear[0].weight = position_only  # queries
        attention.linear[1].weight = np.concatenate([position_only, token_only])  # keys, values
        attention.linear[2].weight = np.eye(d_model, dtype=np.float32) if index == 0 else zero


def build_spec(
    vocabulary: list[str], *, layers: int, d_model: int, heads: int, ff: int, seed: int, copy: bool
) -> ctranslate2.specs.TransformerSpec:
    """A validated TransformerSpec over ``vocabulary`` (shared source/target)."""
    spec = ctranslate2.specs.TransformerSpec.from_config(layers, 2 if copy else heads)
    if copy:
        _fill_copy_weights(spec, vocab=len(vocabulary))
        spec.config.add_source_eos = True
    else:
        _fill_random_weights(spec, vocab=len(vocabulary), d_model=d_model, ff=ff, seed=seed)
    spec.register_source_vocabulary(vocabulary)
    spec.register_target_vocabulary(vocabulary)
    spec.validate()
    return spec


# --------------------------------------------------------------------------
# Package
# --------------------------------------------------------------------------


def package_name(from_code: str, to_code: str, version: str) -> str:
    """Folder / file stem used by the Argos index, e.g. translate-en_fr-1_0."""
    return f"translate-{from_code}_{to_code}-{version.replace('.', '_')}"


def metadata_for(from_code: str, to_code: str, version: str) -> dict:
    """metadata.json content shaped like the real packages'."""
    return {
        "package_version": version,
        "argos_version": "1.0",
        "from_code": from_code,
        "from_name": LANGUAGE_NAMES.get(from_code, from_code),
        "to_code": to_code,
        "to_name": LANGUAGE_NAMES.get(to_code, to_code),
    }


def write_package_folder(
    folder: Path,
    from_code: str,
    to_code: str,
    *,
    version: str,
    corpus: tuple[str, ...],
    layers: int,
    d_model: int,
    heads: int,
    ff: int,
    seed: int,
    copy: bool,
    quantization: str,
) -> Path:
    """Write an unpacked package into ``folder`` (created; must not exist)."""
    sp_bytes = train_sentencepiece(corpus)
    spec = build_spec(
        vocabulary_from_sentencepiece(sp_bytes),
        layers=layers, d_model=d_model, heads=heads, ff=ff, seed=seed, copy=copy,
    )
    spec.optimize(quantization=quantization)
    folder.mkdir(parents=True)
    model_dir = folder / "model"
    model_dir.mkdir()
    spec.save(str(model_dir))
    (folder / "sentencepiece.model").write_bytes(sp_bytes)
    metadata = metadata_for(from_code, to_code, version)
    (folder / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False, indent=2), encoding="utf-8")
    (folder / "README.md").write_text(
        f"# Test package {from_code} -> {to_code}\n\nRandom weights{' (copy model)' if copy else ''}; for tests only.\n",
        encoding="utf-8",
    )
    return folder


def zip_folder(folder: Path, archive: Path) -> Path:
    """Zip ``folder`` so that its name is the archive's one top-level folder."""
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(folder, f"{folder.name}/")
        for path in sorted(folder.rglob("*")):
            zf.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return archive


def build_package(
    dest_dir: Path,
    from_code: str,
    to_code: str,
    *,
    version: str = "1.0",
    corpus: tuple[str, ...] | list[str] | None = None,
    layers: int = 2,
    d_model: int = 32,
    heads: int = 2,
    ff: int = 64,
    seed: int = 0,
    as_zip: bool = True,
    copy: bool = False,
    quantization: str = "int8",
) -> Path:
    """Build a tiny real Argos package in ``dest_dir`` and return its path.

    ``as_zip=True`` returns ``dest_dir/translate-<from>_<to>-<version>.argosmodel``
    (one top-level folder of the same stem); ``as_zip=False`` returns that
    folder unpacked.  ``copy=True`` builds the copy model (its output is the
    source; ``d_model``, ``heads`` and ``ff`` are then fixed by the wiring and
    input is limited to MAX_POSITIONS tokens).  ``quantization`` is any
    CTranslate2 type, e.g. "int8" (like the real packages) or "float32".
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = package_name(from_code, to_code, version)
    options = dict(
        version=version,
        corpus=tuple(corpus) if corpus is not None else DEFAULT_CORPUS,
        layers=layers, d_model=d_model, heads=heads, ff=ff, seed=seed,
        copy=copy, quantization=quantization,
    )
    if not as_zip:
        return write_package_folder(dest_dir / name, from_code, to_code, **options)
    with tempfile.TemporaryDirectory(dir=dest_dir) as scratch:
        folder = write_package_folder(Path(scratch) / name, from_code, to_code, **options)
        return zip_folder(folder, dest_dir / f"{name}.argosmodel")


def translate_with_package(package_dir: Path, sentences: list[str], *, max_decoding_length: int = 64) -> list[str]:
    """Translate through the real load path (what the engine will do).

    Greedy decoding; unknown target tokens are replaced by the source token
    with the most attention, as argostranslate does.
    """
    package_dir = Path(package_dir)
    processor = spm.SentencePieceProcessor(model_file=str(package_dir / "sentencepiece.model"))
    translator = ctranslate2.Translator(str(package_dir / "model"), device="cpu")
    tokens = [processor.encode(sentence, out_type=str) for sentence in sentences]
    results = translator.translate_batch(
        tokens, beam_size=1, max_decoding_length=max_decoding_length, replace_unknowns=True
    )
    return [processor.decode_pieces(result.hypotheses[0]) for result in results]




def train_padded_sentencepiece(corpus: tuple[str, ...], trained_size: int, vocab_size: int) -> bytes:
    """A BPE sentencepiece model of ``trained_size`` pieces learnt from
    ``corpus``, then padded with filler pieces until the CTranslate2
    vocabulary made from it (``vocabulary_from_sentencepiece``) has
    ``vocab_size`` tokens.

    BPE, not unigram: on a small corpus unigram stops at a few hundred pieces
    and cuts words into letters, where BPE keeps whole words as a real 32k
    model does. Every printable ASCII character is added to the corpus, as
    every real model covers them (the engine's "[T1]" placeholders).

    The fillers are user-defined pieces, "▁x" + four consonants: words no
    input contains, decoded as space + word, and encoded back to the same
    single piece. That matters for pivots: the first model's output (mostly
    fillers, with random weights) is the second model's input, and it stays
    as many tokens as the first model produced.
    """
    from sentencepiece import sentencepiece_model_pb2

    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter((*corpus, "".join(map(chr, range(33, 127))))),
        model_writer=buffer,
        model_type="bpe",
        vocab_size=trained_size,
        hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2,
    )
    missing = vocab_size - len(vocabulary_from_sentencepiece(buffer.getvalue()))
    if missing < 0:
        raise ValueError(f"the trained model alone has more than {vocab_size} tokens")
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(buffer.getvalue())
    existing = {piece.piece for piece in proto.pieces}
    names = ("▁x" + "".join(c) for c in itertools.product("bcdfghjklmnpqrstvwz", repeat=4))
    for name in itertools.islice((n for n in names if n not in existing), missing):
        piece = proto.pieces.add()
        piece.piece = name
        piece.type = sentencepiece_model_pb2.ModelProto.SentencePiece.USER_DEFINED
    return proto.SerializeToString()


def build_sized_package(
    dest_dir: Path,
    from_code: str,
    to_code: str,
    *,
    corpus: tuple[str, ...] | list[str],
    sp_trained_size: int = 1600,
    vocab_size: int = 32_000,
    layers: int = 6,
    d_model: int = 512,
    heads: int = 8,
    ff: int = 2048,
    seed: int = 0,
    quantization: str = "int8",
    version: str = "1.0",
) -> Path:
    """Build a random-weight package of realistic size (for benchmarks) and
    return its ``.argosmodel`` zip in ``dest_dir``.

    The defaults are transformer-base (6+6 layers, d_model 512, ff 2048, 8
    heads) with a 32k vocabulary, like the Argos index's packages. A
    sentencepiece model learnt from a small ``corpus`` has far fewer pieces,
    so it is padded with filler pieces up to ``vocab_size`` (see
    ``train_padded_sentencepiece``): the embeddings and the output projection
    then cost what they cost in a real model. ``sp_trained_size`` sets how
    finely the corpus is cut (1600 on a ~100-message corpus gives ~1.3 pieces
    per English word, like a real model).
    """
    sp_bytes = train_padded_sentencepiece(tuple(corpus), sp_trained_size, vocab_size)
    spec = build_spec(vocabulary_from_sentencepiece(sp_bytes), layers=layers, d_model=d_model,
                      heads=heads, ff=ff, seed=seed, copy=False)
    spec.optimize(quantization=quantization)

    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    name = package_name(from_code, to_code, version)
    with tempfile.TemporaryDirectory(dir=dest_dir) as scratch:
        folder = Path(scratch) / name
        (folder / "model").mkdir(parents=True)
        spec.save(str(folder / "model"))
        (folder / "sentencepiece.model").write_bytes(sp_bytes)
        metadata = metadata_for(from_code, to_code, version)
        (folder / "metadata.json").write_text(json.dumps(metadata, ensure_ascii=False, indent=2), encoding="utf-8")
        return zip_folder(folder, dest_dir / f"{name}.argosmodel")
