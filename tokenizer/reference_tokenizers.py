#!/usr/bin/env python3
"""Test-only reference side of the tokenizer checks and benchmark (never part of the product).

Runs PyPI's `tokenizers` (HF) as Qwen2's tokenizer over the golden vocabulary, to compare with
bagel-tokenize and bagel-tokenizer-bench. Needs a Python with `tokenizers` (e.g. /work/refenv).
docs/TOKENIZER.md has the commands.

  build-tokenizer-json GOLDEN_TOKENIZER_DIR OUT_DIR  HF tokenizer.json (Qwen2 pipeline) in OUT_DIR
  make-corpus GOLDEN_TOKENIZER_DIR OUT.jsonl         the benchmark corpus, {"text": ...} lines
  unicode-sweep OUT.jsonl                            texts putting every code point in contexts
  random-ids GOLDEN_TOKENIZER_DIR OUT.jsonl          random id sequences, {"ids": [...]} lines
  encode TOKENIZER_JSON IN.jsonl OUT.jsonl           HF ids, in bagel-tokenize's output format
  encode-python-nfc TOKENIZER_JSON IN.jsonl OUT.jsonl  the same, but NFC by Python's unicodedata
                                                     (the golden tiktoken path) instead of HF's
  decode GOLDEN_TOKENIZER_DIR IN.jsonl OUT.jsonl     Python's bytes.decode(errors="replace")
  same-jsonl A.jsonl B.jsonl                         whether two files hold the same JSON values
  bench TOKENIZER_JSON CORPUS.jsonl                  single-thread HF throughput (MB/s)
"""
import json
import os
import random
import sys
import time

# One thread in HF's Rust code, before tokenizers is imported.
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
    r"\s*[\r\n]+|\s+(?!\S)|\s+"
)


def build_tokenizer_json(golden_dir, out_dir):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers

    bpe = models.BPE.from_file(
        os.path.join(golden_dir, "vocab.json"), os.path.join(golden_dir, "merges.txt")
    )
    tokenizer = Tokenizer(bpe)
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    with open(os.path.join(golden_dir, "added_tokens.json"), encoding="utf-8") as f:
        added = sorted(json.load(f).items(), key=lambda item: item[1])
    tokenizer.add_special_tokens(
        [AddedToken(content, special=True, normalized=False) for content, _ in added]
    )
    for content, want in added:
        got = tokenizer.token_to_id(content)
        assert got == want, f"{content}: HF gave id {got}, added_tokens.json says {want}"
    os.makedirs(out_dir, exist_ok=True)
    tokenizer.save(os.path.join(out_dir, "tokenizer.json"))


