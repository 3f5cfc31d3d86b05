// bench_tokenizer: tokenizer.json load time and encode/decode throughput on ~1 MB of text.
//
//   bench_tokenizer [MODEL_DIR] [SHARED_DIR]
//   defaults: SHARED_DIR = $SMOLVID_SHARED or ../shared next to the repository;
//             MODEL_DIR = SHARED_DIR/reference/configs/SmolVLM-256M-Instruct
//
// The text is the shared spec/READMEs plus the multilingual tokenizer fixture strings, repeated
// (in a rotating order) up to 1 MiB. "cold" encodes with a freshly loaded tokenizer (empty word
// cache), "warm" re-encodes with the cache filled. Ratios are against the goals
// (1M tokens/s, 100 ms load).
#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "model/tokenizer.h"
#include "util/file.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }
// Process CPU time: on a shared machine wall time also counts waiting for a core.
double cpu_seconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }

std::string build_text(const fs::path& shared, size_t target_bytes) {
  std::vector<std::string> parts;
  for (const char* rel : {"spec/smolvlm.md", "golden/README.md", "golden/tokenizer/README.md", "media/MEDIA.md",
                          "STYLE.md"}) {
    if (fs::exists(shared / rel)) parts.push_back(smolvid::util::read_file((shared / rel).string()));
  }
  const fs::path cases = shared / "golden/tokenizer/smolvlm_cases.json";
  if (fs::exists(cases)) {
    std::string joined;
    for (const auto& c : nlohmann::json::parse(smolvid::util::read_file(cases.string())).at("cases")) joined += c.at("text").get<std::string>() + "\n";
    parts.push_back(joined);
  }
  if (parts.empty()) throw std::runtime_error("no text found under " + shared.string());
  std::string text;
  for (size_t round = 0; text.size() < target_bytes; ++round) {
    const std::string& p = parts[round % parts.size()];
    text += p;
  }
  // Cut at a line end so the text stays valid UTF-8.
  const size_t cut = text.rfind('\n', target_bytes);
  text.resize(cut == std::string::npos ? target_bytes : cut + 1);
  return text;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("SMOLVID_SHARED");
  const fs::path shared = argc > 2 ? fs::path(argv[2])
                          : env && *env ? fs::path(env)
                                        : fs::path(__FILE__).parent_path().parent_path().parent_path() / "shared";
  const fs::path model = argc > 1 ? fs::path(argv[1]) : shared / "reference/configs/SmolVLM-256M-Instruct";

  std::vector<double> loads, load_cpu;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    const auto tok = smolvid::model::Tokenizer::from_dir(model.string());
    loads.push_back(seconds_since(t0));
    load_cpu.push_back(cpu_seconds() - c0);
  }
  std::sort(loads.begin(), loads.end());
  std::sort(load_cpu.begin(), load_cpu.end());
  fmt::print("load {}: wall min {:.1f} ms, median {:.1f} ms; CPU median {:.1f} ms (goal < 100 ms: wall {:.2f}x, CPU {:.2f}x "
             "of budget)\n",
             model.string(), loads.front() * 1e3, loads[2] * 1e3, load_cpu[2] * 1e3, loads[2] / 0.1, load_cpu[2] / 0.1);

  const std::string text = build_text(shared, size_t{1} << 20);
  const auto tok = smolvid::model::Tokenizer::from_dir(model.string());

  auto t0 = Clock::now();
  const double c0 = cpu_seconds();
  const auto ids = tok.encode(text);
  const double cold = seconds_since(t0);
  const double cold_cpu = cpu_seconds() - c0;
  double warm = 1e9;
  for (int i = 0; i < 3; ++i) {
    t0 = Clock::now();
    const auto again = tok.encode(text);
    warm = std::min(warm, seconds_since(t0));
    if (again != ids) throw std::runtime_error("warm encode differs from cold encode");
  }
  // Line by line: many short calls, as prompts are encoded.
  std::vector<std::string> lines;
  {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line + "\n");
  }
  size_t line_tokens = 0;
  t0 = Clock::now();
  for (const std::string& l : lines) line_tokens += tok.encode(l).size();
  const double per_line = seconds_since(t0);

  t0 = Clock::now();
  const std::string decoded = tok.decode(ids);
  const double dec = seconds_since(t0);
  if (decoded != text) throw std::runtime_error("decode(encode(text)) != text");

  const double n = static_cast<double>(ids.size());
  fmt::print("text: {} bytes, {} tokens ({:.2f} bytes/token)\n", text.size(), ids.size(), text.size() / n);
  fmt::print("encode cold (empty word cache): {:.1f} ms, {:.2f} M tokens/s, {:.1f} MB/s ({:.2f}x the 1M tokens/s goal)\n",
             cold * 1e3, n / cold / 1e6, text.size() / cold / 1e6, n / cold / 1e6);
  fmt::print("encode cold CPU time: {:.1f} ms, {:.2f} M tokens/s\n", cold_cpu * 1e3, n / cold_cpu / 1e6);
  fmt::print("encode warm (cache filled):     {:.1f} ms, {:.2f} M tokens/s ({:.2f}x the goal; warm/cold speedup {:.2f}x)\n",
             warm * 1e3, n / warm / 1e6, n / warm / 1e6, cold / warm);
  fmt::print("encode per line ({} calls):   {:.1f} ms, {:.2f} M tokens/s ({} tokens)\n", lines.size(), per_line * 1e3,
             static_cast<double>(line_tokens) / per_line / 1e6, line_tokens);
  fmt::print("decode: {:.1f} ms, {:.2f} M tokens/s (round trip exact)\n", dec * 1e3, n / dec / 1e6);
  return 0;
}
