// Pillow's 8-bit resampling, re-implemented from the behaviour of Pillow 9.x (see resample.h).
// Every cast, rounding step and accumulation order below mirrors Pillow's C code, because the
// reference pixels depend on them bit for bit.
#include "model/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

namespace smolvid::model {
namespace {

constexpr double kPi = 3.1415926535897932384626433832795;
// 8 bits for the result, 2 bits of headroom for negative lobes and sums above 1 (Pillow's
// PRECISION_BITS = 32 - 8 - 2).
constexpr int kPrecisionBits = 32 - 8 - 2;

void check_channels(int c, const char* what) {
  if (c != 1 && c != 3 && c != 4) {
    throw ImageError(std::string(what) + ": expected 1, 3 or 4 channels, got " + std::to_string(c));
  }
}

void check_size(int w, int h, const char* what) {
  if (w < 1 || h < 1) {
    throw ImageError(std::string(what) + ": image size must be at least 1x1, got " + std::to_string(w) + "x" +
                     std::to_string(h));
  }
}

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * kPi;
  return std::sin(x) / x;
}

double lanczos3(double x) {
  if (-3.0 <= x && x < 3.0) return sinc(x) * sinc(x / 3);
  return 0.0;
}

double bilinear(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

double box(double x) { return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0; }

double hamming(double x) {
  if (x < 0.0) x = -x;
  if (x == 0.0) return 1.0;
  if (x >= 1.0) return 0.0;
  x = x * kPi;
  return std::sin(x) / x * (0.54f + 0.46f * std::cos(x));
}

struct Filter {
  double (*fn)(double);
  double support;
};

Filter filter_for(PilFilter f) {
  switch (f) {
    case PilFilter::kLanczos: return {lanczos3, 3.0};
    case PilFilter::kBilinear: return {bilinear, 1.0};
    case PilFilter::kBicubic: return {bicubic, 2.0};
    case PilFilter::kBox: return {box, 0.5};
    case PilFilter::kHamming: return {hamming, 1.0};
    case PilFilter::kNearest: break;
  }
  throw ImageError("pil_resample_convolve: NEAREST is not a convolution filter");
}

// Per output coordinate: the first input index, the number of taps, and the fixed-point weights
// (ksize slots each). Mirrors Resample.c precompute_coeffs + normalize_coeffs_8bpc for the full
// box [0, in_size).
struct Coeffs {
  int ksize = 0;
  std::vector<int> xmin;
  std::vector<int> count;
  std::vector<int32_t> k;  // [out_size][ksize]
};

Coeffs precompute(int in_size, int out_size, const Filter& filter) {
  // Pillow passes the box edges as float and subtracts them in float: exact for these sizes.
  const float in0 = 0.0f;
  const float in1 = static_cast<float>(in_size);
  const double scale = static_cast<double>(in1 - in0) / out_size;
  const double filterscale = scale < 1.0 ? 1.0 : scale;
  const double support = filter.support * filterscale;
  Coeffs c;
  c.ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.xmin.resize(out_size);
  c.count.resize(out_size);
  c.k.assign(static_cast<size_t>(out_size) * c.ksize, 0);
  std::vector<double> w(c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = in0 + (xx + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = static_cast<int>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = static_cast<int>(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      w[x] = filter.fn((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? static_cast<int32_t>(-0.5 + v * (1 << kPrecisionBits))
                   : static_cast<int32_t>(0.5 + v * (1 << kPrecisionBits));
    }
    c.xmin[xx] = xmin;
    c.count[xx] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  const int32_t s = v >> kPrecisionBits;  // arithmetic shift, as Pillow's lookup index
  return static_cast<uint8_t>(s < 0 ? 0 : (s > 255 ? 255 : s));
}

// Horizontal pass over rows [y_first, y_first + out.height) of `in`; CH channels (a template
// parameter so the inner loops unroll).
template <int CH>
void horizontal_ch(const Image8& in, int y_first, const Coeffs& c, Image8& out) {
  for (int yy = 0; yy < out.height; ++yy) {
    const uint8_t* src = in.row(yy + y_first);
    uint8_t* dst = out.row(yy);
    for (int xx = 0; xx < out.width; ++xx) {
      const int32_t* k = &c.k[static_cast<size_t>(xx) * c.ksize];
      const uint8_t* p = src + static_cast<size_t>(c.xmin[xx]) * CH;
      const int n = c.count[xx];
      int32_t ss[CH];
      for (int ci = 0; ci < CH; ++ci) ss[ci] = 1 << (kPrecisionBits - 1);
      for (int x = 0; x < n; ++x) {
        for (int ci = 0; ci < CH; ++ci) ss[ci] += static_cast<int32_t>(p[x * CH + ci]) * k[x];
      }
      for (int ci = 0; ci < CH; ++ci) dst[xx * CH + ci] = clip8(ss[ci]);
    }
  }
}

void horizontal(const Image8& in, int y_first, const Coeffs& c, Image8& out) {
  switch (in.channels) {
    case 1: horizontal_ch<1>(in, y_first, c, out); return;
    case 3: horizontal_ch<3>(in, y_first, c, out); return;
    case 4: horizontal_ch<4>(in, y_first, c, out); return;
    default: throw ImageError("horizontal resample: unsupported channel count " + std::to_string(in.channels));
  }
}

// Vertical pass; c.xmin are rows of `in` already shifted by the caller.
void vertical(const Image8& in, const Coeffs& c, const std::vector<int>& ymin, Image8& out) {
  const size_t row_len = static_cast<size_t>(in.width) * in.channels;
  std::vector<int32_t> acc(row_len);
  for (int yy = 0; yy < out.height; ++yy) {
    const int32_t* k = &c.k[static_cast<size_t>(yy) * c.ksize];
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < c.count[yy]; ++y) {
      const uint8_t* src = in.row(ymin[yy] + y);
      const int32_t w = k[y];
      for (size_t i = 0; i < row_len; ++i) acc[i] += static_cast<int32_t>(src[i]) * w;
    }
    uint8_t* dst = out.row(yy);
    for (size_t i = 0; i < row_len; ++i) dst[i] = clip8(acc[i]);
  }
}

}  // namespace

Image8::Image8(int w, int h, int c) : width(w), height(h), channels(c) {
  check_size(w, h, "Image8");
  check_channels(c, "Image8");
  data.assign(static_cast<size_t>(w) * h * c, 0);
}

Image8 Image8::from_buffer(int w, int h, int c, const uint8_t* bytes) {
  Image8 img(w, h, c);
  if (bytes == nullptr) throw ImageError("Image8::from_buffer: null data pointer");
  std::memcpy(img.data.data(), bytes, img.data.size());
  return img;
}

PilFilter pil_filter_from_int(int resample) {
  if (resample < 0 || resample > 5) {
    throw ImageError("resample: expected a PIL filter number 0..5 (1 = LANCZOS), got " + std::to_string(resample));
  }
  return static_cast<PilFilter>(resample);
}

const char* pil_filter_name(PilFilter f) {
  switch (f) {
    case PilFilter::kNearest: return "NEAREST";
    case PilFilter::kLanczos: return "LANCZOS";
    case PilFilter::kBilinear: return "BILINEAR";
    case PilFilter::kBicubic: return "BICUBIC";
    case PilFilter::kBox: return "BOX";
    case PilFilter::kHamming: return "HAMMING";
  }
  return "?";
}

Image8 pil_resample_convolve(const Image8& in, int out_w, int out_h, PilFilter filter) {
  check_size(out_w, out_h, "pil_resample_convolve");
  check_channels(in.channels, "pil_resample_convolve");
  const Filter f = filter_for(filter);
  const bool need_h = out_w != in.width;
  const bool need_v = out_h != in.height;
  const Coeffs ch = precompute(in.width, out_w, f);
  const Coeffs cv = precompute(in.height, out_h, f);
  // Only the source rows the vertical pass reads go through the horizontal pass.
  const int y_first = cv.xmin[0];
  const int y_last = cv.xmin[out_h - 1] + cv.count[out_h - 1];
  std::vector<int> ymin = cv.xmin;

  Image8 tmp;
  const Image8* src = &in;
  if (need_h) {
    for (int& y : ymin) y -= y_first;
    tmp = Image8(out_w, y_last - y_first, in.channels);
    horizontal(in, y_first, ch, tmp);
    src = &tmp;
  }
  if (need_v) {
    Image8 out(src->width, out_h, in.channels);
    vertical(*src, cv, ymin, out);
    return out;
  }
  return need_h ? tmp : in;
}

Image8 pil_resize_nearest(const Image8& in, int out_w, int out_h) {
  check_size(out_w, out_h, "pil_resize_nearest");
  check_channels(in.channels, "pil_resize_nearest");
  // Geometry.c ImagingScaleAffine with a = [in_w/out_w, 0, 0, 0, in_h/out_h, 0]: the source
  // coordinate is accumulated by repeated addition (not x * scale) and truncated.
  const double a0 = static_cast<double>(static_cast<float>(in.width) - 0.0f) / out_w;
  const double a4 = static_cast<double>(static_cast<float>(in.height) - 0.0f) / out_h;
  auto coord = [](double v) { return v < 0.0 ? -1 : static_cast<int>(v); };
  std::vector<int> xin(out_w, -1);
  double xo = 0.0 + a0 * 0.5;
  for (int x = 0; x < out_w; ++x) {
    const int xi = coord(xo);
    if (xi >= 0 && xi < in.width) xin[x] = xi;
    xo += a0;
  }
  Image8 out(out_w, out_h, in.channels);  // zero fill, as Pillow's `fill`
  const int ch = in.channels;
  double yo = 0.0 + a4 * 0.5;
  for (int y = 0; y < out_h; ++y) {
    const int yi = coord(yo);
    if (yi >= 0 && yi < in.height) {
      const uint8_t* src = in.row(yi);
      uint8_t* dst = out.row(y);
      for (int x = 0; x < out_w; ++x) {
        if (xin[x] < 0) continue;
        std::memcpy(dst + static_cast<size_t>(x) * ch, src + static_cast<size_t>(xin[x]) * ch, ch);
      }
    }
    yo += a4;
  }
  return out;
}

Image8 pil_premultiply(const Image8& rgba) {
  if (rgba.channels != 4) throw ImageError("pil_premultiply: expected 4 channels, got " + std::to_string(rgba.channels));
  Image8 out = rgba;
  for (size_t i = 0; i < out.data.size(); i += 4) {
    const uint32_t a = out.data[i + 3];
    for (int c = 0; c < 3; ++c) {
      const uint32_t tmp = out.data[i + c] * a + 128;  // MULDIV255
      out.data[i + c] = static_cast<uint8_t>(((tmp >> 8) + tmp) >> 8);
    }
  }
  return out;
}

Image8 pil_unpremultiply(const Image8& rgba) {
  if (rgba.channels != 4) throw ImageError("pil_unpremultiply: expected 4 channels, got " + std::to_string(rgba.channels));
  Image8 out = rgba;
  for (size_t i = 0; i < out.data.size(); i += 4) {
    const uint32_t a = out.data[i + 3];
    if (a == 255 || a == 0) continue;
    for (int c = 0; c < 3; ++c) {
      const uint32_t v = (255u * out.data[i + c]) / a;
      out.data[i + c] = static_cast<uint8_t>(v > 255 ? 255 : v);
    }
  }
  return out;
}

Image8 pil_resize(const Image8& in, int out_w, int out_h, PilFilter filter) {
  check_size(out_w, out_h, "pil_resize");
  check_channels(in.channels, "pil_resize");
  if (out_w == in.width && out_h == in.height) return in;
  if (filter == PilFilter::kNearest) return pil_resize_nearest(in, out_w, out_h);
  if (in.channels == 4) {
    return pil_unpremultiply(pil_resample_convolve(pil_premultiply(in), out_w, out_h, filter));
  }
  return pil_resample_convolve(in, out_w, out_h, filter);
}

Image8 pil_to_rgb_over_white(const Image8& in) {
  check_channels(in.channels, "pil_to_rgb_over_white");
  if (in.channels == 3) return in;
  Image8 out(in.width, in.height, 3);
  const size_t n = static_cast<size_t>(in.width) * in.height;
  if (in.channels == 1) {
    for (size_t i = 0; i < n; ++i) out.data[3 * i] = out.data[3 * i + 1] = out.data[3 * i + 2] = in.data[i];
    return out;
  }
  // AlphaComposite.c with an opaque white destination; 7 extra bits of precision.
  constexpr uint32_t kBits = 7;
  auto shift_div255 = [](uint32_t v) { return ((v >> 8) + v) >> 8; };
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* s = &in.data[4 * i];
    uint8_t* d = &out.data[3 * i];
    const uint32_t sa = s[3];
    if (sa == 0) {
      d[0] = d[1] = d[2] = 255;
      continue;
    }
    const uint32_t da = 255;
    const uint32_t blend = da * (255 - sa);
    const uint32_t outa255 = sa * 255 + blend;
    const uint32_t coef1 = sa * 255 * 255 * (1u << kBits) / outa255;
    const uint32_t coef2 = 255 * (1u << kBits) - coef1;
    for (int c = 0; c < 3; ++c) {
      const uint32_t tmp = s[c] * coef1 + 255u * coef2;
      d[c] = static_cast<uint8_t>(shift_div255(tmp + (0x80u << kBits)) >> kBits);
    }
  }
  return out;
}

Image8 crop(const Image8& in, int x0, int y0, int w, int h) {
  if (x0 < 0 || y0 < 0 || w < 1 || h < 1 || x0 + w > in.width || y0 + h > in.height) {
    throw ImageError("crop: box x=" + std::to_string(x0) + " y=" + std::to_string(y0) + " w=" + std::to_string(w) +
                     " h=" + std::to_string(h) + " is outside the " + std::to_string(in.width) + "x" +
                     std::to_string(in.height) + " image");
  }
  Image8 out(w, h, in.channels);
  const size_t len = static_cast<size_t>(w) * in.channels;
  for (int y = 0; y < h; ++y) std::memcpy(out.row(y), in.row(y0 + y) + static_cast<size_t>(x0) * in.channels, len);
  return out;
}

}  // namespace smolvid::model