def read_texts(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


# Written for this corpus: everyday sentences in several scripts, code and symbols.
MULTILINGUAL = [
    "Die Katze sitzt auf der Fensterbank und beobachtet die Vögel im Garten. Später regnet es, "
    "und sie schläft auf dem Sofa ein. Übermorgen fahren wir nach München.",
    "Le train de sept heures est parti en retard ; nous avons pris un café près de la gare "
    "en attendant le suivant. Où est la bibliothèque ? À côté du théâtre.",
    "El mercado abre temprano los sábados. Compramos pan, queso y naranjas, y después "
    "caminamos junto al río hasta la plaza mayor. ¿Quién quiere más café?",
    "Сегодня утром мы гуляли по парку, а потом читали книги в библиотеке. Завтра обещают "
    "снег, поэтому я возьму тёплую куртку и шарф.",
    "我们明天早上八点在图书馆门口见面，然后一起去博物馆参观新的展览。下午如果天气好，"
    "就去公园散步，晚上在附近的小饭馆吃饭。",
    "昨日は友達と一緒に京都へ行きました。お寺を見学して、抹茶のアイスクリームを食べました。"
    "来週はカメラを持って大阪に行く予定です。",
    "오늘은 날씨가 맑아서 친구들과 한강 공원에서 자전거를 탔습니다. 저녁에는 집에서 "
    "영화를 보면서 떡볶이를 먹었어요.",
    "ذهبنا إلى السوق في الصباح واشترينا الخبز والفاكهة، ثم جلسنا في المقهى نتحدث عن "
    "خطط السفر في الصيف القادم.",
    "आज सुबह हम बाज़ार गए और ताज़ी सब्ज़ियाँ खरीदीं। शाम को हमने छत पर बैठकर चाय पी "
    "और पुरानी कहानियाँ सुनीं।",
    "Η βιβλιοθήκη ανοίγει στις εννέα το πρωί. Μετά το μάθημα πήγαμε για καφέ στην πλατεία "
    "και συζητήσαμε για το ταξίδι μας στην Κρήτη.",
    "Hôm nay trời đẹp nên chúng tôi đi dạo quanh hồ và ăn phở ở một quán nhỏ gần chợ. "
    "Ngày mai tôi sẽ học tiếng Nhật.",
    "Bugün hava çok güzeldi; sahilde yürüyüş yaptık ve akşam balık yedik. Yarın erken "
    "kalkıp müzeye gideceğiz.",
    "def pack(samples, max_len=4096):\n    out, cur = [], []\n    for s in samples:\n"
    "        if sum(map(len, cur)) + len(s) > max_len:\n            out.append(cur); cur = []\n"
    "        cur.append(s)\n    return out + [cur] if cur else out\n",
    "for (int i = 0; i < n; ++i) {\n  sum += a[i] * b[i];  // dot product\n}\n"
    "std::printf(\"%d items, %.2f%% done\\n\", n, 100.0 * done / n);\n",
    "Prices rose 3.7% in Q3 2024 (from $1,299.99 to $1,347.50); see https://example.org/r?id=42 "
    "and mail ops@example.org. Emoji test: 🎉🚀✨ — “quoted” ‘text’ … done.",
    "<|im_start|>user\nWhat is in this picture?<|im_end|>\n<|im_start|>assistant\n"
    "<|vision_start|><|image_pad|><|vision_end|>A small boat on a calm lake at sunset.<|im_end|>\n",
]


def make_corpus(golden_dir, out_path):
    cases = read_texts(os.path.join(golden_dir, "cases.jsonl"))
    rng = random.Random(20240605)
    texts = []
    for _ in range(60):
        block = cases + MULTILINGUAL * 4
        rng.shuffle(block)
        # A few documents: several texts joined, as a data loader sees whole samples.
        for start in range(0, len(block), 8):
            texts.append("\n\n".join(block[start : start + 8]))
    with open(out_path, "w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    size = sum(len(t.encode("utf-8")) for t in texts)
    print(f"{out_path}: {len(texts)} texts, {size / 1e6:.2f} MB of UTF-8")


def unicode_sweep(out_path):
    """Every code point (no surrogates) between letters, digits, spaces, newlines and marks."""
    contexts = ["a{0}b", " {0}{0}1", "{0} x", "x{0}\n", "'{0}s", "{0}\u0301", "\u00e9{0}", "1{0}{0} "]
    with open(out_path, "w", encoding="utf-8") as f:
        chunk = []
        for cp in range(0x110000):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            ch = chr(cp)
            chunk.append("".join(c.format(ch) for c in contexts))
            if len(chunk) == 64:
                f.write(json.dumps({"text": "|".join(chunk)}, ensure_ascii=False) + "\n")
                chunk = []
        if chunk:
            f.write(json.dumps({"text": "|".join(chunk)}, ensure_ascii=False) + "\n")


def random_ids(golden_dir, out_path):
    with open(os.path.join(golden_dir, "vocab.json"), encoding="utf-8") as f:
        vocab_size = len(json.load(f))
    rng = random.Random(7)
    with open(out_path, "w", encoding="utf-8") as f:
        for _ in range(5000):
            n = rng.randint(0, 12)
            # Mostly single-byte tokens (ids < 256) so that broken UTF-8 is common.
            ids = [
                rng.randrange(256) if rng.random() < 0.6 else rng.randrange(vocab_size + 22)
                for _ in range(n)
            ]
            f.write(json.dumps({"ids": ids}) + "\n")


def encode(tokenizer_json, in_path, out_path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_json)
    with open(out_path, "w", encoding="utf-8") as f:
        for text in read_texts(in_path):
            f.write(json.dumps({"ids": tokenizer.encode(text).ids}) + "\n")


def encode_python_nfc(tokenizer_json, in_path, out_path):
    import unicodedata

    from tokenizers import Tokenizer, normalizers

    tokenizer = Tokenizer.from_file(tokenizer_json)
    tokenizer.normalizer = normalizers.Sequence([])
    print(f"NFC by Python's unicodedata, Unicode {unicodedata.unidata_version}")
    with open(out_path, "w", encoding="utf-8") as f:
        for text in read_texts(in_path):
            ids = tokenizer.encode(unicodedata.normalize("NFC", text)).ids
            f.write(json.dumps({"ids": ids}) + "\n")


def byte_decoder():
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(0xA1, 0xAC + 1))
        + list(range(0xAE, 0xFF + 1))
    )
    code_points = list(printable)
    shifted = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            code_points.append(256 + shifted)
            shifted += 1
    return {chr(cp): byte for byte, cp in zip(printable, code_points)}


