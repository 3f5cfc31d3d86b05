#include "pipeline/batch.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "pipeline/atomic_file.h"
#include "pipeline/outputs.h"
#include "util/duration.h"
#include "util/file.h"

namespace smolvid::pipeline {
namespace {

bool blank_or_comment(const std::string& line) {
  const size_t first = line.find_first_not_of(" \t\r");
  return first == std::string::npos || line[first] == '#';
}

// Longer time strings are refused before any regex sees them.
constexpr size_t kMaxTimeChars = 64;

double time_field(const nlohmann::json& v, const std::string& where, const char* key) {
  if (v.is_number()) {
    const double t = v.get<double>();
    if (!std::isfinite(t) || t < 0 || t > util::kMaxDurationSeconds) {
      throw BatchError(fmt::format("{}: \"{}\" is {}, expected seconds in [0, {}]", where, key, t, util::kMaxDurationSeconds));
    }
    return t;
  }
  if (v.is_string()) {
    try {
      return util::parse_duration(v.get<std::string>());
    } catch (const util::DurationError& e) {
      throw BatchError(fmt::format("{}: \"{}\": {}", where, key, e.what()));
    }
  }
  throw BatchError(fmt::format("{}: \"{}\" must be seconds (number) or a duration string (\"1m30s\", \"[HH:]MM:SS\"), got {}",
                               where, key, v.dump()));
}

int env_int(const char* name, bool& present) {
  const char* v = std::getenv(name);
  present = v && *v;
  if (!present) return 0;
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v, &end, 10);
  if (errno || *end || x < 0 || x > 1000000) throw BatchError(fmt::format("environment variable {}='{}' is not a count/index", name, v));
  return static_cast<int>(x);
}

void write_fully(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw BatchError(fmt::format("cannot append to {}: {}", path, std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
}

}  // namespace

std::vector<BatchItem> parse_manifest(std::istream& in, const std::string& name) {
  static const std::set<std::string> kKeys = {"id", "video", "question", "questions", "task", "start", "end", "sampling"};
  std::vector<BatchItem> items;
  std::map<std::string, int> seen;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (blank_or_comment(line)) continue;
    const std::string where = fmt::format("{}:{}", name, line_no);
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) throw BatchError(fmt::format("{}: not a JSON object: {}", where, line.substr(0, 120)));
    for (const auto& [key, value] : j.items()) {
      if (!kKeys.count(key)) {
        throw BatchError(fmt::format("{}: unknown key \"{}\" (expected id, video, question, questions, task, start, end, sampling)", where, key));
      }
    }
    BatchItem item;
    item.line = line_no;
    if (!j.contains("id")) throw BatchError(fmt::format("{}: missing \"id\"", where));
    if (j["id"].is_string()) item.id = j["id"].get<std::string>();
    else if (j["id"].is_number_unsigned()) item.id = std::to_string(j["id"].get<uint64_t>());
    else if (j["id"].is_number_integer()) item.id = std::to_string(j["id"].get<int64_t>());
    else throw BatchError(fmt::format("{}: \"id\" must be a string or an integer, got {}", where, j["id"].dump()));
    if (item.id.empty()) throw BatchError(fmt::format("{}: \"id\" is empty", where));
    if (auto [it, fresh] = seen.emplace(item.id, line_no); !fresh) {
      throw BatchError(fmt::format("{}: duplicate id \"{}\" (first on line {}); ids must be unique", where, item.id, it->second));
    }
    if (!j.contains("video") || !j["video"].is_string() || j["video"].get<std::string>().empty()) {
      throw BatchError(fmt::format("{}: \"video\" (a path or URL string) is required", where));
    }
    item.video = j["video"].get<std::string>();
    if (j.contains("task")) {
      if (!j["task"].is_string()) throw BatchError(fmt::format("{}: \"task\" must be a string", where));
      item.task = j["task"].get<std::string>();
      if (item.task != "ask" && item.task != "summarize") {
        throw BatchError(fmt::format("{}: task \"{}\" is not one of ask, summarize", where, item.task));
      }
    }
    if (j.contains("question")) {
      if (!j["question"].is_string()) throw BatchError(fmt::format("{}: \"question\" must be a string", where));
      item.questions.push_back(j["question"].get<std::string>());
    }
    if (j.contains("questions")) {
      if (!j["questions"].is_array()) throw BatchError(fmt::format("{}: \"questions\" must be an array of strings", where));
      for (const auto& q : j["questions"]) {
        if (!q.is_string()) throw BatchError(fmt::format("{}: \"questions\" must be an array of strings, has {}", where, q.dump()));
        item.questions.push_back(q.get<std::string>());
      }
    }
    if (item.task == "ask" && item.questions.empty()) {
      throw BatchError(fmt::format("{}: task ask needs \"question\" or \"questions\"", where));
    }
    if (j.contains("start")) item.start_s = time_field(j["start"], where, "start");
    if (j.contains("end")) item.end_s = time_field(j["end"], where, "end");
    if (item.start_s && item.end_s && *item.end_s <= *item.start_s) {
      throw BatchError(fmt::format("{}: end {} s is not after start {} s", where, *item.end_s, *item.start_s));
    }
    if (j.contains("sampling")) {
      if (!j["sampling"].is_object()) throw BatchError(fmt::format("{}: \"sampling\" must be an object", where));
      item.sampling = j["sampling"];
    }
    items.push_back(std::move(item));
  }
  return items;
}

