// int8_quality: the int8 mode against bfloat16 (and float32 when given) on a checkpoint and real
// text: per-layer relative error of the text hidden states, logits cosine similarity and top-1
// agreement over every position of the tokenized text (the repository's README by default).
// No timing; the quality figures the int8 mode is reported with (issue 14).
//
//   int8_quality --model /tmp/m256-bf16 [--text README.md] [--max-tokens 1200] [--f32 /tmp/m256-f32]
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/core.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "model/nn/smolvlm.h"
#include "model/tokenizer.h"

namespace {

using smolvid::model::SmolVLM;

smolvid::model::ForwardOutputs run(const std::string& dir, const std::string& dtype, const at::Tensor& ids) {
  smolvid::model::ModelOptions o;
  o.dtype = dtype;
  o.threads = 2;
  auto m = SmolVLM::load(dir, o);
  smolvid::model::BatchInputs in;
  in.input_ids = ids;
  smolvid::model::ForwardOptions fo;
  fo.output_hidden_states = true;
  return m->forward(in, fo);
}

void compare(const std::string& what, const smolvid::model::ForwardOutputs& a, const smolvid::model::ForwardOutputs& b) {
  for (const auto& [name, t] : b.activations) {
    const at::Tensor x = a.activations.at(name).to(at::kDouble), y = t.to(at::kDouble);
    fmt::print("  {} {:<24} relative error {:.4f}\n", what, name, ((x - y).norm() / y.norm()).item<double>());
  }
  const at::Tensor la = a.logits[0].to(at::kDouble), lb = b.logits[0].to(at::kDouble);
  const at::Tensor cos = at::cosine_similarity(la, lb, 1);
  const double top1 = la.argmax(1).eq(lb.argmax(1)).to(at::kDouble).mean().item<double>();
  fmt::print("  {} logits over {} positions: cosine mean {:.5f} min {:.5f}; top-1 agreement {:.4f}\n", what,
             la.size(0), cos.mean().item<double>(), cos.min().item<double>(), top1);
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, f32, text = SMOLVID_README;
  int64_t max_tokens = 1200;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--model") model = v;
    else if (a == "--f32") f32 = v;
    else if (a == "--text") text = v;
    else if (a == "--max-tokens") max_tokens = std::atoll(v.c_str());
  }
  if (model.empty()) {
    fmt::print(stderr, "usage: int8_quality --model DIR [--f32 DIR] [--text FILE] [--max-tokens N]\n");
    return 2;
  }
  c10::InferenceMode guard;
  std::ifstream in(text);
  std::stringstream ss;
  ss << in.rdbuf();
  auto ids = smolvid::model::Tokenizer::from_dir(model).encode(ss.str());
  if (static_cast<int64_t>(ids.size()) > max_tokens) ids.resize(max_tokens);
  std::vector<int64_t> ids64(ids.begin(), ids.end());
  const at::Tensor t = at::tensor(ids64, at::kLong).view({1, -1});
  fmt::print("{}: {} tokens of {}\n", model, t.size(1), text);
  const auto bf16 = run(model, "bfloat16", t);
  const auto int8 = run(model, "int8", t);
  compare("int8 vs bf16", int8, bf16);
  if (!f32.empty()) {
    const auto ref = run(f32, "float32", t);
    compare("int8 vs f32 ", int8, ref);
    compare("bf16 vs f32 ", bf16, ref);
  }
  return 0;
}
