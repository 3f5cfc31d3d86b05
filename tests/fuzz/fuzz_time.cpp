// Fuzzes the duration and date-time parsers: util::parse_duration (manifest start/end, --start/--end),
// parse_time_bound / parse_wallclock (search --from/--to), Shard::parse, and the formatters they
// meet (format_wallclock, format_clock). Parsers return finite, non-negative values or throw their
// documented error type; a canonical UTC date-time formats back to itself.
#include <cmath>
#include <string>

#include "pipeline/batch.h"
#include "pipeline/index.h"
#include "pipeline/media_util.h"
#include "tests/fuzz/fuzz_util.h"
#include "util/duration.h"
#include "util/time_format.h"

using namespace smolvid::pipeline;

namespace {

bool canonical_wallclock(const std::string& s) {
  // YYYY-MM-DDTHH:MM:SSZ, all digits where digits belong
  if (s.size() != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != 'Z') {
    return false;
  }
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18}) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return s.compare(0, 4, "1970") >= 0 && s.substr(17, 2) != "60";  // leap seconds normalise to :00
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const double s = smolvid::util::parse_duration(text);
    FUZZ_CHECK(std::isfinite(s) && s >= 0, "parse_duration('%s') = %g", text.c_str(), s);
    const std::string clock = smolvid::util::format_clock(s);  // every parsed duration is formattable
    FUZZ_CHECK(!clock.empty() && clock[0] != '-', "format_clock(%g) = %s", s, clock.c_str());
  } catch (const smolvid::util::DurationError&) {
  }
  try {
    const TimeBound b = parse_time_bound(text);
    FUZZ_CHECK(std::isfinite(b.seconds), "parse_time_bound('%s') = %g", text.c_str(), b.seconds);
    if (b.wall && canonical_wallclock(text)) {
      const std::string back = format_wallclock(b.seconds);
      FUZZ_CHECK(back == text, "'%s' parsed to %.0f, formats back as '%s'", text.c_str(), b.seconds, back.c_str());
    }
    if (b.wall) format_wallclock(b.seconds);
  } catch (const IndexError&) {
  }
  try {
    const Shard shard = Shard::parse(text);
    FUZZ_CHECK(shard.count >= 1 && shard.index >= 0 && shard.index < shard.count, "Shard::parse('%s') = %d/%d",
               text.c_str(), shard.index, shard.count);
    FUZZ_CHECK(Shard::parse(shard.to_string()).index == shard.index, "Shard round trip");
  } catch (const BatchError&) {
  }
  return 0;
}
