// model/resample.h: Pillow's 8-bit resampling and alpha handling, reproduced bit-exactly, on plain
// uint8 buffers (no OpenCV, no torch). The SmolVLM reference image processor resizes with
// PIL.Image.resize, so matching its pixels means matching Pillow's integer arithmetic
// (src/libImaging/Resample.c, Geometry.c, Convert.c, AlphaComposite.c of Pillow 9.x).
//
//   smolvid::model::Image8 img = smolvid::model::Image8::from_buffer(w, h, 3, rgb_bytes);
//   Image8 out = smolvid::model::pil_resize(img, 512, 384, PilFilter::kLanczos);
//
// Semantics of pil_resize (= Image.resize(size, filter) with the full-image box):
// * same size: an unchanged copy;
// * kNearest: Pillow's affine nearest-neighbour scaler (what mode "P" images always get);
// * other filters on 1 or 3 channels: separable fixed-point convolution, horizontal pass first
//   (skipped when the width is unchanged) into an 8-bit intermediate, then the vertical pass
//   (skipped when the height is unchanged); coefficients with 22 fractional bits;
// * other filters on 4 channels (RGBA): premultiplied ("RGBa") for the resize, then
//   un-premultiplied, exactly as Image.resize does.
// Channels are interleaved (HWC), rows tightly packed.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace smolvid::model {

class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// An 8-bit image: height x width x channels (1 = grey, 3 = RGB, 4 = RGBA), row-major, packed.
struct Image8 {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> data;  // [height][width][channels]

  Image8() = default;
  Image8(int w, int h, int c);  // zero-filled; throws ImageError on bad sizes/channels
  // Copies `w*h*c` bytes from `bytes` (HWC, packed). Throws ImageError on bad sizes/channels.
  static Image8 from_buffer(int w, int h, int c, const uint8_t* bytes);

  uint8_t* row(int y) { return data.data() + static_cast<size_t>(y) * width * channels; }
  const uint8_t* row(int y) const { return data.data() + static_cast<size_t>(y) * width * channels; }
  uint8_t at(int x, int y, int c) const { return row(y)[static_cast<size_t>(x) * channels + c]; }
};

// Pillow's resampling filters, numbered as PIL.Image.Resampling (the `resample` value of
// preprocessor_config.json).
enum class PilFilter { kNearest = 0, kLanczos = 1, kBilinear = 2, kBicubic = 3, kBox = 4, kHamming = 5 };

// Maps a `resample` integer to the filter; throws ImageError on values outside 0..5.
PilFilter pil_filter_from_int(int resample);
const char* pil_filter_name(PilFilter f);

// Image.resize((out_w, out_h), filter) on an image of 1, 3 or 4 channels (see the header comment).
Image8 pil_resize(const Image8& in, int out_w, int out_h, PilFilter filter);

// Building blocks, exposed for tests.
Image8 pil_resize_nearest(const Image8& in, int out_w, int out_h);
// The two-pass convolution without the RGBA premultiplication (what Pillow does for modes
// L/RGB/RGBa).
Image8 pil_resample_convolve(const Image8& in, int out_w, int out_h, PilFilter filter);
Image8 pil_premultiply(const Image8& rgba);    // RGBA -> RGBa (Convert.c rgbA2rgba)
Image8 pil_unpremultiply(const Image8& rgba);  // RGBa -> RGBA (Convert.c rgba2rgbA)

// The processor's convert_to_rgb: Image.convert("RGBA"), alpha_composite over opaque white,
// convert("RGB"). 1 channel -> three equal channels; 3 channels -> unchanged; 4 channels ->
// flattened onto white with Pillow's integer alpha compositing.
Image8 pil_to_rgb_over_white(const Image8& in);

// Crops [x0, x0+w) x [y0, y0+h) (must lie inside the image; throws ImageError otherwise).
Image8 crop(const Image8& in, int x0, int y0, int w, int h);

}  // namespace smolvid::model