std::vector<BatchItem> read_manifest(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw BatchError(fmt::format("manifest {}: is a directory, expected a JSONL file (one item per line)", path));
  }
  std::ifstream in(path);
  if (!in) throw BatchError(fmt::format("cannot read manifest {}: {}", path, std::strerror(errno)));
  std::vector<BatchItem> items = parse_manifest(in, path);
  if (in.bad()) throw BatchError(fmt::format("cannot read manifest {}: {}", path, std::strerror(errno)));
  return items;
}

uint64_t stable_id_hash(const std::string& id) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

Shard Shard::parse(const std::string& text) {
  if (text.size() > kMaxTimeChars) throw BatchError(fmt::format("shard '{}...': expected K/N, e.g. 0/4", text.substr(0, 24)));
  static const std::regex kShard(R"(^(\d+)/(\d+)$)");
  std::smatch m;
  if (!std::regex_match(text, m, kShard)) throw BatchError(fmt::format("shard '{}': expected K/N, e.g. 0/4", text));
  // std::stoi threw std::out_of_range for K or N past INT_MAX (found by tests/fuzz/fuzz_time).
  auto number = [&](const std::string& digits) {
    errno = 0;
    const long long v = std::strtoll(digits.c_str(), nullptr, 10);
    if (errno == ERANGE || v > 1000000) throw BatchError(fmt::format("shard '{}': K and N must be at most 1000000", text));
    return static_cast<int>(v);
  };
  Shard s;
  s.index = number(m[1]);
  s.count = number(m[2]);
  if (s.count < 1 || s.index >= s.count) throw BatchError(fmt::format("shard '{}': expected 0 <= K < N and N >= 1", text));
  return s;
}

std::optional<Shard> Shard::from_env() {
  bool has_index = false, has_count = false;
  const int k8s_index = env_int("JOB_COMPLETION_INDEX", has_index);
  const int k8s_count = env_int("SMOLVID_SHARD_COUNT", has_count);
  Shard s;
  if (has_index) {
    if (!has_count) {
      throw BatchError("JOB_COMPLETION_INDEX is set but SMOLVID_SHARD_COUNT is not: set SMOLVID_SHARD_COUNT to the Job's "
                       "spec.completions (see deploy/k8s-indexed-job.yaml), or pass --shard K/N");
    }
    s.index = k8s_index;
    s.count = k8s_count;
  } else {
    bool has_id = false, has_total = false, has_min = false;
    const int id = env_int("SLURM_ARRAY_TASK_ID", has_id);
    const int total = env_int("SLURM_ARRAY_TASK_COUNT", has_total);
    const int min = env_int("SLURM_ARRAY_TASK_MIN", has_min);
    if (!has_id) return std::nullopt;
    if (!has_total) throw BatchError("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shard K/N");
    if (id < min) throw BatchError(fmt::format("SLURM_ARRAY_TASK_ID {} is below SLURM_ARRAY_TASK_MIN {}", id, min));
    s.index = id - min;
    s.count = total;
  }
  if (s.count < 1 || s.index >= s.count) {
    throw BatchError(fmt::format("shard from the environment is {}/{}: expected 0 <= index < count (with a Slurm array, use "
                                 "a contiguous range like --array=0-{})", s.index, s.count, s.count > 0 ? s.count - 1 : 0));
  }
  return s;
}

