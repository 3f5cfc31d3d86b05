// Fuzzes the batch manifest parser (pipeline/batch.h): arbitrary JSON Lines either parse into
// items that satisfy the documented rules or throw BatchError naming the manifest and line.
#include <cmath>
#include <set>
#include <sstream>
#include <string>

#include "pipeline/batch.h"
#include "tests/fuzz/fuzz_util.h"

using namespace smolvid::pipeline;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::istringstream in(text), in2(text);
  std::vector<BatchItem> items;
  try {
    items = parse_manifest(in, "fuzz.jsonl");
  } catch (const BatchError&) {
    return 0;
  }
  std::vector<std::string> lines;
  for (std::string l; std::getline(in2, l);) lines.push_back(l);
  std::set<std::string> ids;
  for (const BatchItem& item : items) {
    FUZZ_CHECK(item.line >= 1 && static_cast<size_t>(item.line) <= lines.size(), "item line %d", item.line);
    const nlohmann::json j = nlohmann::json::parse(lines[item.line - 1]);
    // An integer id is the number as written (not wrapped into another id).
    if (j["id"].is_number()) FUZZ_CHECK(item.id == j["id"].dump(), "id %s read as '%s'", j["id"].dump().c_str(), item.id.c_str());
    FUZZ_CHECK(!item.id.empty(), "empty id accepted");
    FUZZ_CHECK(ids.insert(item.id).second, "duplicate id '%s' accepted", item.id.c_str());
    FUZZ_CHECK(!item.video.empty(), "empty video accepted");
    FUZZ_CHECK(item.task == "ask" || item.task == "summarize", "task '%s' accepted", item.task.c_str());
    FUZZ_CHECK(item.task != "ask" || !item.questions.empty(), "ask without questions accepted");
    if (item.start_s) FUZZ_CHECK(std::isfinite(*item.start_s) && *item.start_s >= 0, "start %g accepted", *item.start_s);
    if (item.end_s) FUZZ_CHECK(std::isfinite(*item.end_s) && *item.end_s >= 0, "end %g accepted", *item.end_s);
    if (item.start_s && item.end_s) FUZZ_CHECK(*item.end_s > *item.start_s, "end before start accepted");
    FUZZ_CHECK(item.sampling.is_object(), "sampling is not an object");
    for (int count : {1, 3, 16}) {
      int owners = 0;
      for (int k = 0; k < count; ++k) owners += Shard{k, count}.contains(item.id) ? 1 : 0;
      FUZZ_CHECK(owners == 1, "id '%s' belongs to %d of %d shards", item.id.c_str(), owners, count);
    }
  }
  return 0;
}
