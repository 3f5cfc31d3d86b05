// pipeline/atomic_file.h: output files that appear whole or not at all.
//
//   smolvid::pipeline::write_file_atomically("out/summary.srt", [&](std::ostream& out) {
//     smolvid::pipeline::write_srt(summary, out);
//   });
//   smolvid::pipeline::write_file_atomically("sheet.jpg", jpeg_bytes);
//
// The content goes to a temporary file in the same folder ("<path>.tmp-<pid>"), is fsync'ed and
// then renamed over `path`. A crash (kill -9) or a full disk therefore never leaves a partial file
// under the final name, and a file already at `path` stays intact until the new one is complete.
// On failure the temporary file is removed and OutputError names the path and the system's reason
// ("No space left on device", "File too large", ...).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace smolvid::pipeline {

void write_file_atomically(const std::string& path, std::string_view bytes);
void write_file_atomically(const std::string& path, const std::vector<uint8_t>& bytes);
// `write` renders the whole content into a memory stream first (outputs are megabytes at most).
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace smolvid::pipeline