std::string Shard::to_string() const { return fmt::format("{}/{}", index, count); }

std::string expand_shard_path(const std::string& path, const Shard& shard) {
  std::string out = path;
  for (size_t pos; (pos = out.find("{shards}")) != std::string::npos;) out.replace(pos, 8, std::to_string(shard.count));
  for (size_t pos; (pos = out.find("{shard}")) != std::string::npos;) out.replace(pos, 7, std::to_string(shard.index));
  return out;
}

ResultsLog::ResultsLog(const std::string& path, bool resume) : path_(path) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec);
  if (exists && !resume && std::filesystem::file_size(path, ec) > 0) {
    throw BatchError(fmt::format("results file {} already has results: pass --resume to continue that run, or choose another "
                                 "--out", path));
  }
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) throw BatchError(fmt::format("cannot open results file {}: {}", path, std::strerror(errno)));
  if (!resume) return;
  const std::string data = util::read_file(path);
  const size_t end = data.rfind('\n') == std::string::npos ? 0 : data.rfind('\n') + 1;
  if (end < data.size()) {
    trimmed_ = data.size() - end;  // a line cut short by a crash: drop it, its item runs again
    if (::ftruncate(fd_, static_cast<off_t>(end)) != 0 || ::fsync(fd_) != 0) {
      throw BatchError(fmt::format("cannot cut the partial last line of {}: {}", path, std::strerror(errno)));
    }
  }
  size_t start = 0;
  int line_no = 0;
  while (start < end) {
    const size_t nl = data.find('\n', start);
    const std::string line = data.substr(start, nl - start);
    ++line_no;
    start = nl + 1;
    if (blank_or_comment(line)) continue;
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_string()) {
      throw BatchError(fmt::format("{}:{}: not a results line (a JSON object with a string \"id\"): {}", path, line_no, line.substr(0, 120)));
    }
    done_.insert(j["id"].get<std::string>());
  }
}

ResultsLog::~ResultsLog() {
  if (fd_ >= 0) ::close(fd_);
}

void ResultsLog::append(const nlohmann::json& line) {
  if (!line.is_object() || !line.contains("id") || !line["id"].is_string()) {
    throw BatchError(fmt::format("results line for {} has no string \"id\"", path_));
  }
  // dump() escapes control characters, so the serialized object has no raw newline.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + '\n';
  write_fully(fd_, text, path_);
  if (::fsync(fd_) != 0) throw BatchError(fmt::format("cannot fsync {}: {}", path_, std::strerror(errno)));
  done_.insert(line["id"].get<std::string>());
}

const char* item_error_kind_name(ItemErrorKind kind) {
  switch (kind) {
    case ItemErrorKind::kInput: return "input";
    case ItemErrorKind::kOptions: return "options";
    case ItemErrorKind::kModel: return "model";
    case ItemErrorKind::kTimeout: return "timeout";
  }
  return "input";
}

ItemErrorKind item_error_kind(const std::exception& error) {
  if (const auto* e = dynamic_cast<const ItemError*>(&error)) return e->kind();
  if (dynamic_cast<const TimeoutError*>(&error)) return ItemErrorKind::kTimeout;
  if (dynamic_cast<const VlmError*>(&error)) return ItemErrorKind::kModel;
  if (dynamic_cast<const BatchError*>(&error) || dynamic_cast<const std::invalid_argument*>(&error)) return ItemErrorKind::kOptions;
  return ItemErrorKind::kInput;
}

