// Tokenizer tests: ids, tokens and decodes vs the Hugging Face `tokenizers` fixtures
// (../shared/golden/tokenizer), the tiny fixture models' input_ids (../shared/golden/tiny-*), and
// unit checks of the pieces (UTF-8 handling, Split behaviors, added-token flags, errors).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "model/text_unicode.h"
#include "model/tokenizer.h"
#include "tests/test_support.h"

namespace smolvid::model {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json read_json(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  return json::parse(in);
}

std::string real_dir() { return test::reference("configs/SmolVLM-256M-Instruct"); }

const Tokenizer& real_tokenizer() {
  static const Tokenizer tok = Tokenizer::from_dir(real_dir());
  return tok;
}

std::string ids_str(const std::vector<TokenId>& ids) { return json(ids).dump(); }

class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (fs::temp_directory_path() / "smolvid_text_XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(file(name), std::ios::binary) << text;
  }

 private:
  std::string path_;
};

// A byte-level vocabulary of the 256 byte symbols (id = byte), for hand-built tokenizer.json files.
json byte_vocab() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) {
    std::string s;
    text::append_utf8(s, text::byte_to_unicode()[b]);
    vocab[s] = b;
  }
  return vocab;
}

json minimal_tokenizer_json(const json& pre_tokenizer, const json& added_tokens = json::array()) {
  return json{{"version", "1.0"},
              {"added_tokens", added_tokens},
              {"normalizer", nullptr},
              {"pre_tokenizer", pre_tokenizer},
              {"post_processor", nullptr},
              {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
              {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"vocab", byte_vocab()},
                         {"merges", json::array()}}}};
}

const json kByteLevel = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};

// ---------------------------------------------------------------------------------------------
// The real SmolVLM tokenizer vs Hugging Face tokenizers 0.23.2 (301 strings).

TEST(TokenizerGolden, SmolVLMCasesIdsTokensAndDecodes) {
  const json fixture = read_json(test::golden("tokenizer/smolvlm_cases.json"));
  const Tokenizer& tok = real_tokenizer();
  const json& cases = fixture.at("cases");
  ASSERT_EQ(cases.size(), 301u);
  int id_mismatches = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const json& c = cases[i];
    const std::string text = c.at("text");
    const auto expected = c.at("ids").get<std::vector<TokenId>>();
    const std::vector<TokenId> got = tok.encode(text);
    if (got != expected) ++id_mismatches;
    EXPECT_EQ(got, expected) << "case " << i << " text " << json(text).dump() << "\n expected " << ids_str(expected)
                             << "\n got      " << ids_str(got);
    std::vector<std::string> tokens;
    for (TokenId id : expected) tokens.push_back(tok.id_to_token(id));
    EXPECT_EQ(tokens, c.at("tokens").get<std::vector<std::string>>()) << "case " << i;
    EXPECT_EQ(tok.decode(expected), c.at("decode").get<std::string>()) << "case " << i;
    EXPECT_EQ(tok.decode(expected, true), c.at("decode_skip_special").get<std::string>()) << "case " << i;
  }
  EXPECT_EQ(id_mismatches, 0);
}

TEST(TokenizerGolden, StreamingDecodeEqualsDecodeOnEveryCase) {
  const json fixture = read_json(test::golden("tokenizer/smolvlm_cases.json"));
  const Tokenizer& tok = real_tokenizer();
  for (const json& c : fixture.at("cases")) {
    const auto ids = c.at("ids").get<std::vector<TokenId>>();
    for (bool skip : {false, true}) {
      StreamingDecoder stream(tok, skip);
      std::string streamed;
      for (TokenId id : ids) {
        const std::string piece = stream.push(id);
        EXPECT_EQ(text::find_invalid_utf8(piece), std::string::npos) << "half a character emitted";
        streamed += piece;
      }
      streamed += stream.finish();
      EXPECT_EQ(streamed, c.at(skip ? "decode_skip_special" : "decode").get<std::string>());
    }
  }
}

