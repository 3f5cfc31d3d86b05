// model/image_processor.h: the SmolVLM / SmolVLM2 image processor (Idefics3ImageProcessor /
// SmolVLMImageProcessor, the slow PIL path of transformers 4.50), on decoded uint8 buffers.
// Spec: shared/spec/smolvlm.md section 4. No OpenCV, no torch: callers decode files and wrap the
// float output in tensors themselves.
//
//   auto cfg = smolvid::model::ImageProcessorConfig::from_file(model_dir + "/preprocessor_config.json");
//   smolvid::model::ImageProcessor proc(cfg);
//   smolvid::model::Image8 img = smolvid::model::Image8::from_buffer(w, h, 3, rgb);   // HWC
//   smolvid::model::PixelBatch b = proc.preprocess({{img}});        // batch of 1 sample, 1 image
//   // b.pixel_values: [B, N, 3, H, W] float32 in [-1, 1]; b.pixel_attention_mask: [B, N, H, W]
//   // b.rows[0][0] x b.cols[0][0] tiles (0 x 0 = not split) -> prompt.h image_prompt_string()
//
// Per image (channels 1 = grey, 3 = RGB, 4 = RGBA; grey is resized with NEAREST because the
// reference turns single-channel arrays into mode "P" images, RGBA is resized premultiplied and
// flattened onto white only after all resizing):
//   1. resize so the longest edge is `longest_edge` (small images are upscaled; the other side is
//      truncated, then made even);
//   2. with splitting: resize to multiples of `max_image_size`, cut row-major M x M tiles, then
//      append the whole image resized to M x M (the global image); without splitting: resize
//      straight to M x M (rows = cols = 0);
//   3. convert to RGB, rescale (double) and normalize (float), channels first;
//   4. pad every sample to the batch's largest image count / size with zeros, mask 0 (always:
//      do_pad = false, which makes the reference return ragged lists, is not reproduced).
// Checked bit-exact against transformers 4.50 + Pillow 9.4 on every fixture image and setting.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/resample.h"

namespace smolvid::model {

struct PreprocessorConfig;  // model/config.h: preprocessor_config.json as parsed

// The processor's settings (preprocessor_config.json values, checked and in the types the
// arithmetic needs). Defaults are the class defaults of Idefics3ImageProcessor.
struct ImageProcessorConfig {
  bool do_convert_rgb = true;
  bool do_resize = true;
  int longest_edge = 4 * 364;  // size.longest_edge (L)
  PilFilter resample = PilFilter::kLanczos;
  bool do_image_splitting = true;
  int max_image_size = 364;  // max_image_size.longest_edge (M, the tile size)
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<float, 3> image_mean{0.5f, 0.5f, 0.5f};
  std::array<float, 3> image_std{0.5f, 0.5f, 0.5f};
  bool do_pad = true;
  // video_sampling (SmolVLM2 only; absent -> has_video_sampling false)
  bool has_video_sampling = false;
  double video_fps = 1.0;        // video_sampling.fps
  int video_max_frames = 64;     // video_sampling.max_frames
  int video_longest_edge = 512;  // video_sampling.video_size.longest_edge

  // Throws ImageError on values the processor cannot use (unknown resample, zero std, ...).
  static ImageProcessorConfig from_preprocessor(const PreprocessorConfig& pre);
  // load_preprocessor_config(path) + from_preprocessor (errors name the file).
  static ImageProcessorConfig from_file(const std::string& path);
};

// Per-call overrides (the processor's keyword arguments).
struct ImageProcessOptions {
  std::optional<bool> do_image_splitting;  // default: config
  std::optional<int> longest_edge;         // size.longest_edge; default: config
};

// One input image after resizing and splitting, still uint8 RGB.
struct SplitImage {
  int rows = 0;  // tile rows (0 = not split)
  int cols = 0;  // tile columns (0 = not split)
  std::vector<Image8> images;  // rows*cols tiles row-major, then the global image (or 1 image)
  // (height, width) of every resize call in order, as the reference records them: longest-edge
  // resize, [resize to tile multiples], global/square resize. Calls that keep the size are listed.
  std::vector<std::array<int, 2>> resize_calls_hw;
};

// The processor output for a batch. Layout matches the reference tensors exactly.
struct PixelBatch {
  int64_t batch = 0;       // B
  int64_t num_images = 0;  // N = max images per sample (padding images are all zero, mask 0)
  int64_t height = 0;      // H = max height
  int64_t width = 0;       // W = max width
  std::vector<float> pixel_values;            // [B, N, 3, H, W]
  std::vector<uint8_t> pixel_attention_mask;  // [B, N, H, W], 1 over each image's area
  std::vector<std::vector<int>> rows;         // [B][images of that sample]
  std::vector<std::vector<int>> cols;
  std::vector<int> images_per_sample;  // real (non-padding) images per sample

  std::vector<int64_t> pixel_values_shape() const { return {batch, num_images, 3, height, width}; }
  std::vector<int64_t> mask_shape() const { return {batch, num_images, height, width}; }
  // Mean of each channel of each image slot, [B*N][3] in slot order (the fixtures' tile means).
  std::vector<std::array<double, 3>> channel_means() const;
};

// Pixel values of one RGB uint8 image: [3, H, W] float32, value = float(double(u8) * factor) then
// (value - mean) / std in float32, as the reference's rescale + normalize.
std::vector<float> rescale_normalize(const Image8& rgb, const ImageProcessorConfig& cfg);

// The sizes of the geometric steps (exposed for tests and tools).
// Step 1: (h, w) after the longest-edge resize (incl. the 4096 cap, which never binds for L <= 4096).
std::array<int, 2> longest_edge_size(int height, int width, int longest_edge);
// Step 2: (h, w) rounded up to multiples of the tile size, computed in IEEE double as Python does.
std::array<int, 2> tile_multiple_size(int height, int width, int max_image_size);

class ImageProcessor {
 public:
  explicit ImageProcessor(ImageProcessorConfig cfg) : cfg_(std::move(cfg)) {}
  const ImageProcessorConfig& config() const { return cfg_; }

  // Steps 1-2 for one image (uint8, RGB conversion already applied at the end).
  SplitImage split(const Image8& image, const ImageProcessOptions& opts = {}) const;

  // The whole processor for a batch: samples -> images. Throws ImageError on an empty sample
  // list, bad channel counts or sizes.
  PixelBatch preprocess(const std::vector<std::vector<Image8>>& samples, const ImageProcessOptions& opts = {}) const;

  // Video frames the way the 4.50 SmolVLM processor handles them: each frame as an image with
  // do_image_splitting = false and longest_edge = video_sampling.video_size (one M x M image per
  // frame). One sample per video.
  PixelBatch preprocess_video(const std::vector<std::vector<Image8>>& videos) const;

 private:
  ImageProcessorConfig cfg_;
};

}  // namespace smolvid::model
