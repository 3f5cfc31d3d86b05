// Pillow resampling building blocks, checked against values worked out by hand from Pillow's
// documented arithmetic (the golden processor tests cover whole images).
#include <gtest/gtest.h>

#include "model/resample.h"

namespace smolvid::model {
namespace {

Image8 ramp(int w, int h, int c) {
  Image8 img(w, h, c);
  for (size_t i = 0; i < img.data.size(); ++i) img.data[i] = static_cast<uint8_t>((i * 37 + i / 5) % 256);
  return img;
}

TEST(PilResize, SameSizeIsACopy) {
  const Image8 img = ramp(7, 5, 3);
  const Image8 out = pil_resize(img, 7, 5, PilFilter::kLanczos);
  EXPECT_EQ(out.data, img.data);
}

TEST(PilResize, ConstantImagesStayConstant) {
  // Fixed-point weights sum to 2^22 up to a few units: a flat image must come out flat (RGBA:
  // opaque, since premultiplying by a small alpha loses the colour, as in Pillow).
  for (int c : {1, 3, 4}) {
    for (uint8_t v : {uint8_t{0}, uint8_t{1}, uint8_t{128}, uint8_t{255}}) {
      Image8 img(13, 9, c);
      std::fill(img.data.begin(), img.data.end(), v);
      if (c == 4) {
        for (size_t i = 3; i < img.data.size(); i += 4) img.data[i] = 255;
      }
      for (auto [w, h] : {std::pair{64, 40}, std::pair{5, 3}, std::pair{13, 30}, std::pair{40, 9}}) {
        const Image8 out = pil_resize(img, w, h, PilFilter::kLanczos);
        ASSERT_EQ(out.width, w);
        ASSERT_EQ(out.height, h);
        ASSERT_EQ(out.channels, c);
        for (size_t i = 0; i < out.data.size(); ++i) {
          ASSERT_EQ(out.data[i], img.data[i % c]) << "channels " << c << " -> " << w << "x" << h;
        }
      }
    }
  }
}

TEST(PilResize, LanczosHalvingOfTwoPixelsRoundsHalfUp) {
  // 2 -> 1: center 1.0, both taps at distance 0.5 (scaled 0.25) get weight 1/2 each, so
  // (10 + 21) / 2 = 15.5, and Pillow's +2^21 bias rounds it up to 16.
  Image8 img(2, 1, 1);
  img.data = {10, 21};
  const Image8 out = pil_resize(img, 1, 1, PilFilter::kLanczos);
  EXPECT_EQ(out.data[0], 16);
}

TEST(PilResize, LanczosOvershootIsClipped) {
  // Upscaling a hard edge rings; the ringing must clip at 0 and 255, never wrap.
  Image8 img(8, 1, 1);
  img.data = {0, 0, 0, 0, 255, 255, 255, 255};
  const Image8 out = pil_resize(img, 64, 1, PilFilter::kLanczos);
  EXPECT_EQ(out.data.front(), 0);
  EXPECT_EQ(out.data.back(), 255);
  bool saw_low = false, saw_high = false;
  for (size_t i = 0; i < 28; ++i) saw_low |= out.data[i] == 0;
  for (size_t i = 36; i < 64; ++i) saw_high |= out.data[i] == 255;
  EXPECT_TRUE(saw_low);
  EXPECT_TRUE(saw_high);
}

TEST(PilResize, NearestPicksPixelCentres) {
  // 4 -> 2: source x = (x + 0.5) * 2 -> 1 and 3.
  Image8 img(4, 1, 1);
  img.data = {10, 20, 30, 40};
  EXPECT_EQ(pil_resize(img, 2, 1, PilFilter::kNearest).data, (std::vector<uint8_t>{20, 40}));
  // 2 -> 5: source x = (x + 0.5) * 0.4 -> 0.2 0.6 1.0 1.4 1.8 -> 0 0 1 1 1.
  Image8 two(2, 1, 1);
  two.data = {7, 9};
  EXPECT_EQ(pil_resize(two, 5, 1, PilFilter::kNearest).data, (std::vector<uint8_t>{7, 7, 9, 9, 9}));
}

TEST(PilAlpha, PremultiplyAndBack) {
  Image8 px(1, 1, 4);
  px.data = {200, 255, 0, 128};
  const Image8 pre = pil_premultiply(px);
  // round(200 * 128 / 255) = round(100.39) = 100; 255 -> 128; alpha kept.
  EXPECT_EQ(pre.data, (std::vector<uint8_t>{100, 128, 0, 128}));
  const Image8 back = pil_unpremultiply(pre);
  // 255 * 100 / 128 = 199.2 -> 199 (integer division); 255 * 128 / 128 = 255.
  EXPECT_EQ(back.data, (std::vector<uint8_t>{199, 255, 0, 128}));
}

TEST(PilAlpha, CompositeOverWhite) {
  Image8 px(3, 1, 4);
  px.data = {0, 0, 0, 128, 10, 20, 30, 255, 99, 99, 99, 0};
  const Image8 rgb = pil_to_rgb_over_white(px);
  ASSERT_EQ(rgb.channels, 3);
  // black at alpha 128 over white: 255 * 127 / 255 = 127; opaque pixels unchanged; transparent -> white.
  EXPECT_EQ(rgb.data, (std::vector<uint8_t>{127, 127, 127, 10, 20, 30, 255, 255, 255}));
  Image8 grey(2, 1, 1);
  grey.data = {3, 250};
  EXPECT_EQ(pil_to_rgb_over_white(grey).data, (std::vector<uint8_t>{3, 3, 3, 250, 250, 250}));
}

TEST(PilResize, RejectsBadArguments) {
  const Image8 img = ramp(4, 4, 3);
  EXPECT_THROW(pil_resize(img, 0, 4, PilFilter::kLanczos), ImageError);
  EXPECT_THROW(Image8(4, 4, 2), ImageError);
  EXPECT_THROW(pil_filter_from_int(7), ImageError);
  EXPECT_THROW(crop(img, 2, 2, 3, 1), ImageError);
}

}  // namespace
}  // namespace smolvid::model
