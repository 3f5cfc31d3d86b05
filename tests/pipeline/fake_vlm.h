// tests/pipeline/fake_vlm.h: a Vlm that records what the jobs send it (prompts, frame times,
// options) and answers with text computed from its inputs, so pipeline logic is tested without
// weights.
#pragma once

#include <fmt/core.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/vlm.h"

namespace smolvid::test {

class FakeVlm : public pipeline::Vlm {
 public:
  struct Call {
    pipeline::MediaKind kind = pipeline::MediaKind::kVideo;
    std::vector<double> frame_times_s;
    double duration_s = 0.0;
    std::vector<std::string> prompts;
    pipeline::GenerationOptions options;
  };
  // (call, prompt index) -> answer. Default: "<prompt> @ first-last (N frames)".
  using Responder = std::function<std::string(const Call&, size_t)>;

  explicit FakeVlm(Responder responder = {}) : responder_(std::move(responder)) {}

  std::vector<pipeline::Generation> generate(const pipeline::VisualInput& input, const std::vector<std::string>& prompts,
                                             const pipeline::GenerationOptions& options,
                                             const pipeline::TextCallback& on_text) override {
    Call call;
    call.kind = input.kind;
    call.duration_s = input.duration_s;
    for (const decode::Frame& f : input.frames) call.frame_times_s.push_back(f.pts_seconds);
    call.prompts = prompts;
    call.options = options;
    calls.push_back(call);
    options.deadline.check("fake model: vision");
    std::vector<pipeline::Generation> out;
    for (size_t i = 0; i < prompts.size(); ++i) {
      pipeline::Generation g;
      g.text = responder_ ? responder_(call, i) : default_answer(call, i);
      // Stream word by word, checking the deadline like a real decoder loop does per token.
      size_t start = 0;
      while (start < g.text.size()) {
        if (delay_per_piece.count() > 0) std::this_thread::sleep_for(delay_per_piece);
        options.deadline.check("fake model: decode");
        size_t end = g.text.find(' ', start);
        end = end == std::string::npos ? g.text.size() : end + 1;
        if (on_text) on_text(i, g.text.substr(start, end - start));
        ++g.generated_tokens;
        start = end;
      }
      g.prompt_tokens = static_cast<int>(prompts[i].size());
      g.stop_reason = "eos";
      out.push_back(std::move(g));
    }
    return out;
  }

  std::string model_name() const override { return "fake/vlm"; }
  std::optional<pipeline::VideoSampling> video_sampling() const override { return checkpoint_sampling; }

  static std::string default_answer(const Call& call, size_t i) {
    if (call.frame_times_s.empty()) return fmt::format("{} (no frames)", call.prompts[i]);
    return fmt::format("{} @ {:.3f}-{:.3f} ({} frames)", call.prompts[i], call.frame_times_s.front(),
                       call.frame_times_s.back(), call.frame_times_s.size());
  }

  std::vector<Call> calls;
  std::chrono::milliseconds delay_per_piece{0};
  std::optional<pipeline::VideoSampling> checkpoint_sampling;  // what video_sampling() reports

 private:
  Responder responder_;
};

}  // namespace smolvid::test
