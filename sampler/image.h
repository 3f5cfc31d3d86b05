// sampler/image.h: decoded frames as pictures: JPEG bytes (report thumbnails), JPEG files and a
// contact sheet (smolvid frames). OpenCV does the work; callers see only decode::Frame.
//
// Usage:
//   std::vector<uint8_t> jpg = smolvid::sampler::encode_jpeg(frame, /*max_side=*/320);
//   smolvid::sampler::write_jpeg("frame_000.jpg", frame);
//   smolvid::sampler::write_contact_sheet("sheet.jpg", frames, {"0.00s #0", "1.00s #25"}, 320);
//
// Frames are RGB24 or GRAY8 (decode::Frame). Bad frames or options throw SamplerError; a file
// that cannot be written throws SamplerError naming it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "decode/frame.h"
#include "sampler/policy.h"  // SamplerError

namespace smolvid::sampler {

// JPEG of the frame (colour, or grey for GRAY8), scaled down (area interpolation) so that its
// longer side is at most max_side pixels (0 = keep the size). quality in [1, 100].
std::vector<uint8_t> encode_jpeg(const decode::Frame& frame, int max_side = 320, int quality = 80);

// The frame at full size as a JPEG file.
void write_jpeg(const std::string& path, const decode::Frame& frame, int quality = 92);

// One grid image of the frames, each thumb_width pixels wide, with labels[i] drawn on frame i.
void write_contact_sheet(const std::string& path, const std::vector<decode::Frame>& frames,
                         const std::vector<std::string>& labels, int thumb_width, int quality = 92);

}  // namespace smolvid::sampler