BatchReport run_batch(const std::vector<BatchItem>& items, const BatchOptions& options, const ItemRunner& run_item,
                      const ItemDone& on_done) {
  if (options.out_path.empty()) throw BatchError("batch: no results file given (--out)");
  if (options.shard.count < 1 || options.shard.index < 0 || options.shard.index >= options.shard.count) {
    throw BatchError(fmt::format("batch: invalid shard {}", options.shard.to_string()));
  }
  ResultsLog log(expand_shard_path(options.out_path, options.shard), options.resume);
  BatchReport report;
  report.manifest_items = items.size();
  report.trimmed_bytes = log.trimmed_bytes();
  for (const BatchItem& item : items) {
    if (!options.shard.contains(item.id)) continue;
    ++report.shard_items;
    if (log.done_ids().count(item.id)) {
      ++report.skipped_done;
      continue;
    }
    nlohmann::json line = {{"id", item.id}, {"task", item.task}, {"video", item.video}};
    const auto start = Clock::now();
    try {
      nlohmann::json fields = run_item(item, Deadline::after_seconds(options.item_timeout_s));
      if (!fields.is_null() && !fields.is_object()) {
        throw BatchError(fmt::format("item {}: the job returned {} instead of an object", item.id, fields.type_name()));
      }
      line["status"] = "ok";
      if (fields.is_object()) {
        for (auto& [key, value] : fields.items()) {
          if (key != "id" && key != "status") line[key] = value;
        }
      }
      ++report.ok;
    } catch (const std::exception& e) {
      const ItemErrorKind kind = item_error_kind(e);
      line["status"] = "error";
      line["error_type"] = item_error_kind_name(kind);
      line["error"] = kind == ItemErrorKind::kTimeout ? fmt::format("{} (--item-timeout {} s)", e.what(), options.item_timeout_s) : e.what();
      ++report.failed;
    }
    for (const char* key : {"answers", "summary"}) {
      if (line["status"] == "error") line.erase(key);
    }
    nlohmann::json timings = line.contains("timings_s") && line["timings_s"].is_object() ? line["timings_s"] : nlohmann::json::object();
    timings["total"] = std::chrono::duration<double>(Clock::now() - start).count();
    line["timings_s"] = timings;
    line["shard"] = options.shard.to_string();
    log.append(line);
    if (on_done) on_done(item, line);
  }
  return report;
}

MergeReport merge_results(const std::vector<std::string>& inputs, const std::string& output,
                          const std::vector<BatchItem>* manifest) {
  MergeReport report;
  std::error_code ec;
  for (const std::string& input : inputs) {
    if (std::filesystem::equivalent(input, output, ec)) {
      throw BatchError(fmt::format("merge: the output {} is also an input ({}); write the merge to another file", output, input));
    }
  }
  std::set<std::string> seen;
  std::string merged;
  for (const std::string& input : inputs) {
    const std::string data = util::read_file(input);
    size_t start = 0;
    int line_no = 0;
    while (start < data.size()) {
      const size_t nl = data.find('\n', start);
      ++line_no;
      if (nl == std::string::npos) {  // partial last line of a killed shard
        ++report.partial_lines_ignored;
        break;
      }
      const std::string line = data.substr(start, nl - start);
      start = nl + 1;
      if (blank_or_comment(line)) continue;
      ++report.lines_read;
      const nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("id") || !j["id"].is_string()) {
        throw BatchError(fmt::format("{}:{}: not a results line (a JSON object with a string \"id\")", input, line_no));
      }
      if (!seen.insert(j["id"].get<std::string>()).second) {
        ++report.duplicates_dropped;
        continue;
      }
      merged += line;
      merged += '\n';
      ++report.written;
    }
  }
  if (manifest) {
    for (const BatchItem& item : *manifest) {
      if (!seen.count(item.id)) report.missing_ids.push_back(item.id);
    }
  }
  write_file_atomically(output, [&](std::ostream& out) { out << merged; });
  return report;
}

}  // namespace smolvid::pipeline
