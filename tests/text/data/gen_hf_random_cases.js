// Generates hf_random_cases.json: random strings encoded, and random id lists decoded, by the
// Hugging Face `tokenizers` library itself (npm package tokenizers 0.23.2, the Node binding of the
// Rust library; the same reference as ../shared/golden/tokenizer). Run from a folder where
// `npm install tokenizers@0.23.2` was done:
//   NODE_PATH=$PWD/node_modules node gen_hf_random_cases.js SHARED_DIR OUT.json
// The strings mix the pieces the SmolVLM tokenizer treats specially: Unicode whitespace (NEL,
// NBSP, U+2028, U+3000), non-ASCII digits (Nd/Nl/No), contractions in both cases, combining marks,
// bytes absent from the vocabulary (0x04, 0x06, 0x13, 0x1D and planes 4-5, lead bytes F1), emoji,
// added tokens and partial added tokens. The decode cases take random ids, including lone UTF-8
// byte tokens, so ill-formed byte sequences exercise the U+FFFD replacement.
const {Tokenizer} = require('tokenizers');
const fs = require('fs');
const shared = process.argv[2];
const out = process.argv[3];
const tok = Tokenizer.fromFile(shared + '/reference/configs/SmolVLM-256M-Instruct/tokenizer.json');
let seed = 12345;
function rnd(n) { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; }
const pools = [
  "abcXYZ", " ", "  ", "\t", "\n", "\r\n", "\u0085", "\u00a0", "\u2028", "\u3000", "\u200b", "0123456789",
  "\u0663\u0664", "\u00b2\u00bd", "\u216b", "'s", "'S", "'ll", "'LL", "'d", "'re", "'", "\u0301", "\u0300",
  "\u00e9", "\u65e5\u672c", "\ud55c", "\u0645", "\u0928\u094d", "\ud83d\ude00", "\ud83c\uddef\ud83c\uddf5", "\u200d",
  "\u0004", "\u0006", "\u0013", "\u001d", "\ud8c0\udc00", "\ud900\udc01", "!?.,;:", "<image>", "<row_1_col_1>",
  "<end_of_utterance>", "<|im_start|>", "<imag", "<", ">", "_", "-", "$", "\u20ac", "\ufb01", "\u01c4", "\u01c5",
  "\u0130", "hello", " world", "HTTP", "x86_64", "3.14", "a1b2", "\u0000", "\u007f", "\ufeff", "\ufffd"];
(async () => {
  const encode = [];
  for (let i = 0; i < 1500; ++i) {
    const n = 1 + rnd(12);
    let s = "";
    for (let k = 0; k < n; ++k) s += pools[rnd(pools.length)];
    const e = await tok.encode(s);
    encode.push({text: s, ids: Array.from(e.getIds())});
  }
  const decode = [];
  for (let i = 0; i < 1500; ++i) {
    const n = 1 + rnd(8);
    const ids = [];
    for (let k = 0; k < n; ++k) {
      const r = rnd(10);
      ids.push(r < 4 ? 188 + rnd(70) : r < 5 ? 49152 + rnd(128) : r < 6 ? rnd(17) : rnd(49152));
    }
    decode.push({ids, decode: await tok.decode(ids, false), decode_skip_special: await tok.decode(ids, true)});
  }
  fs.writeFileSync(out, JSON.stringify({
    tokenizer: "SmolVLM-256M-Instruct/tokenizer.json",
    reference: "Hugging Face tokenizers (Node binding, npm package tokenizers 0.23.2)",
    generator: "tests/text/data/gen_hf_random_cases.js (seed 12345)",
    encode, decode}) + "\n");
})();
