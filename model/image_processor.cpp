// The SmolVLM image processor (spec section 4); see image_processor.h.
#include "model/image_processor.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "model/config.h"

namespace smolvid::model {
namespace {

// The reference's second size rule caps the longest edge (never binding for L <= 4096).
constexpr int kMaxImageSize = 4096;

std::string size_str(int h, int w) { return std::to_string(w) + "x" + std::to_string(h) + " (WxH)"; }

// Python's int(x) for the positive doubles that occur here (truncation toward zero).
int py_int(double x) { return static_cast<int>(std::trunc(x)); }
int py_ceil(double x) { return static_cast<int>(std::ceil(x)); }

}  // namespace

ImageProcessorConfig ImageProcessorConfig::from_preprocessor(const PreprocessorConfig& pre) {
  const std::string where = "preprocessor_config";
  auto positive = [&](int64_t v, const char* key) {
    if (v < 1 || v > (1 << 20)) throw ImageError(where + ": " + key + " must be in 1..1048576, got " + std::to_string(v));
    return static_cast<int>(v);
  };
  auto three = [&](const std::vector<double>& v, const char* key) {
    std::array<float, 3> out{};
    if (v.size() == 1) {
      out.fill(static_cast<float>(v[0]));
    } else if (v.size() == 3) {
      // numpy turns the Python floats into a float32 array: each value is rounded once.
      for (size_t i = 0; i < 3; ++i) out[i] = static_cast<float>(v[i]);
    } else {
      throw ImageError(where + ": " + key + " must have 1 or 3 values, got " + std::to_string(v.size()));
    }
    return out;
  };
  ImageProcessorConfig c;
  c.do_convert_rgb = pre.do_convert_rgb;
  c.do_resize = pre.do_resize;
  c.longest_edge = positive(pre.size.longest_edge, "size.longest_edge");
  c.resample = pil_filter_from_int(static_cast<int>(pre.resample));
  c.do_image_splitting = pre.do_image_splitting;
  c.max_image_size = positive(pre.max_image_size.longest_edge, "max_image_size.longest_edge");
  c.do_rescale = pre.do_rescale;
  c.rescale_factor = pre.rescale_factor;
  c.do_normalize = pre.do_normalize;
  c.image_mean = three(pre.image_mean, "image_mean");
  c.image_std = three(pre.image_std, "image_std");
  for (float s : c.image_std) {
    if (s == 0.0f) throw ImageError(where + ": image_std must not contain 0");
  }
  c.do_pad = pre.do_pad;
  if (pre.video_sampling) {
    c.has_video_sampling = true;
    if (!(pre.video_sampling->fps > 0)) {
      throw ImageError(where + ": video_sampling.fps must be > 0, got " + std::to_string(pre.video_sampling->fps));
    }
    c.video_fps = pre.video_sampling->fps;
    c.video_max_frames = positive(pre.video_sampling->max_frames, "video_sampling.max_frames");
    c.video_longest_edge = positive(pre.video_sampling->video_size.longest_edge, "video_sampling.video_size.longest_edge");
  }
  return c;
}

ImageProcessorConfig ImageProcessorConfig::from_file(const std::string& path) {
  const PreprocessorConfig pre = load_preprocessor_config(path);
  try {
    return from_preprocessor(pre);
  } catch (const ImageError& e) {
    throw ImageError(path + ": " + e.what());
  }
}

std::array<int, 2> longest_edge_size(int height, int width, int longest_edge) {
  if (height < 1 || width < 1) throw ImageError("longest_edge_size: empty image " + size_str(height, width));
  // _resize_output_size_rescale_to_max_len
  double aspect = static_cast<double>(width) / height;
  int h = height, w = width;
  if (w >= h) {
    w = longest_edge;
    h = py_int(w / aspect);
    if (h % 2 != 0) h += 1;
  } else {
    h = longest_edge;
    w = py_int(h * aspect);
    if (w % 2 != 0) w += 1;
  }
  h = std::max(h, 1);
  w = std::max(w, 1);
  // _resize_output_size_scale_below_upper_bound
  aspect = static_cast<double>(w) / h;
  if (w >= h && w > kMaxImageSize) {
    w = kMaxImageSize;
    h = py_int(w / aspect);
  } else if (h > w && h > kMaxImageSize) {
    h = kMaxImageSize;
    w = py_int(h * aspect);
  }
  return {std::max(h, 1), std::max(w, 1)};
}

std::array<int, 2> tile_multiple_size(int height, int width, int max_image_size) {
  const double m = max_image_size;
  const double aspect = static_cast<double>(width) / height;
  int h = height, w = width;
  if (w >= h) {
    w = py_ceil(w / m) * max_image_size;
    h = py_int(w / aspect);
    h = py_ceil(h / m) * max_image_size;
  } else {
    h = py_ceil(h / m) * max_image_size;
    w = py_int(h * aspect);
    w = py_ceil(w / m) * max_image_size;
  }
  if (h < 1 || w < 1) {
    throw ImageError("resize to multiples of " + std::to_string(max_image_size) + ": the " + size_str(height, width) +
                     " image is too elongated (would become " + size_str(h, w) + ")");
  }
  return {h, w};
}

std::vector<float> rescale_normalize(const Image8& rgb, const ImageProcessorConfig& cfg) {
  if (rgb.channels != 3) throw ImageError("rescale_normalize: expected 3 channels, got " + std::to_string(rgb.channels));
  // Per uint8 value the result is fixed: tabulate it per channel.
  std::array<std::array<float, 256>, 3> lut{};
  for (int c = 0; c < 3; ++c) {
    for (int v = 0; v < 256; ++v) {
      float x = cfg.do_rescale ? static_cast<float>(static_cast<double>(v) * cfg.rescale_factor) : static_cast<float>(v);
      if (cfg.do_normalize) x = (x - cfg.image_mean[c]) / cfg.image_std[c];
      lut[c][v] = x;
    }
  }
  const size_t plane = static_cast<size_t>(rgb.width) * rgb.height;
  std::vector<float> out(3 * plane);
  for (size_t i = 0; i < plane; ++i) {
    for (int c = 0; c < 3; ++c) out[c * plane + i] = lut[c][rgb.data[3 * i + c]];
  }
  return out;
}

SplitImage ImageProcessor::split(const Image8& image, const ImageProcessOptions& opts) const {
  if (image.channels != 1 && image.channels != 3 && image.channels != 4) {
    throw ImageError("image processor: expected 1, 3 or 4 channels, got " + std::to_string(image.channels));
  }
  if (image.width < 1 || image.height < 1 || image.data.size() != static_cast<size_t>(image.width) * image.height * image.channels) {
    throw ImageError("image processor: bad image buffer for " + size_str(image.height, image.width));
  }
  const bool splitting = opts.do_image_splitting.value_or(cfg_.do_image_splitting);
  const int longest = opts.longest_edge.value_or(cfg_.longest_edge);
  const int m = cfg_.max_image_size;
  // Single-channel arrays become PIL mode "P", which Pillow always resizes with NEAREST.
  const PilFilter filter = image.channels == 1 ? PilFilter::kNearest : cfg_.resample;

  SplitImage out;
  auto resize = [&](const Image8& img, int h, int w) {
    out.resize_calls_hw.push_back({h, w});
    return pil_resize(img, w, h, filter);
  };

  Image8 img = image;
  if (cfg_.do_resize) {
    const auto hw = longest_edge_size(img.height, img.width, longest);
    img = resize(img, hw[0], hw[1]);
  }
  if (splitting) {
    const auto hw = tile_multiple_size(img.height, img.width, m);
    img = resize(img, hw[0], hw[1]);
    if (img.height > m || img.width > m) {
      out.rows = py_ceil(static_cast<double>(img.height) / m);
      out.cols = py_ceil(static_cast<double>(img.width) / m);
      const int tile_h = py_ceil(static_cast<double>(img.height) / out.rows);
      const int tile_w = py_ceil(static_cast<double>(img.width) / out.cols);
      for (int r = 0; r < out.rows; ++r) {
        for (int c = 0; c < out.cols; ++c) {
          const int x0 = c * tile_w, y0 = r * tile_h;
          const int x1 = std::min(x0 + tile_w, img.width), y1 = std::min(y0 + tile_h, img.height);
          out.images.push_back(crop(img, x0, y0, x1 - x0, y1 - y0));
        }
      }
      if (img.height != m || img.width != m) img = resize(img, m, m);
    }
    out.images.push_back(std::move(img));
  } else {
    out.images.push_back(resize(img, m, m));
  }
  // RGB conversion happens after all resizing (grey -> 3 equal channels, RGBA over white).
  if (cfg_.do_convert_rgb) {
    for (Image8& t : out.images) t = pil_to_rgb_over_white(t);
  } else if (image.channels != 3) {
    throw ImageError("image processor: do_convert_rgb is false but the image has " + std::to_string(image.channels) +
                     " channels (RGB expected)");
  }
  return out;
}

PixelBatch ImageProcessor::preprocess(const std::vector<std::vector<Image8>>& samples, const ImageProcessOptions& opts) const {
  if (samples.empty()) throw ImageError("image processor: empty batch");
  std::vector<std::vector<Image8>> per_sample(samples.size());
  PixelBatch b;
  b.batch = static_cast<int64_t>(samples.size());
  b.rows.resize(samples.size());
  b.cols.resize(samples.size());
  for (size_t s = 0; s < samples.size(); ++s) {
    for (const Image8& image : samples[s]) {
      SplitImage sp = split(image, opts);
      b.rows[s].push_back(sp.rows);
      b.cols[s].push_back(sp.cols);
      for (Image8& t : sp.images) per_sample[s].push_back(std::move(t));
    }
    b.images_per_sample.push_back(static_cast<int>(per_sample[s].size()));
    b.num_images = std::max<int64_t>(b.num_images, static_cast<int64_t>(per_sample[s].size()));
    for (const Image8& t : per_sample[s]) {
      b.height = std::max<int64_t>(b.height, t.height);
      b.width = std::max<int64_t>(b.width, t.width);
    }
  }
  if (b.num_images == 0) throw ImageError("image processor: no images in the batch");
  const size_t hw = static_cast<size_t>(b.height * b.width);
  b.pixel_values.assign(static_cast<size_t>(b.batch * b.num_images) * 3 * hw, 0.0f);
  b.pixel_attention_mask.assign(static_cast<size_t>(b.batch * b.num_images) * hw, 0);
  for (size_t s = 0; s < per_sample.size(); ++s) {
    for (size_t i = 0; i < per_sample[s].size(); ++i) {
      const Image8& t = per_sample[s][i];
      const std::vector<float> chw = rescale_normalize(t, cfg_);
      const size_t slot = s * static_cast<size_t>(b.num_images) + i;
      float* dst = &b.pixel_values[slot * 3 * hw];
      uint8_t* mask = &b.pixel_attention_mask[slot * hw];
      const size_t plane = static_cast<size_t>(t.width) * t.height;
      for (int c = 0; c < 3; ++c) {
        for (int y = 0; y < t.height; ++y) {
          std::copy_n(&chw[c * plane + static_cast<size_t>(y) * t.width], t.width,
                      dst + c * hw + static_cast<size_t>(y) * b.width);
        }
      }
      for (int y = 0; y < t.height; ++y) std::fill_n(mask + static_cast<size_t>(y) * b.width, t.width, uint8_t{1});
    }
  }
  return b;
}

PixelBatch ImageProcessor::preprocess_video(const std::vector<std::vector<Image8>>& videos) const {
  ImageProcessOptions opts;
  opts.do_image_splitting = false;
  opts.longest_edge = cfg_.video_longest_edge;
  return preprocess(videos, opts);
}

std::vector<std::array<double, 3>> PixelBatch::channel_means() const {
  const size_t plane = static_cast<size_t>(height * width);
  std::vector<std::array<double, 3>> means(static_cast<size_t>(batch * num_images));
  for (size_t t = 0; t < means.size(); ++t) {
    for (size_t c = 0; c < 3; ++c) {
      const float* p = &pixel_values[(t * 3 + c) * plane];
      double sum = 0;
      for (size_t i = 0; i < plane; ++i) sum += p[i];
      means[t][c] = sum / static_cast<double>(plane);
    }
  }
  return means;
}

}  // namespace smolvid::model
