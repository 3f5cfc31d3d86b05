// smolvid debug preprocess: run the image processor and prompt expansion on one image file and
// write the model inputs, so they can be compared with the Hugging Face processor on any input.
//
//   smolvid debug preprocess --model DIR photo.jpg --out inputs.safetensors [--no-split]
//
// Writes pixel_values F32 [1, N, 3, H, W], pixel_attention_mask U8 [1, N, H, W], rows / cols I64
// [1, 1]; the expanded prompt, rows, cols and image_seq_len go into the file's metadata as well.
// Prints JSON in the form of golden/processor/processor.json (rows, cols, num_tiles,
// pixel_values_shape, resize_calls_hw, tile_channel_mean, expanded_prompt).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli/registry.h"
#include "model/config.h"
#include "model/image_processor.h"
#include "model/prompt.h"
#include "model/safetensors.h"

namespace {

using smolvid::model::Image8;

// Decodes an image file as stored (like PIL.Image.open: no EXIF rotation): grey stays one
// channel, alpha is kept, colour comes back as RGB(A).
Image8 read_image_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw std::runtime_error(fmt::format("image file not found: {}", path));
  cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (m.empty()) throw std::runtime_error(fmt::format("cannot decode image {} (JPEG, PNG, WebP, BMP, TIFF are read)", path));
  if (m.depth() != CV_8U) {
    throw std::runtime_error(fmt::format("{}: only 8-bit images are supported, got OpenCV depth {}", path, m.depth()));
  }
  cv::Mat rgb;
  switch (m.channels()) {
    case 1: rgb = m; break;
    case 3: cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(m, rgb, cv::COLOR_BGRA2RGBA); break;
    default: throw std::runtime_error(fmt::format("{}: unsupported channel count {}", path, m.channels()));
  }
  if (!rgb.isContinuous()) rgb = rgb.clone();
  return Image8::from_buffer(rgb.cols, rgb.rows, rgb.channels(), rgb.ptr<uint8_t>(0));
}

template <typename T>
std::vector<uint8_t> to_bytes(const std::vector<T>& v) {
  std::vector<uint8_t> out(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  return out;
}

struct PreprocessArgs {
  std::string model;
  std::string image;
  std::string out;
  std::string prompt = "<image>";
  bool no_split = false;
};

void run_preprocess(const PreprocessArgs& a) {
  using namespace smolvid::model;
  const ModelFiles files = ModelFiles::load(a.model, /*require_weights=*/false);
  if (!files.preprocessor) throw std::runtime_error(fmt::format("{}: no preprocessor_config.json", a.model));
  const ImageProcessorConfig cfg = ImageProcessorConfig::from_preprocessor(*files.preprocessor);
  const int seq_len = static_cast<int>(files.processor ? files.processor->image_seq_len : files.config.image_seq_len());
  const ImageProcessor proc(cfg);
  ImageProcessOptions opts;
  if (a.no_split) opts.do_image_splitting = false;

  const Image8 img = read_image_file(a.image);
  const SplitImage sp = proc.split(img, opts);
  const PixelBatch b = proc.preprocess({{img}}, opts);
  const std::string expanded = expand_image_tokens(a.prompt, {{sp.rows, sp.cols}}, seq_len);

  nlohmann::json j;
  j["file"] = a.image;
  j["width"] = img.width;
  j["height"] = img.height;
  j["channels"] = img.channels;
  j["rows"] = sp.rows;
  j["cols"] = sp.cols;
  j["num_tiles"] = b.num_images;
  j["pixel_values_shape"] = b.pixel_values_shape();
  j["resize_calls_hw"] = sp.resize_calls_hw;
  j["image_seq_len"] = seq_len;
  j["tile_channel_mean"] = b.channel_means();
  j["expanded_prompt"] = expanded;

  if (!a.out.empty()) {
    const std::vector<int64_t> rows{sp.rows}, cols{sp.cols};
    const std::vector<TensorData> tensors = {
        {"pixel_values", DType::kF32, b.pixel_values_shape(), to_bytes(b.pixel_values)},
        {"pixel_attention_mask", DType::kU8, b.mask_shape(), b.pixel_attention_mask},
        {"rows", DType::kI64, {1, 1}, to_bytes(rows)},
        {"cols", DType::kI64, {1, 1}, to_bytes(cols)},
    };
    write_safetensors(a.out, tensors,
                      {{"format", "pt"},
                       {"generator", "smolvid debug preprocess"},
                       {"expanded_prompt", expanded},
                       {"rows", std::to_string(sp.rows)},
                       {"cols", std::to_string(sp.cols)},
                       {"image_seq_len", std::to_string(seq_len)}});
    j["out"] = a.out;
  }
  fmt::print("{}\n", j.dump(2));
}

const smolvid::cli::Registrar kPreprocess(smolvid::cli::Group::kDebug, 40, [](CLI::App& parent) {
  auto a = std::make_shared<PreprocessArgs>();
  auto* cmd = parent.add_subcommand(
      "preprocess", "Run the image processor on one image: pixel values, mask, tile grid and expanded prompt");
  cmd->add_option("--model", a->model, "model directory with preprocessor_config.json (required)")->required();
  cmd->add_option("image", a->image, "image file (JPEG, PNG, WebP; required)")->required();
  cmd->add_option("--out", a->out, "write pixel_values, pixel_attention_mask, rows, cols to this .safetensors file (default: none)");
  cmd->add_option("--prompt", a->prompt, "text whose <image> is expanded (default: \"<image>\")");
  cmd->add_flag("--no-split", a->no_split, "do_image_splitting = false: one image squared to the tile size (default: split as configured)");
  cmd->callback([a] { run_preprocess(*a); });
});

}  // namespace
