// Golden runner (see golden.h).
#include "model/nn/golden.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/core.h>
#include <fmt/ranges.h>  // fmt::join (declared here in newer fmt, e.g. the copy bundled with libtorch 2.x)
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>

#include "model/config.h"
#include "model/nn/smolvlm.h"
#include "model/safetensors.h"
#include "util/file.h"

namespace smolvid::model {

namespace {

at::ScalarType scalar_type_of(DType d) {
  switch (d) {
    case DType::kF64: return at::kDouble;
    case DType::kF32: return at::kFloat;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
    case DType::kI64: return at::kLong;
    case DType::kI32: return at::kInt;
    case DType::kI16: return at::kShort;
    case DType::kI8: return at::kChar;
    case DType::kU8: return at::kByte;
    case DType::kBool: return at::kBool;
  }
  throw std::invalid_argument("unknown safetensors dtype");
}

at::Tensor load_tensor(const SafetensorsFile& f, const std::string& name) {
  const TensorView& v = f.at(name);
  // from_blob needs a mutable pointer; the clone copies before anything could write.
  return at::from_blob(const_cast<uint8_t*>(v.data), v.shape, at::TensorOptions().dtype(scalar_type_of(v.dtype)))
      .clone();
}

// Max abs difference over the positions selected by `rows` ([B, L] 0/1 over the leading dims, or
// undefined = everything), with the location of the largest one.
GoldenComparison compare(const std::string& case_name, const std::string& tensor, const at::Tensor& got_in,
                         const at::Tensor& expected_in, const at::Tensor& rows, double atol) {
  GoldenComparison c;
  c.case_name = case_name;
  c.tensor = tensor;
  c.tolerance = atol;
  const at::Tensor got = got_in.to(at::kCPU).to(at::kDouble);
  const at::Tensor expected = expected_in.to(at::kDouble);
  if (got.sizes() != expected.sizes()) {
    c.max_abs_diff = std::numeric_limits<double>::infinity();
    c.detail = fmt::format("shape [{}], expected [{}]", fmt::join(got.sizes(), ", "), fmt::join(expected.sizes(), ", "));
    return c;
  }
  at::Tensor diff = (got - expected).abs();
  if (rows.defined()) {
    at::Tensor keep = rows.to(at::kCPU).ne(0);
    while (keep.dim() < diff.dim()) keep = keep.unsqueeze(-1);
    diff = diff.masked_fill(keep.logical_not(), 0.0);
  }
  if (diff.numel() == 0) {
    c.pass = true;
    return c;
  }
  const int64_t flat = diff.reshape({-1}).argmax().item<int64_t>();
  c.max_abs_diff = diff.reshape({-1})[flat].item<double>();
  if (std::isnan(got.sum().item<double>())) c.max_abs_diff = std::numeric_limits<double>::quiet_NaN();
  c.pass = c.max_abs_diff <= atol;
  // Unravel the flat index for the message.
  std::vector<int64_t> idx(diff.dim());
  int64_t rem = flat;
  for (int64_t d = diff.dim() - 1; d >= 0; --d) {
    idx[d] = rem % diff.size(d);
    rem /= diff.size(d);
  }
  c.detail = fmt::format("largest at [{}]: got {:.7g}, expected {:.7g}", fmt::join(idx, ", "),
                         got.reshape({-1})[flat].item<double>(), expected.reshape({-1})[flat].item<double>());
  return c;
}

GoldenComparison compare_ids(const std::string& case_name, const at::Tensor& got, const at::Tensor& expected,
                             bool required) {
  GoldenComparison c;
  c.case_name = case_name;
  c.tensor = "generated_ids";
  if (got.sizes() != expected.sizes()) {
    c.max_abs_diff = static_cast<double>(expected.numel());
    c.detail = fmt::format("shape [{}], expected [{}]", fmt::join(got.sizes(), ", "), fmt::join(expected.sizes(), ", "));
    return c;
  }
  const at::Tensor g = got.to(at::kCPU).to(at::kLong), e = expected.to(at::kLong);
  c.max_abs_diff = g.ne(e).sum().item<double>();
  std::vector<std::string> rows;
  for (int64_t b = 0; b < e.size(0); ++b) {
    int64_t agree = 0;  // leading tokens identical (greedy agreement before the first divergence)
    while (agree < e.size(1) && g[b][agree].item<int64_t>() == e[b][agree].item<int64_t>()) ++agree;
    c.leading_agreement.push_back(agree);
    std::vector<int64_t> gv(g[b].data_ptr<int64_t>(), g[b].data_ptr<int64_t>() + g.size(1));
    rows.push_back(fmt::format("row {}: {}/{} leading tokens agree, got [{}]", b, agree, e.size(1), fmt::join(gv, " ")));
  }
  c.detail = fmt::format("{}", fmt::join(rows, "; "));
  c.pass = c.max_abs_diff == 0 || !required;
  return c;
}

}  // namespace

bool GoldenReport::all_passed() const { return failures() == 0; }

int64_t GoldenReport::failures() const {
  int64_t n = 0;
  for (const auto& r : rows) n += r.pass ? 0 : 1;
  return n;
}

GoldenReport run_golden(const std::string& dir, const GoldenOptions& options) {
  c10::InferenceMode guard;
  ModelOptions mo;
  mo.dtype = options.dtype;
  mo.threads = options.threads;
  mo.device = options.device;
  mo.vision_cache_images = 0;
  auto vlm = SmolVLM::load(dir, mo);
  const nlohmann::json cases = nlohmann::json::parse(util::read_file(dir + "/cases.json"));
  const SafetensorsFile data(dir + "/cases.safetensors");

  GoldenReport report;
  report.dir = dir;
  report.dtype = options.dtype;
  const std::set<std::string> inputs = {"input_ids", "attention_mask", "pixel_values", "pixel_attention_mask"};
  for (const auto& jc : cases.at("cases")) {
    const std::string name = jc.at("name").get<std::string>();
    const std::string prefix = name + ".";
    auto has = [&](const std::string& t) { return data.contains(prefix + t); };
    auto get = [&](const std::string& t) { return load_tensor(data, prefix + t); };

    BatchInputs in;
    in.input_ids = get("input_ids");
    in.attention_mask = has("attention_mask") ? get("attention_mask") : at::ones_like(in.input_ids);
    if (has("pixel_values")) in.pixel_values = get("pixel_values");
    if (has("pixel_attention_mask")) in.pixel_attention_mask = get("pixel_attention_mask");
    const at::Tensor rows = in.attention_mask;

    ForwardOptions fo;
    fo.output_hidden_states = true;
    const ForwardOutputs out = vlm->forward(in, fo);
    ForwardOutputs out_mask_pos;
    if (has("logits_posids_from_mask")) {
      ForwardOptions fm;
      fm.position_ids_from_mask = true;
      out_mask_pos = vlm->forward(in, fm);
    }

    for (const auto& [key, meta] : jc.at("tensors").items()) {
      if (key.rfind(prefix, 0) != 0) continue;
      const std::string t = key.substr(prefix.size());
      if (inputs.count(t)) continue;
      const at::Tensor expected = get(t);
      const double tol = options.atol;
      if (t == "generated_ids") {
        GenerationOptions g;
        g.max_new_tokens = expected.size(1);
        g.eos_token_ids = std::vector<int64_t>{};
        report.rows.push_back(compare_ids(name, vlm->generate_batch(in, g), expected, options.require_generated_ids));
      } else if (t == "logits") {
        report.rows.push_back(compare(name, t, out.logits, expected, rows, tol));
      } else if (t == "logits_posids_from_mask") {
        report.rows.push_back(compare(name, t, out_mask_pos.logits, expected, rows, tol));
      } else if (t == "inputs_embeds") {
        report.rows.push_back(compare(name, t, out.inputs_embeds, expected, rows, tol));
      } else if (t == "patch_attention_mask") {
        report.rows.push_back(compare(name, t, out.patch_attention_mask, expected, {}, 0));
      } else if (t == "vision_last_hidden_state") {
        report.rows.push_back(compare(name, t, out.vision_last_hidden_state, expected, {}, tol));
      } else if (t == "image_hidden_states") {
        report.rows.push_back(compare(name, t, out.image_hidden_states, expected, {}, tol));
      } else if (out.activations.count(t)) {
        const bool text = t.rfind("text_hidden_states.", 0) == 0;
        report.rows.push_back(compare(name, t, out.activations.at(t), expected, text ? rows : at::Tensor(), tol));
      } else {
        GoldenComparison unknown;
        unknown.case_name = name;
        unknown.tensor = t;
        unknown.max_abs_diff = std::numeric_limits<double>::infinity();
        unknown.tolerance = tol;
        unknown.detail = "not compared: the runner does not know this tensor";
        report.rows.push_back(unknown);
      }
    }
  }
  return report;
}

}  // namespace smolvid::model
