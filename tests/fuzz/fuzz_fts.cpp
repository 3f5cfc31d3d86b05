// Fuzzes free-text search (pipeline/index.h): any query text becomes an FTS5 MATCH expression
// that SQLite accepts. fts_query may refuse text without words (IndexError); once it returns an
// expression, EventIndex::search must run it without an SQLite error.
// Input: first byte selects match_all_words (odd) or any word; the rest is the query text.
#include <cstdlib>
#include <string>

#include "pipeline/index.h"
#include "tests/fuzz/fuzz_util.h"

using namespace smolvid::pipeline;

namespace {

EventIndex& index() {
  static EventIndex* db = [] {
    char tmpl[] = "/tmp/smolvid-fuzz-fts-XXXXXX";
    FUZZ_CHECK(::mkdtemp(tmpl) != nullptr, "mkdtemp failed");
    auto* d = new EventIndex(std::string(tmpl) + "/index.db");
    IndexedFile f;
    f.path = "cam1.mp4";
    f.camera = "cam1";
    f.content_hash = "0";
    f.options_hash = "0";
    f.duration_s = 30;
    d->add_file(f, {{0, 5, "A red car drives past the gate, then a man in a blue jacket walks in.", {}, 0},
                    {5, 10, "Zwei Fahrräder; ein Hund läuft über die Straße. 東京の夜景", {}, 0},
                    {10, 20, "\"quoted\" AND OR NOT NEAR(x y) * ^ - : col:val", {}, 0}});
    return d;
  }();
  return *db;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  index();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  SearchQuery q;
  q.match_all_words = data[0] & 1;
  q.text.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    fts_query(q.text, q.match_all_words);
  } catch (const IndexError&) {
    return 0;  // no words: refused before SQLite sees anything
  }
  try {
    const std::vector<EventHit> hits = index().search(q);
    FUZZ_CHECK(hits.size() <= 3, "%zu hits from 3 events", hits.size());
  } catch (const IndexError& e) {
    FUZZ_CHECK(false, "search failed: %s", e.what());
  }
  return 0;
}
