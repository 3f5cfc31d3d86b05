#include "pipeline/vlm.h"

#include <fmt/core.h>

namespace smolvid::pipeline {

Deadline Deadline::after_seconds(double seconds) {
  Deadline d;
  if (seconds > 0) d.at = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  return d;
}

void Deadline::check(const char* stage) const {
  if (expired()) throw TimeoutError(fmt::format("{}: item timeout reached", stage));
}

Generation Vlm::generate_one(const VisualInput& input, const std::string& prompt, const GenerationOptions& options,
                             const std::function<void(const std::string&)>& on_text) {
  TextCallback forward;
  if (on_text) forward = [&on_text](size_t, const std::string& piece) { on_text(piece); };
  std::vector<Generation> out = generate(input, {prompt}, options, forward);
  if (out.size() != 1) {
    throw VlmError(fmt::format("model {} returned {} answers for 1 prompt", model_name(), out.size()));
  }
  return std::move(out.front());
}

}  // namespace smolvid::pipeline
