// sampler/cv_frame.h (private to sampler/): decoded frames as OpenCV images, for the analysis and
// the image writers (sampler/image.h). Not installed for other folders: they see decode::Frame only.
#pragma once

#include <opencv2/core.hpp>

#include "decode/frame.h"

namespace smolvid::sampler {

// A view (no copy) of an RGB24 (CV_8UC3, RGB order) or GRAY8 (CV_8UC1) frame. Throws
// SamplerError naming the frame when its size, channels or byte count are inconsistent.
cv::Mat frame_view(const decode::Frame& frame);

// `image` scaled (INTER_AREA) so that its longer side is at most max_side (0 = any size): the
// image itself when it is already that small.
cv::Mat fit_within(const cv::Mat& image, int max_side);

}  // namespace smolvid::sampler
