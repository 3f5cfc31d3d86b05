#include "pipeline/model_smolvlm.h"

#include <ATen/ATen.h>
#include <fmt/core.h>

#include "model/config.h"
#include "model/image_processor.h"
#include "model/nn/smolvlm.h"
#include "model/prompt_builder.h"
#include "model/tokenizer.h"

namespace smolvid::pipeline {
namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// libtorch's c10::Error message carries a multi-line C++ backtrace; its first line says what went
// wrong (e.g. "PyTorch is not linked with support for cuda devices").
std::string torch_message(const c10::Error& e) {
  const std::string what = e.what_without_backtrace();
  return "libtorch: " + what.substr(0, what.find('\n'));
}

model::Image8 to_image(const decode::Frame& f) {
  if (f.channels != 3) {
    throw VlmError(fmt::format("frame at {:.3f} s has {} channels; the model takes RGB24 frames", f.pts_seconds, f.channels));
  }
  return model::Image8::from_buffer(f.width, f.height, 3, f.pixels.data());
}

class SmolVlm final : public Vlm {
 public:
  SmolVlm(const std::string& dir, const SmolVlmOptions& o)
      : dir_(dir),
        name_(o.name.empty() ? dir : o.name),
        splitting_(o.image_splitting),
        prompts_(model::PromptBuilder::from_dir(dir)),
        processor_(model::ImageProcessorConfig::from_file(dir + "/preprocessor_config.json")) {
    model::ModelOptions mo;
    mo.dtype = o.dtype;
    mo.device = o.device;
    mo.threads = o.threads;
    net_ = model::SmolVLM::load(dir, mo);
  }

  std::string model_name() const override { return name_; }

  std::optional<VideoSampling> video_sampling() const override {
    const model::ImageProcessorConfig& c = processor_.config();
    if (!c.has_video_sampling) return std::nullopt;
    return VideoSampling{c.video_fps, c.video_max_frames};
  }

  std::vector<Generation> generate(const VisualInput& input, const std::vector<std::string>& prompts, const GenerationOptions& options,
                                   const TextCallback& on_text) override {
    try {
      return run(input, prompts, options, on_text);
    } catch (const c10::Error& e) {
      throw VlmError(fmt::format("{}: {}", name_, torch_message(e)));
    }
  }

 private:
  std::vector<Generation> run(const VisualInput& input, const std::vector<std::string>& prompts, const GenerationOptions& options,
                              const TextCallback& on_text) {
    if (options.max_new_tokens < 1) throw VlmError(fmt::format("{}: max_new_tokens must be >= 1, got {}", name_, options.max_new_tokens));
    if (input.kind != MediaKind::kNone && input.frames.empty()) {
      throw VlmError(fmt::format("{}: a video or image input needs at least one frame", name_));
    }
    // Images: pixel values once, features once.
    const auto tv = Clock::now();
    std::vector<std::pair<int, int>> rows_cols;
    at::Tensor features;
    if (input.kind != MediaKind::kNone) {
      std::vector<model::Image8> images;
      for (const decode::Frame& f : input.frames) images.push_back(to_image(f));
      model::PixelBatch batch;
      if (input.kind == MediaKind::kVideo) {
        batch = processor_.preprocess_video({images});
      } else {
        model::ImageProcessOptions po;
        po.do_image_splitting = splitting_;
        batch = processor_.preprocess({images}, po);
        // One (rows, cols) per image, not per tile: an image split into 4 tiles + global is one entry.
        for (size_t k = 0; k < batch.rows[0].size(); ++k) rows_cols.emplace_back(batch.rows[0][k], batch.cols[0][k]);
      }
      const int64_t n = batch.num_images;
      at::Tensor pixels = at::from_blob(batch.pixel_values.data(), {n, 3, batch.height, batch.width}, at::kFloat).clone();
      at::Tensor mask = at::from_blob(batch.pixel_attention_mask.data(), {n, batch.height, batch.width}, at::kByte).to(at::kBool);
      features = net_->encode_images(pixels, mask);
    }
    const double vision_s = seconds_since(tv);
    options.deadline.check("model: after encoding the frames");

    std::vector<Generation> out;
    for (size_t q = 0; q < prompts.size(); ++q) {
      const model::BuiltPrompt built = input.kind == MediaKind::kVideo    ? prompts_.video(video_prompt_info(input), prompts[q])
                                       : input.kind == MediaKind::kImages ? prompts_.images(rows_cols, prompts[q])
                                                                          : prompts_.text(prompts[q]);
      model::Prompt prompt;
      prompt.input_ids = built.input_ids;
      prompt.image_features = features;

      model::GenerationOptions go;
      go.max_new_tokens = options.max_new_tokens;
      go.do_sample = options.temperature > 0;
      if (go.do_sample) go.temperature = options.temperature;
      go.top_p = options.top_p;
      go.seed = options.seed;
      model::StreamingDecoder stream(prompts_.tokenizer(), /*skip_special_tokens=*/true);
      bool timed_out = false;
      const model::GenerateResult r = net_->generate(prompt, go, [&](int64_t token) {
        if (options.deadline.expired()) {
          timed_out = true;
          return false;
        }
        if (options.should_stop && options.should_stop()) return false;
        const std::string piece = stream.push(token);
        if (on_text && !piece.empty()) on_text(q, piece);
        return true;
      });
      if (timed_out) options.deadline.check("model: decoding");
      const std::string tail = stream.finish();
      if (on_text && !tail.empty()) on_text(q, tail);
      Generation g;
      g.token_ids = r.tokens;
      g.text = prompts_.tokenizer().decode(r.tokens, /*skip_special_tokens=*/true);
      g.prompt_tokens = static_cast<int>(prompt.input_ids.size());
      g.generated_tokens = static_cast<int>(r.tokens.size());
      g.stop_reason = model::stop_reason_name(r.stop_reason);
      g.timings.vision_s = q == 0 ? vision_s : 0.0;
      g.timings.prefill_s = r.timings.prefill_s;
      for (double d : r.timings.decode_s) g.timings.decode_s += d;
      out.push_back(std::move(g));
    }
    return out;
  }

 private:
  std::string dir_, name_;
  std::optional<bool> splitting_;
  model::PromptBuilder prompts_;
  model::ImageProcessor processor_;
  std::unique_ptr<model::SmolVLM> net_;
};

}  // namespace

model::VideoPromptInfo video_prompt_info(const VisualInput& input) {
  if (input.frames.empty()) throw VlmError("video prompt: no frames");
  std::vector<double> pts;
  for (const decode::Frame& f : input.frames) pts.push_back(f.pts_seconds);
  const double duration_s = input.duration_s > 0 ? input.duration_s : pts.back() - pts.front();
  return model::video_prompt_info(duration_s, pts, input.start_time_s);
}

std::unique_ptr<Vlm> load_smolvlm(const std::string& model_dir, const SmolVlmOptions& options) {
  try {
    return std::make_unique<SmolVlm>(model_dir, options);
  } catch (const c10::Error& e) {
    throw VlmError(fmt::format("{} (device {}, dtype {}): {}", model_dir, options.device, options.dtype, torch_message(e)));
  }
}

}  // namespace smolvid::pipeline
