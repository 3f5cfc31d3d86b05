// tests/processor/image_io.h: PNG inputs for the processor tests, decoded with OpenCV exactly as
// stored (no colour management): grey stays 1 channel, RGBA keeps its alpha.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <stdexcept>
#include <string>

#include "model/resample.h"

namespace smolvid::test {

inline model::Image8 read_png(const std::string& path) {
  cv::Mat m = cv::imread(path, cv::IMREAD_UNCHANGED);
  if (m.empty()) throw std::runtime_error("cannot decode " + path);
  if (m.depth() != CV_8U) throw std::runtime_error(path + ": expected 8-bit samples");
  cv::Mat rgb;
  switch (m.channels()) {
    case 1: rgb = m; break;
    case 3: cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(m, rgb, cv::COLOR_BGRA2RGBA); break;
    default: throw std::runtime_error(path + ": unexpected channel count " + std::to_string(m.channels()));
  }
  if (!rgb.isContinuous()) rgb = rgb.clone();
  return model::Image8::from_buffer(rgb.cols, rgb.rows, rgb.channels(), rgb.ptr<uint8_t>(0));
}

}  // namespace smolvid::test