def decode(golden_dir, in_path, out_path):
    with open(os.path.join(golden_dir, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(golden_dir, "added_tokens.json"), encoding="utf-8") as f:
        added = json.load(f)
    to_byte = byte_decoder()
    id_bytes = {i: bytes(to_byte[c] for c in tok) for tok, i in vocab.items()}
    id_bytes.update({i: tok.encode("utf-8") for tok, i in added.items()})
    with open(in_path, encoding="utf-8") as fin, open(out_path, "w", encoding="utf-8") as fout:
        for line in fin:
            ids = json.loads(line)["ids"]
            text = b"".join(id_bytes[i] for i in ids).decode("utf-8", errors="replace")
            fout.write(json.dumps({"text": text}) + "\n")


def same_jsonl(a_path, b_path):
    with open(a_path, encoding="utf-8") as a, open(b_path, encoding="utf-8") as b:
        a_lines, b_lines = a.read().splitlines(), b.read().splitlines()
    if len(a_lines) != len(b_lines):
        print(f"different line counts: {len(a_lines)} vs {len(b_lines)}")
        return 1
    bad = [i + 1 for i, (x, y) in enumerate(zip(a_lines, b_lines)) if json.loads(x) != json.loads(y)]
    for line in bad[:5]:
        print(f"line {line} differs:\n  {a_lines[line - 1][:300]}\n  {b_lines[line - 1][:300]}")
    print(f"{len(a_lines) - len(bad)}/{len(a_lines)} lines equal")
    return 1 if bad else 0


def bench(tokenizer_json, corpus_path):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_json)
    texts = read_texts(corpus_path)
    size = sum(len(t.encode("utf-8")) for t in texts)
    print(f"tokenizers {__import__('tokenizers').__version__}, RAYON_NUM_THREADS="
          f"{os.environ['RAYON_NUM_THREADS']}, {len(texts)} texts, {size / 1e6:.2f} MB")
    runs = [
        ("encode (per text)", lambda: [tokenizer.encode(t) for t in texts]),
        ("encode_batch", lambda: tokenizer.encode_batch(texts)),
    ]
    if hasattr(tokenizer, "encode_batch_fast"):  # no offsets (tokenizers >= 0.21)
        runs.append(("encode_batch_fast", lambda: tokenizer.encode_batch_fast(texts)))
    for name, run in runs:
        best = None
        for _ in range(3):
            start = time.perf_counter()
            run()
            seconds = time.perf_counter() - start
            best = seconds if best is None else min(best, seconds)
        print(f"{name:20s} {size / best / 1e6:8.2f} MB/s (best of 3, {best:.3f} s)")


def main(argv):
    commands = {
        "build-tokenizer-json": build_tokenizer_json,
        "make-corpus": make_corpus,
        "unicode-sweep": unicode_sweep,
        "random-ids": random_ids,
        "encode": encode,
        "encode-python-nfc": encode_python_nfc,
        "decode": decode,
        "same-jsonl": same_jsonl,
        "bench": bench,
    }
    if len(argv) < 2 or argv[1] not in commands:
        print(__doc__)
        return 2
    return commands[argv[1]](*argv[2:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
