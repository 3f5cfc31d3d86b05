// Fuzzes the summary writers (pipeline/outputs.h) with arbitrary caption text and parses each
// output back with an independent reader: SRT and WebVTT keep one cue per segment (no blank line,
// no timing arrow inside cue text, escaped markup in VTT), the FFmpeg chapters file keeps one
// [CHAPTER] per segment whose unescaped title is the caption, the HTML page shows every caption as
// text (no markup from the caption survives), and the JSON document parses with the captions.
// Input: VIDEO \x1e SUMMARY \x1e CAPTION \x1e CAPTION ...
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "pipeline/outputs.h"
#include "tests/fuzz/fuzz_util.h"

using namespace smolvid::pipeline;

namespace {

std::vector<std::string> split(const std::string& s, const std::string& sep) {
  std::vector<std::string> out;
  size_t b = 0;
  for (size_t p; (p = s.find(sep, b)) != std::string::npos; b = p + sep.size()) out.push_back(s.substr(b, p - b));
  out.push_back(s.substr(b));
  return out;
}

bool blank(const std::string& line) { return line.find_first_not_of(" \t\f\v") == std::string::npos; }

std::string render(const Summary& s, SummaryFormat f) {
  std::ostringstream out;
  write_summary(s, f, out);
  return out.str();
}

// SRT and VTT cues: blocks separated by one blank line, each an optional id line, a timing line
// and at least one non-blank text line; no text line may contain the timing arrow.
void check_cues(const std::string& text, size_t first_block, size_t segments, bool vtt) {
  std::vector<std::string> blocks = split(text, "\n\n");
  FUZZ_CHECK(!blocks.empty() && blocks.back().empty(), "%s output does not end with a blank line", vtt ? "vtt" : "srt");
  blocks.pop_back();
  FUZZ_CHECK(blocks.size() == first_block + segments, "%s: %zu blocks for %zu segments", vtt ? "vtt" : "srt",
             blocks.size(), segments);
  for (size_t i = first_block; i < blocks.size(); ++i) {
    const std::vector<std::string> lines = split(blocks[i], "\n");
    FUZZ_CHECK(lines.size() >= 3, "cue %zu has %zu lines", i, lines.size());
    FUZZ_CHECK(lines[1].find(" --> ") != std::string::npos, "cue %zu: no timing line", i);
    for (size_t k = 2; k < lines.size(); ++k) {
      FUZZ_CHECK(!blank(lines[k]), "cue %zu: blank text line %zu would end the cue", i, k);
      FUZZ_CHECK(lines[k].find("-->") == std::string::npos, "cue %zu: text line holds a timing arrow", i);
      if (vtt) {
        FUZZ_CHECK(lines[k].find_first_of("<>") == std::string::npos, "vtt cue %zu: unescaped markup", i);
        for (size_t p = lines[k].find('&'); p != std::string::npos; p = lines[k].find('&', p + 1)) {
          const std::string rest = lines[k].substr(p);
          FUZZ_CHECK(rest.rfind("&amp;", 0) == 0 || rest.rfind("&lt;", 0) == 0 || rest.rfind("&gt;", 0) == 0,
                     "vtt cue %zu: bare '&'", i);
        }
      }
    }
  }
}

// FFmpeg's ffmetadata escaping: a backslash takes the next character literally.
std::string ffmeta_unescape(const std::string& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) ++i;
    out += v[i];
  }
  return out;
}

std::string html_unescape(const std::string& s) {
  static const std::pair<const char*, char> kEntities[] = {
      {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&#39;", '\''}};
  std::string out;
  for (size_t i = 0; i < s.size();) {
    bool matched = false;
    for (const auto& [entity, c] : kEntities) {
      if (s.compare(i, std::strlen(entity), entity) == 0) {
        out += c;
        i += std::strlen(entity);
        matched = true;
        break;
      }
    }
    if (!matched) out += s[i++];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> fields = split(std::string(reinterpret_cast<const char*>(data), size), "\x1e");
  Summary s;
  s.video = fields[0];
  s.summary = fields.size() > 1 ? fields[1] : "";
  s.model = "fuzz";
  s.duration_s = 0;
  for (size_t i = 2; i < fields.size(); ++i) {
    SummarySegment seg;
    seg.start_s = 2.5 * static_cast<double>(i - 2);
    seg.end_s = seg.start_s + 2.0;
    seg.caption = fields[i];
    seg.frame_times_s = {seg.start_s, seg.start_s + 1.0};
    s.segments.push_back(seg);
    s.duration_s = seg.end_s;
  }
  const size_t n = s.segments.size();

  check_cues(render(s, SummaryFormat::kSrt), 0, n, false);
  check_cues(render(s, SummaryFormat::kVtt), 1, n, true);

  {
    const std::vector<std::string> lines = split(render(s, SummaryFormat::kChapters), "\n");
    FUZZ_CHECK(lines[0] == ";FFMETADATA1", "chapters: no header");
    size_t chapters = 0;
    for (size_t i = 1; i < lines.size(); ++i) {
      const std::string& l = lines[i];
      if (l.empty()) continue;
      if (l == "[CHAPTER]") {
        ++chapters;
        continue;
      }
      FUZZ_CHECK(l[0] != '[' && l[0] != ';' && l[0] != '#', "chapters line %zu reads as a section or comment", i);
      const size_t eq = l.find('=');
      FUZZ_CHECK(eq != std::string::npos, "chapters line %zu has no '='", i);
      const std::string key = l.substr(0, eq);
      FUZZ_CHECK(key == "description" || key == "TIMEBASE" || key == "START" || key == "END" || key == "title",
                 "chapters line %zu: unexpected key '%s'", i, key.c_str());
      if (key == "title") {
        std::string want;
        for (char c : s.segments[chapters - 1].caption) {
          if (c != '\r') want += c == '\n' ? ' ' : c;
        }
        FUZZ_CHECK(ffmeta_unescape(l.substr(eq + 1)) == want, "chapter %zu title does not read back", chapters);
      }
    }
    FUZZ_CHECK(chapters == n, "chapters: %zu sections for %zu segments", chapters, n);
  }

  {
    const std::string html = render(s, SummaryFormat::kHtml);
    const std::string open = "<p class=\"caption\">";
    size_t found = 0;
    for (size_t p = html.find(open); p != std::string::npos; p = html.find(open, p + 1)) {
      const size_t b = p + open.size();
      const size_t e = html.find("</p>", b);
      FUZZ_CHECK(e != std::string::npos, "html: caption paragraph not closed");
      const std::string inner = html.substr(b, e - b);
      FUZZ_CHECK(inner.find_first_of("<>") == std::string::npos, "html: markup inside caption %zu", found);
      FUZZ_CHECK(found < n && html_unescape(inner) == s.segments[found].caption, "html: caption %zu does not read back",
                 found);
      ++found;
    }
    FUZZ_CHECK(found == n, "html: %zu captions for %zu segments", found, n);
    FUZZ_CHECK(html.find("<script") == std::string::npos, "html: a script element");
  }

  {
    const nlohmann::json j = nlohmann::json::parse(render(s, SummaryFormat::kJson), nullptr, false);
    FUZZ_CHECK(!j.is_discarded() && j["segments"].size() == n, "json output does not parse back");
  }
  render(s, SummaryFormat::kText);
  return 0;
}