// 1500 random strings and 1500 random id lists run through the same library
// (tests/text/data/gen_hf_random_cases.js): Unicode whitespace and digits, bytes missing from the
// vocabulary, partial added tokens, ill-formed UTF-8 in decodes.
TEST(TokenizerGolden, RandomCasesMatchHuggingFace) {
  const json fixture = read_json(test::source_dir() + "/tests/text/data/hf_random_cases.json");
  const Tokenizer& tok = real_tokenizer();
  ASSERT_EQ(fixture.at("encode").size(), 1500u);
  ASSERT_EQ(fixture.at("decode").size(), 1500u);
  int mismatches = 0;
  for (const json& c : fixture.at("encode")) {
    const auto expected = c.at("ids").get<std::vector<TokenId>>();
    const std::vector<TokenId> got = tok.encode(c.at("text").get<std::string>());
    if (got != expected && ++mismatches <= 5) {
      ADD_FAILURE() << "text " << c.at("text").dump() << "\n expected " << ids_str(expected) << "\n got      " << ids_str(got);
    }
  }
  for (const json& c : fixture.at("decode")) {
    const auto ids = c.at("ids").get<std::vector<TokenId>>();
    for (bool skip : {false, true}) {
      const std::string expected = c.at(skip ? "decode_skip_special" : "decode");
      const std::string got = tok.decode(ids, skip);
      if (got != expected && ++mismatches <= 5) {
        ADD_FAILURE() << "ids " << ids_str(ids) << " skip " << skip << "\n expected " << json(expected).dump()
                      << "\n got      " << json(got).dump();
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
}

TEST(TokenizerGolden, SpecExampleIdsAndSpecialTokens) {
  const Tokenizer& tok = real_tokenizer();
  // spec §7.3 / §1.5
  EXPECT_EQ(tok.encode("\nFrame from 00:01:"), (std::vector<TokenId>{198, 9967, 429, 216, 32, 32, 42, 32, 33, 42}));
  EXPECT_EQ(tok.encode(" The image"), (std::vector<TokenId>{378, 2443}));
  EXPECT_EQ(tok.encode("\n\n"), (std::vector<TokenId>{1116}));
  EXPECT_EQ(tok.vocab_size(), 49280u);
  EXPECT_EQ(tok.require_token_id("<image>"), 49190);
  EXPECT_EQ(tok.require_token_id("<global-img>"), 49152);
  EXPECT_EQ(tok.require_token_id("<row_6_col_6>"), 49188);
  EXPECT_EQ(tok.require_token_id("<fake_token_around_image>"), 49189);
  EXPECT_EQ(tok.special_token_id("eos_token"), 49279);  // tokenizer_config wins over special_tokens_map
  EXPECT_EQ(tok.special_token_id("bos_token"), 1);
  EXPECT_EQ(tok.special_token_id("pad_token"), 2);
  EXPECT_TRUE(tok.is_special(49190));
  EXPECT_FALSE(tok.is_special(198));
  EXPECT_EQ(tok.added_tokens().size(), 145u);
}

// A 640x480 image prompt (3 rows x 4 cols + global, 64 image tokens each): spec §7.3 layout.
TEST(TokenizerGolden, ExpandedImagePromptLayout) {
  const Tokenizer& tok = real_tokenizer();
  std::string image;
  const std::string img64 = [] {
    std::string s;
    for (int i = 0; i < 64; ++i) s += "<image>";
    return s;
  }();
  for (int r = 1; r <= 3; ++r) {
    for (int c = 1; c <= 4; ++c) image += "<fake_token_around_image><row_" + std::to_string(r) + "_col_" + std::to_string(c) + ">" + img64;
    image += "\n";
  }
  image += "\n<fake_token_around_image><global-img>" + img64 + "<fake_token_around_image>";
  const std::string prompt =
      "<|im_start|>User:" + image + "Can you describe this image?<end_of_utterance>\nAssistant:";
  const std::vector<TokenId> ids = tok.encode(prompt);
  ASSERT_EQ(ids.size(), 876u);
  const std::vector<std::pair<int, TokenId>> others = {
      {0, 1}, {1, 11126}, {2, 42}, {3, 49189}, {4, 49153}, {69, 49189}, {70, 49154}, {135, 49189}, {136, 49155},
      {201, 49189}, {202, 49156}, {267, 198}, {268, 49189}, {269, 49159}, {334, 49189}, {335, 49160}, {400, 49189},
      {401, 49161}, {466, 49189}, {467, 49162}, {532, 198}, {533, 49189}, {534, 49165}, {599, 49189}, {600, 49166},
      {665, 49189}, {666, 49167}, {731, 49189}, {732, 49168}, {797, 1116}, {798, 49189}, {799, 49152}, {864, 49189},
      {865, 7306}, {866, 346}, {867, 5125}, {868, 451}, {869, 2443}, {870, 47}, {871, 49279}, {872, 198},
      {873, 9519}, {874, 9531}, {875, 42}};
  size_t image_tokens = 0;
  for (TokenId id : ids) image_tokens += id == 49190;
  EXPECT_EQ(image_tokens, 832u);
  for (const auto& [pos, id] : others) EXPECT_EQ(ids[static_cast<size_t>(pos)], id) << "position " << pos;
}

// ---------------------------------------------------------------------------------------------
// The tiny fixture tokenizer (vocab.json + merges.txt, no merges: byte b -> 3 + b).

TEST(TokenizerTiny, BytesAndSpecialTokens) {
  const Tokenizer tok = Tokenizer::from_dir(test::golden("tiny-smolvlm"));
  EXPECT_EQ(tok.vocab_size(), 300u);
  const std::string s = "Hé 9\n😀";
  std::vector<TokenId> expected;
  for (unsigned char b : s) expected.push_back(3 + b);
  EXPECT_EQ(tok.encode(s), expected);
  EXPECT_EQ(tok.encode("<row_2_col_3><global-img><image><end_of_utterance><|im_start|>"),
            (std::vector<TokenId>{260 + 6 + 2, 259, 297, 299, 1}));
  EXPECT_EQ(tok.special_token("eos_token"), "<end_of_utterance>");
  EXPECT_EQ(tok.special_token_id("pad_token"), 2);
  EXPECT_EQ(tok.decode(expected), s);
}

// Spec §5.1 image expansion, written here independently of model/prompt.h.
std::string expand_image(int rows, int cols, int seq_len) {
  std::string img;
  for (int i = 0; i < seq_len; ++i) img += "<image>";
  std::string out;
  if (rows == 0 && cols == 0) return "<fake_token_around_image><global-img>" + img + "<fake_token_around_image>";
  for (int r = 1; r <= rows; ++r) {
    for (int c = 1; c <= cols; ++c) {
      out += "<fake_token_around_image><row_" + std::to_string(r) + "_col_" + std::to_string(c) + ">" + img;
    }
    out += "\n";
  }
  return out + "\n<fake_token_around_image><global-img>" + img + "<fake_token_around_image>";
}

TEST(TokenizerTiny, FixturePromptsGiveInputIdsWithLeftPadding) {
  // Tile grids of the cases' images (golden/README.md: 80x60 unsplit, 120x90 -> 2x2, 150x50 -> 1x2).
  const std::map<std::string, std::vector<std::vector<std::pair<int, int>>>> grids = {
      {"b_one_image_nosplit", {{{0, 0}}}},
      {"c_split_batch2", {{{2, 2}}, {{1, 2}}}},
      {"e_left_padding_batch2", {{{0, 0}}, {{0, 0}}}},
  };
  int checked = 0;
  for (const char* variant : {"tiny-smolvlm", "tiny-smolvlm-sf4", "tiny-idefics3", "tiny-idefics3-sf4"}) {
    const std::string dir = test::golden(variant);
    const Tokenizer tok = Tokenizer::from_dir(dir);
    const json cases = read_json(dir + "/cases.json");
    const int seq_len = cases.at("image_seq_len");
    const SafetensorsFile tensors(dir + "/cases.safetensors");
    for (const json& c : cases.at("cases")) {
      const std::string name = c.at("name");
      const auto prompts = c.at("prompts_expanded").get<std::vector<std::string>>();
      const TensorView& view = tensors.at(name + ".input_ids");
      ASSERT_EQ(view.shape.size(), 2u);
      ASSERT_EQ(view.shape[0], static_cast<int64_t>(prompts.size())) << variant << " " << name;
      const auto length = static_cast<size_t>(view.shape[1]);
      const std::vector<int64_t> input_ids = tensors.to_int64(name + ".input_ids");
      const std::vector<int64_t> mask = tensors.to_int64(name + ".attention_mask");
      for (size_t b = 0; b < prompts.size(); ++b) {
        std::string prompt = prompts[b];
        if (prompt.find("<fake_token_around_image>") == std::string::npos && prompt.find("<image>") != std::string::npos) {
          const auto& grid = grids.at(name).at(b);
          std::string expanded;
          size_t pos = 0;
          size_t k = 0;
          for (size_t hit; (hit = prompt.find("<image>", pos)) != std::string::npos; pos = hit + 7) {
            expanded += prompt.substr(pos, hit - pos) + expand_image(grid.at(k).first, grid.at(k).second, seq_len);
            ++k;
          }
          prompt = expanded + prompt.substr(pos);
        }
        const std::vector<TokenId> ids = tok.encode(prompt);
        ASSERT_LE(ids.size(), length) << variant << " " << name;
        std::vector<int64_t> expected(length - ids.size(), 2);  // left padding with pad id 2
        expected.insert(expected.end(), ids.begin(), ids.end());
        const std::vector<int64_t> row(input_ids.begin() + static_cast<std::ptrdiff_t>(b * length),
                                       input_ids.begin() + static_cast<std::ptrdiff_t>((b + 1) * length));
        EXPECT_EQ(row, expected) << variant << " " << name << " sample " << b;
        for (size_t i = 0; i < length; ++i) {
          EXPECT_EQ(mask[b * length + i], i < length - ids.size() ? 0 : 1) << variant << " " << name << " " << i;
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 4 * 7);  // a:1 b:1 c:2 d:1 e:2 samples per variant
}

TEST(TokenizerTiny, DecodeOfGeneratedIdsMatchesTransformers) {
  for (const char* variant : {"tiny-smolvlm", "tiny-idefics3"}) {
    const std::string dir = test::golden(variant);
    const Tokenizer tok = Tokenizer::from_dir(dir);
    const json cases = read_json(dir + "/cases.json");
    for (const json& c : cases.at("cases")) {
      const auto gen = c.at("generated_ids").get<std::vector<std::vector<TokenId>>>();
      const auto texts = c.at("generated_text").get<std::vector<std::string>>();
      ASSERT_EQ(gen.size(), texts.size());
      for (size_t b = 0; b < gen.size(); ++b) {
        EXPECT_EQ(tok.decode(gen[b]), texts[b]) << variant << " " << c.at("name") << " " << b;
        StreamingDecoder stream(tok);
        std::string streamed;
        for (TokenId id : gen[b]) streamed += stream.push(id);
        streamed += stream.finish();
        EXPECT_EQ(streamed, texts[b]);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Units.

TEST(TextUnicode, LossyConversionReplacesMaximalSubparts) {
  // Unicode §3.9 "U+FFFD substitution of maximal subparts" examples.
  EXPECT_EQ(text::utf8_lossy("a\xF0\x9F\x98"), "a\xEF\xBF\xBD");            // truncated 4-byte: one U+FFFD
  EXPECT_EQ(text::utf8_lossy("\xE0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD");        // E0 80 is never valid: two
  EXPECT_EQ(text::utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate: three
  EXPECT_EQ(text::utf8_lossy("\xC3\xA9\xFF"), "\xC3\xA9\xEF\xBF\xBD");
  EXPECT_EQ(text::find_invalid_utf8("ok\xC3"), 2u);
  EXPECT_EQ(text::utf8_stable_prefix("ab\xF0\x9F"), 2u);
  EXPECT_EQ(text::utf8_stable_prefix("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(text::utf8_stable_prefix("ab\xFF"), 3u);
}

TEST(TextUnicode, WhitespaceClassesFollowOniguruma) {
  EXPECT_EQ(text::translate_whitespace_classes(R"(\s+(?!\S))"),
            R"([\x{9}-\x{d}\x{85}\p{Z}]+(?![^\x{9}-\x{d}\x{85}\p{Z}]))");
  EXPECT_EQ(text::translate_whitespace_classes(R"([^\s\p{L}])"), R"([^\x{9}-\x{d}\x{85}\p{Z}\p{L}])");
  EXPECT_THROW(text::translate_whitespace_classes(R"([\S])"), text::TextRegexError);
  const text::Regex ws(R"(\s+)");
  std::vector<std::pair<size_t, size_t>> hits;
  ws.for_each_match("a\xC2\x85" "b\xE3\x80\x80" "c", [&](size_t b, size_t e) { hits.emplace_back(b, e); });
  EXPECT_EQ(hits, (std::vector<std::pair<size_t, size_t>>{{1, 3}, {4, 7}}));  // NEL and ideographic space
}

TEST(TokenizerUnit, StreamingHoldsBackSplitCharacters) {
  const Tokenizer tok = Tokenizer::from_dir(test::golden("tiny-smolvlm"));
  const std::string emoji = "😀";  // F0 9F 98 80: four byte tokens
  StreamingDecoder stream(tok);
  EXPECT_EQ(stream.push(3 + 'a'), "a");
  EXPECT_EQ(stream.push(3 + 0xF0), "");
  EXPECT_EQ(stream.push(3 + 0x9F), "");
  EXPECT_EQ(stream.push(3 + 0x98), "");
  EXPECT_EQ(stream.push(3 + 0x80), emoji);
  EXPECT_EQ(stream.push(3 + 0xC3), "");
  EXPECT_EQ(stream.push(297), "\xEF\xBF\xBD<image>");  // the special token ends the broken character
  EXPECT_EQ(stream.push(3 + 0xE2), "");
  EXPECT_EQ(stream.finish(), "\xEF\xBF\xBD");
  StreamingDecoder skipping(tok, /*skip_special_tokens=*/true);
  EXPECT_EQ(skipping.push(297), "");
  EXPECT_EQ(skipping.push(3 + 'x'), "x");
}

TEST(TokenizerUnit, SplitBehaviorsMatchTokenizersDocs) {
  // The `tokenizers` documentation example: "the-final--countdown" split on "-".
  const std::map<std::string, std::vector<std::string>> expected = {
      {"Removed", {"the", "final", "countdown"}},
      {"Isolated", {"the", "-", "final", "-", "-", "countdown"}},
      {"MergedWithPrevious", {"the-", "final-", "-", "countdown"}},
      {"MergedWithNext", {"the", "-final", "-", "-countdown"}},
      {"Contiguous", {"the", "-", "final", "--", "countdown"}},
  };
  for (const auto& [behavior, pieces] : expected) {
    ScratchDir dir;
    const json split = {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", false}};
    const json pre = {{"type", "Sequence"},
                      {"pretokenizers", {split, {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}};
    dir.write("tokenizer.json", minimal_tokenizer_json(pre).dump());
    const Tokenizer tok = Tokenizer::from_dir(dir.path());
    EXPECT_EQ(tok.pre_tokenize("the-final--countdown"), pieces) << behavior;
  }
}

TEST(TokenizerUnit, DigitsAndGpt2RegexPieces) {
  const Tokenizer& tok = real_tokenizer();
  EXPECT_EQ(tok.pre_tokenize("a  12 b's\n\n x"),
            (std::vector<std::string>{"a", "  ", "1", "2", " b", "'s", "\n\n", " x"}));
  EXPECT_EQ(tok.pre_tokenize("x<image>y"), (std::vector<std::string>{"x", "<image>", "y"}));
}

TEST(TokenizerUnit, AddedTokenFlags) {
  ScratchDir dir;
  const json added = json::array({
      {{"id", 300}, {"content", "<L>"}, {"special", true}, {"normalized", false}, {"lstrip", true}, {"rstrip", false}, {"single_word", false}},
      {{"id", 301}, {"content", "<R>"}, {"special", false}, {"normalized", false}, {"lstrip", false}, {"rstrip", true}, {"single_word", false}},
      {{"id", 302}, {"content", "cat"}, {"special", false}, {"normalized", true}, {"lstrip", false}, {"rstrip", false}, {"single_word", true}},
      {{"id", 303}, {"content", "<L><R>"}, {"special", true}, {"normalized", false}, {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
  });
  dir.write("tokenizer.json", minimal_tokenizer_json(kByteLevel, added).dump());
  const Tokenizer tok = Tokenizer::from_dir(dir.path());
  EXPECT_EQ(tok.pre_tokenize("a  <L>b"), (std::vector<std::string>{"a", "<L>", "b"}));     // lstrip eats "  "
  EXPECT_EQ(tok.pre_tokenize("a<R> \t b"), (std::vector<std::string>{"a", "<R>", "b"}));   // rstrip eats " \t "
  EXPECT_EQ(tok.pre_tokenize("a cat b"), (std::vector<std::string>{"a", " ", "cat", " b"}));  // single word
  EXPECT_EQ(tok.pre_tokenize("concatenate"), (std::vector<std::string>{"concatenate"}));    // inside a word
  EXPECT_EQ(tok.pre_tokenize("<L><R>"), (std::vector<std::string>{"<L><R>"}));              // longest wins
  EXPECT_EQ(tok.encode("x<L>"), (std::vector<TokenId>{'x', 300}));
  EXPECT_EQ(tok.decode({'x', 300, 301}, /*skip_special_tokens=*/true), "x<R>");
}

TEST(TokenizerUnit, MergesInBothJsonFormsAndRankOrder) {
  for (bool pairs : {false, true}) {
    ScratchDir dir;
    json t = minimal_tokenizer_json(kByteLevel);
    t["model"]["vocab"]["ab"] = 256;
    t["model"]["vocab"]["bc"] = 257;
    t["model"]["vocab"]["abc"] = 258;
    // "b c" has the lower rank, so "abc" -> a + bc, and "a bc" is not a merge: stays two tokens.
    t["model"]["merges"] = pairs ? json::array({json::array({"b", "c"}), json::array({"a", "b"}), json::array({"ab", "c"})})
                                 : json::array({"b c", "a b", "ab c"});
    dir.write("tokenizer.json", t.dump());
    const Tokenizer tok = Tokenizer::from_dir(dir.path());
    EXPECT_EQ(tok.encode("abc"), (std::vector<TokenId>{'a', 257}));
    EXPECT_EQ(tok.encode("abab"), (std::vector<TokenId>{256, 256}));
    // A long word takes the heap path; it must agree with the short-word path.
    std::string longword;
    std::vector<TokenId> expected;
    for (int i = 0; i < 100; ++i) {
      longword += "abc";
      expected.insert(expected.end(), {'a', 257});
    }
    EXPECT_EQ(tok.encode(longword), expected);
  }
}

TEST(TokenizerUnit, SlowVocabAndMergesFiles) {
  ScratchDir dir;
  json vocab = byte_vocab();
  vocab["\u0120t"] = 256;  // "Ġt"
  vocab["\u0120th"] = 257;
  vocab["<sep>"] = 258;
  dir.write("vocab.json", vocab.dump());
  dir.write("merges.txt", "#version: 0.2\n\u0120 t\n\u0120t h\n");
  dir.write("tokenizer_config.json", R"({"add_prefix_space": false, "eos_token": "<sep>"})");
  const Tokenizer tok = Tokenizer::from_dir(dir.path());
  EXPECT_EQ(tok.encode("a th<sep>"), (std::vector<TokenId>{'a', 257, 258}));
  EXPECT_EQ(tok.special_token_id("eos_token"), 258);
  EXPECT_TRUE(tok.is_special(258));
  EXPECT_EQ(tok.decode({'a', 257, 258}, /*skip_special_tokens=*/true), "a th");
  dir.write("merges.txt", "#version: 0.2\n\u0120 t\nq z\n");
  try {
    Tokenizer::from_dir(dir.path());
    FAIL() << "no exception";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
}

TEST(TokenizerUnit, ErrorsNameTheProblem) {
  const Tokenizer& tok = real_tokenizer();
  try {
    tok.encode("ok\xFF");
    FAIL() << "no exception";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("offset 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tok.decode({49280}), TokenizerError);
  EXPECT_THROW(tok.decode({-1}), TokenizerError);
  EXPECT_THROW(tok.require_token_id("<no such token>"), TokenizerError);
  EXPECT_THROW(Tokenizer::from_dir("/nonexistent/dir"), TokenizerError);
  ScratchDir dir;
  json t = minimal_tokenizer_json({{"type", "Whitespace"}});
  dir.write("tokenizer.json", t.dump());
  try {
    Tokenizer::from_dir(dir.path());
    FAIL() << "no exception";
  } catch (const TokenizerError& e) {
    EXPECT_NE(std::string(e.what()).find("Whitespace"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace smolvid::model
