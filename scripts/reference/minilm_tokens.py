"""Regenerate nn/tests/data/minilm/token_ids.json from the real HF tokenizer.

Usage: python3 scripts/reference/minilm_tokens.py [MODEL_DIR [OUT]]
MODEL_DIR defaults to models/all-MiniLM-L6-v2 (scripts/fetch-minilm.sh) and must hold the
all-MiniLM-L6-v2 tokenizer.json. Needs the `tokenizers` package only (no torch).
The ids are what `Tokenizer.encode(text)` returns with truncation to 128 and no
padding, so they include [CLS] ... [SEP]; the Rust `WordPiece::encode(text, 128)`
must reproduce them exactly.
"""

import json
import os
import sys

import tokenizers
from tokenizers import Tokenizer

MODEL_DIR = sys.argv[1] if len(sys.argv) > 1 else "models/all-MiniLM-L6-v2"
OUT = sys.argv[2] if len(sys.argv) > 2 else "nn/tests/data/minilm/token_ids.json"
MAX_LEN = 128

LONG_WORDS = (
    "spam filters see a lot of offers for cheap meds, free prizes, urgent account "
    "verification and unbelievable investment returns that arrive every single day "
).split()
# ~300 words, so truncation to 128 tokens is exercised.
LONG_TEXT = " ".join(LONG_WORDS[i % len(LONG_WORDS)] for i in range(300))

CASES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "I'll be there at 5pm; don't wait up.",
    "WINNER!!! You have been selected to receive a $1,000 Walmart gift card!!!",
    "URGENT: Your account has been suspended. Click http://bit.ly/3xYz9Q to verify.",
    "Visit https://www.example.com/path?query=1&ref=abc#frag for details",
    "Contact me at john.doe+spam@example.co.uk or sales@shop.io",
    "Pi is 3.14159 and e is 2.71828; 1,000,000 people agree.",
    "Call 1-800-555-0199 now, offer ends 12/31/2024!",
    "Get 50% off!!! Only $9.99 (was $19.99) -- limited time.",
    "café naïve Ångström résumé coöperate façade",
    "Straße, Fußball und Größe sind deutsche Wörter.",
    "東京は日本の首都です。",
    "我爱北京天安门",
    "한국어 텍스트도 있어요",
    "カタカナとひらがな",
    "I love pizza 🍕🍕 and 😀 emoji 👍🏽 👨‍👩‍👧",
    "Tabs\there\nand newlines\r\nand\u000bvertical\u000cfeed",
    "Control\u0000chars\u0001in\u0007the\u001ftext\u007f and \ufffd replacement",
    "zero\u200bwidth\u200djoiner and soft\u00adhyphen and \ufeffBOM",
    "Supercalifragilisticexpialidocious antidisestablishmentarianism",
    "a" * 101 + " short",
    "x" * 100 + " exactly100",
    "THIS IS ALL CAPS AND VERY LOUD",
    "don't can't won't it's y'all O'Reilly",
    "state-of-the-art well-known e-mail co-operate",
    "Em—dash and en–dash and “curly quotes” and ‘single’ … ellipsis",
    "¡Hola! ¿Qué tal? «guillemets» §5 ¶2 · middle",
    "Ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ！（全角）",
    "Math: x^2 + y_1 = z~3 | a\\b {c} [d] <e> `f`",
    "hello [SEP] world [MASK] and [CLS][UNK][PAD]",
    "lower [sep] is not special",
    "   leading and trailing spaces   ",
    "Ελληνικά κείμενα και Русский текст",
    "العربية نص مع تشكيل مَرْحَبًا",
    "हिन्दी पाठ नमस्ते",
    "İstanbul İzmir DİKKAT",
    "ǅemal ﬁnance ﬂow Ⅻ ½ ² ™ ©",
    "a\u0301 combining e\u0308 marks",
    "FREE!!!Click-here>>>www.win-big.biz<<<NOW",
    "Re: RE: Fwd: [URGENT] Invoice #12345 attached (PDF)",
    "unaffable unbelievably unhappiness",
    "42",
    "!",
    LONG_TEXT,
]


def main() -> None:
    tok = Tokenizer.from_file(os.path.join(MODEL_DIR, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_LEN)
    cases = []
    for text in CASES:
        enc = tok.encode(text)
        cases.append({"text": text, "ids": enc.ids})
    doc = {
        "source": (
            "make_fixture.py: tokenizers %s Tokenizer.from_file(all-MiniLM-L6-v2 tokenizer.json), "
            "no_padding(), enable_truncation(%d); ids = encode(text).ids (with [CLS]/[SEP])"
            % (tokenizers.__version__, MAX_LEN)
        ),
        "max_len": MAX_LEN,
        "cases": cases,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        f.write("\n")
    print("wrote %d cases to %s (%d bytes)" % (len(cases), OUT, os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
