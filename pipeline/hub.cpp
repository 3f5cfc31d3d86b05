#include "pipeline/hub.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>

#include "pipeline/hashing.h"
#include "pipeline/version.h"

namespace fs = std::filesystem;

namespace smolvid::pipeline {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

bool env_true(const char* name) {
  std::string v = env_or(name, "");
  std::transform(v.begin(), v.end(), v.begin(), ::tolower);
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

bool is_hex(const std::string& s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// ETag values come quoted and possibly weak: W/"abc" -> abc.
std::string normalize_etag(std::string etag) {
  etag = trim(etag);
  if (etag.rfind("W/", 0) == 0) etag = etag.substr(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') etag = etag.substr(1, etag.size() - 2);
  return etag;
}

void split_repo_revision(const std::string& model, std::string& repo, std::string& revision) {
  const size_t at = model.find('@');
  repo = model.substr(0, at);
  if (at != std::string::npos) revision = model.substr(at + 1);
}

void curl_global() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw HubError("libcurl: global initialisation failed");
  });
}

std::string escape(CURL* curl, const std::string& text, bool keep_slashes) {
  std::string out;
  size_t start = 0;
  while (true) {
    const size_t slash = keep_slashes ? text.find('/', start) : std::string::npos;
    const std::string part = text.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    char* e = curl_easy_escape(curl, part.c_str(), static_cast<int>(part.size()));
    out += e;
    curl_free(e);
    if (slash == std::string::npos) break;
    out += '/';
    start = slash + 1;
  }
  return out;
}

struct HttpResponse {
  long status = 0;
  std::map<std::string, std::string> headers;  // lowercased names, of the last response
  std::string body;                            // collected unless written to a file
};

class Http {
 public:
  explicit Http(const HubOptions& options) : options_(options) {
    curl_global();
    curl_ = curl_easy_init();
    if (!curl_) throw HubError("libcurl: curl_easy_init failed");
  }
  ~Http() {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }
  Http(const Http&) = delete;
  Http& operator=(const Http&) = delete;

  CURL* handle() { return curl_; }

  // GET (or HEAD with head=true) into memory.
  HttpResponse fetch(const std::string& url, bool head, bool follow) {
    HttpResponse r;
    setup(url, follow, &r, nullptr);
    curl_easy_setopt(curl_, CURLOPT_NOBODY, head ? 1L : 0L);
    perform_or_throw(url);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
  }

  // GET into `file` (opened for append), resuming at `offset` with a Range request. Returns the
  // CURLcode so the caller can retry broken transfers; r.status is the final HTTP status.
  struct FileSink {
    FILE* file = nullptr;
    int64_t offset = 0;            // bytes already in the file
    bool restarted = false;        // the server ignored the Range: file truncated
    int64_t received = 0;          // body bytes written by this transfer
    HttpResponse* response = nullptr;
    ProgressBar* bar = nullptr;
    std::string error_body;
  };
  CURLcode download(const std::string& url, FileSink& sink, HttpResponse& r) {
    sink.response = &r;
    setup(url, true, &r, &sink);
    curl_easy_setopt(curl_, CURLOPT_NOBODY, 0L);
    if (sink.offset > 0) {
      range_ = fmt::format("{}-", sink.offset);
      curl_easy_setopt(curl_, CURLOPT_RANGE, range_.c_str());
    }
    const CURLcode rc = curl_easy_perform(curl_);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &r.status);
    return rc;
  }

 private:
  static size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* r = static_cast<HttpResponse*>(user);
    std::string line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) {
      r->headers.clear();  // a new response (after a redirect or 100-continue)
      const size_t sp = line.find(' ');
      if (sp != std::string::npos) r->status = std::strtol(line.c_str() + sp + 1, nullptr, 10);
    } else if (const size_t colon = line.find(':'); colon != std::string::npos) {
      r->headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    return size * n;
  }
  static size_t on_body_memory(char* data, size_t size, size_t n, void* user) {
    static_cast<HttpResponse*>(user)->body.append(data, size * n);
    return size * n;
  }
  static size_t on_body_file(char* data, size_t size, size_t n, void* user) {
    auto* s = static_cast<FileSink*>(user);
    const long status = s->response->status;
    if (status >= 300) {  // an error page (redirect bodies are not delivered when following)
      if (s->error_body.size() < 2000) s->error_body.append(data, size * n);
      return size * n;
    }
    if (s->offset > 0 && status == 200 && !s->restarted && s->received == 0) {
      // The server sent the whole file instead of the requested range: start over.
      if (std::fflush(s->file) != 0 || ftruncate(fileno(s->file), 0) != 0 || std::fseek(s->file, 0, SEEK_SET) != 0) return 0;
      s->restarted = true;
      s->offset = 0;
    }
    if (std::fwrite(data, 1, size * n, s->file) != size * n) return 0;
    s->received += static_cast<int64_t>(size * n);
    if (s->bar) s->bar->update(s->offset + s->received);
    return size * n;
  }

  void setup(const std::string& url, bool follow, HttpResponse* r, FileSink* sink) {
    curl_easy_reset(curl_);
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(curl_, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT, options_.connect_timeout_s);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl_, CURLOPT_LOW_SPEED_TIME, options_.low_speed_timeout_s);
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_);
    error_[0] = '\0';
    user_agent_ = fmt::format("smolvid/{}", version());
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, user_agent_.c_str());
    curl_easy_setopt(curl_, CURLOPT_HEADERFUNCTION, &Http::on_header);
    curl_easy_setopt(curl_, CURLOPT_HEADERDATA, r);
    if (sink) {
      curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &Http::on_body_file);
      curl_easy_setopt(curl_, CURLOPT_WRITEDATA, sink);
    } else {
      curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &Http::on_body_memory);
      curl_easy_setopt(curl_, CURLOPT_WRITEDATA, r);
    }
    if (headers_) curl_slist_free_all(headers_);
    headers_ = nullptr;
    // libcurl (>= 7.58) does not pass a custom Authorization header on to another host when it
    // follows a redirect, so the token stays with the endpoint.
    if (!options_.token.empty()) headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + options_.token).c_str());
    if (headers_) curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
  }

  void perform_or_throw(const std::string& url) {
    const CURLcode rc = curl_easy_perform(curl_);
    if (rc != CURLE_OK) {
      throw HubError(fmt::format("request to {} failed: {}{}", url, curl_easy_strerror(rc), error_[0] ? std::string(" (") + error_ + ")" : ""));
    }
  }

 private:
  const HubOptions& options_;
  CURL* curl_ = nullptr;
  curl_slist* headers_ = nullptr;
  std::string user_agent_;
  std::string range_;
  char error_[CURL_ERROR_SIZE] = {0};
};

[[noreturn]] void throw_http(const std::string& what, const std::string& url, long status, const std::string& body,
                             const HubOptions& options) {
  std::string hint;
  if (status == 401 || status == 403) {
    hint = options.token.empty() ? ": the repo may be gated or private; set HF_TOKEN to an access token"
                                 : ": HF_TOKEN was sent but was refused (no access to this repo?)";
  } else if (status == 404) {
    hint = ": check the repo id and revision (or pass --model a local directory)";
  }
  std::string snippet = body.substr(0, 200);
  std::replace(snippet.begin(), snippet.end(), '\n', ' ');
  throw HubError(fmt::format("{}: GET {} returned HTTP {}{}{}", what, url, status, hint, snippet.empty() ? "" : " [" + snippet + "]"));
}

// Holds an exclusive flock() on a lock file for as long as it lives.
class FileLock {
 public:
  explicit FileLock(const fs::path& path) {
    fs::create_directories(path.parent_path());
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw HubError(fmt::format("cannot open lock file {}: {}", path.string(), std::strerror(errno)));
    if (::flock(fd_, LOCK_EX) != 0) {
      ::close(fd_);
      throw HubError(fmt::format("cannot lock {}: {}", path.string(), std::strerror(errno)));
    }
  }
  ~FileLock() {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

bool snapshot_complete(const fs::path& dir) {
  if (!fs::exists(dir / "config.json")) return false;
  const fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    std::ifstream in(index);
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.contains("weight_map")) return false;
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string() || !fs::exists(dir / file.get<std::string>())) return false;
    }
    return true;
  }
  return fs::exists(dir / "model.safetensors");
}

void write_text_atomically(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  const fs::path tmp = path.string() + fmt::format(".tmp{}", ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw HubError(fmt::format("cannot write {}", tmp.string()));
  }
  fs::rename(tmp, path);
}

void verify_blob(const fs::path& file, const std::string& etag, const std::string& repo_path) {
  std::string got;
  if (is_hex(etag, 64)) {
    got = sha256_file(file.string());
  } else if (is_hex(etag, 40)) {
    got = git_blob_sha1_file(file.string());
  } else {
    return;  // an etag that is not a content hash: nothing to check against
  }
  if (got != lower(etag)) {
    std::error_code ec;
    fs::remove(file, ec);
    throw HubError(fmt::format("checksum mismatch for {}: expected {} {}, got {} (partial file removed; run again)", repo_path,
                               is_hex(etag, 64) ? "sha256" : "git-sha1", lower(etag), got));
  }
}

}  // namespace

HubOptions HubOptions::from_env() {
  HubOptions o;
  o.endpoint = env_or("HF_ENDPOINT", o.endpoint);
  o.cache_dir = default_cache_dir();
  o.token = env_or("HF_TOKEN", "");
  o.offline = env_true("HF_HUB_OFFLINE");
  return o;
}

std::string default_cache_dir() {
  if (const std::string c = env_or("HF_HUB_CACHE", ""); !c.empty()) return c;
  if (const std::string h = env_or("HF_HOME", ""); !h.empty()) return (fs::path(h) / "hub").string();
  if (const std::string x = env_or("XDG_CACHE_HOME", ""); !x.empty()) return (fs::path(x) / "huggingface" / "hub").string();
  return (fs::path(env_or("HOME", "/")) / ".cache" / "huggingface" / "hub").string();
}

bool is_repo_id(const std::string& text) {
  static const std::regex kRepo(R"(^([A-Za-z0-9][A-Za-z0-9._-]*/)?[A-Za-z0-9][A-Za-z0-9._-]*(@[A-Za-z0-9._/-]+)?$)");
  return std::regex_match(text, kRepo) && text.find("..") == std::string::npos;
}

std::string repo_cache_dir(const std::string& cache_dir, const std::string& repo_id) {
  std::string name = "models--";
  for (char c : repo_id) {
    if (c == '/') name += "--";
    else name += c;
  }
  return (fs::path(cache_dir) / name).string();
}

std::optional<std::string> find_cached_snapshot(const std::string& repo_id, const HubOptions& options) {
  const fs::path repo_dir = repo_cache_dir(options.cache_dir.empty() ? default_cache_dir() : options.cache_dir, repo_id);
  std::string commit = options.revision;
  if (!is_hex(commit, 40)) {
    std::ifstream ref(repo_dir / "refs" / options.revision);
    if (!ref) return std::nullopt;
    std::getline(ref, commit);
    commit = trim(commit);
  }
  const fs::path snapshot = repo_dir / "snapshots" / commit;
  if (commit.empty() || !snapshot_complete(snapshot)) return std::nullopt;
  return snapshot.string();
}

ResolvedModel snapshot_download(const std::string& repo_id, const HubOptions& options) {
  const std::string cache = options.cache_dir.empty() ? default_cache_dir() : options.cache_dir;
  const fs::path repo_dir = repo_cache_dir(cache, repo_id);
  const fs::path lock_dir = fs::path(cache) / ".locks" / repo_dir.filename();
  ResolvedModel result;
  result.repo_id = repo_id;
  result.revision = options.revision;
  if (options.offline) {
    throw HubError(fmt::format("model {} (revision {}) is not in the Hugging Face cache {} and HF_HUB_OFFLINE is set, so "
                               "it cannot be downloaded: run once with network access, or pass --model a local directory "
                               "holding config.json, the tokenizer files and the *.safetensors weights",
                               repo_id, options.revision, cache));
  }
  std::string endpoint = options.endpoint;
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  Http http(options);

  // 1. The file list and the commit the revision points at.
  const std::string api_url = fmt::format("{}/api/models/{}/revision/{}", endpoint, escape(http.handle(), repo_id, true),
                                          escape(http.handle(), options.revision, false));
  const HttpResponse info = http.fetch(api_url, false, true);
  if (info.status != 200) throw_http(fmt::format("cannot list model {}", repo_id), api_url, info.status, info.body, options);
  const nlohmann::json meta = nlohmann::json::parse(info.body, nullptr, false);
  if (meta.is_discarded() || !meta.contains("sha") || !meta["sha"].is_string() || !meta.contains("siblings") ||
      !meta["siblings"].is_array()) {
    throw HubError(fmt::format("{} did not return the expected JSON (an object with \"sha\" and \"siblings\"): {}", api_url,
                               info.body.substr(0, 200)));
  }
  const std::string commit = meta["sha"].get<std::string>();
  if (!is_hex(commit, 40)) throw HubError(fmt::format("{} returned sha '{}', expected a 40-hex commit hash", api_url, commit));
  result.commit = commit;
  std::vector<std::string> files;
  for (const nlohmann::json& s : meta["siblings"]) {
    if (!s.contains("rfilename") || !s["rfilename"].is_string()) continue;
    const std::string name = s["rfilename"].get<std::string>();
    if (name.find("..") != std::string::npos || name.empty() || name.front() == '/') {
      throw HubError(fmt::format("{} lists an unsafe file name '{}'", api_url, name));
    }
    for (const std::string& pattern : options.allow_patterns) {
      if (fnmatch(pattern.c_str(), name.c_str(), FNM_PATHNAME) == 0) {
        files.push_back(name);
        break;
      }
    }
  }
  if (std::find(files.begin(), files.end(), "config.json") == files.end()) {
    throw HubError(fmt::format("model {} at {} has no config.json among the files selected by {}: not a model repository?",
                               repo_id, commit, nlohmann::json(options.allow_patterns).dump()));
  }
  // Weights last, so an interrupted download is mostly the small files.
  std::stable_partition(files.begin(), files.end(), [](const std::string& f) { return f.find(".safetensors") == std::string::npos ||
                                                                                      f.find(".index.json") != std::string::npos; });

  const fs::path snapshot = repo_dir / "snapshots" / commit;
  for (const std::string& file : files) {
    const fs::path link = snapshot / file;
    if (fs::exists(link)) continue;  // follows the symlink: the blob is there
    // 2. Metadata: the blob name (etag), the size and the commit.
    const std::string url = fmt::format("{}/{}/resolve/{}/{}", endpoint, escape(http.handle(), repo_id, true), commit,
                                        escape(http.handle(), file, true));
    HttpResponse head;
    std::string head_url = url;
    for (int hop = 0; hop < 5; ++hop) {  // follow relative redirects only (renamed repos), not the CDN
      head = http.fetch(head_url, true, false);
      if (head.status >= 300 && head.status < 400 && head.headers.count("location") && !head.headers.count("x-linked-etag") &&
          head.headers["location"].rfind("/", 0) == 0) {
        head_url = endpoint + head.headers["location"];
        continue;
      }
      break;
    }
    if (head.status >= 400) throw_http(fmt::format("cannot fetch {} of {}", file, repo_id), url, head.status, "", options);
    std::string etag = head.headers.count("x-linked-etag") ? head.headers["x-linked-etag"] : head.headers["etag"];
    etag = normalize_etag(etag);
    if (etag.empty() || etag.find('/') != std::string::npos) {
      throw HubError(fmt::format("HEAD {} gave no usable ETag/X-Linked-Etag (HTTP {}); cannot name the cached blob", url, head.status));
    }
    if (head.headers.count("x-repo-commit") && head.headers["x-repo-commit"] != commit) {
      throw HubError(fmt::format("HEAD {}: X-Repo-Commit {} differs from the listed commit {}", url, head.headers["x-repo-commit"], commit));
    }
    int64_t size = -1;
    const std::string size_header = head.headers.count("x-linked-size") ? head.headers["x-linked-size"] : head.headers["content-length"];
    if (!size_header.empty()) size = std::strtoll(size_header.c_str(), nullptr, 10);

    // 3. The blob, under a lock shared with other processes using the same cache.
    const fs::path blob = repo_dir / "blobs" / etag;
    const fs::path partial = repo_dir / "blobs" / (etag + ".incomplete");
    {
      FileLock lock(lock_dir / (etag + ".lock"));
      if (!fs::exists(blob)) {
        fs::create_directories(blob.parent_path());
        for (int attempt = 1;; ++attempt) {
          std::unique_ptr<FILE, int (*)(FILE*)> out(std::fopen(partial.c_str(), "ab"), &std::fclose);
          if (!out) throw HubError(fmt::format("cannot write {}: {}", partial.string(), std::strerror(errno)));
          Http::FileSink sink;
          sink.file = out.get();
          sink.offset = static_cast<int64_t>(fs::file_size(partial));
          if (size >= 0 && sink.offset > size) {  // cannot be a prefix of this blob
            out.reset();
            fs::remove(partial);
            continue;
          }
          ProgressBar bar(file, size, options.progress, stderr, ProgressBar::Unit::kBytes, sink.offset);
          sink.bar = &bar;
          HttpResponse r;
          CURLcode rc = CURLE_OK;
          if (size >= 0 && sink.offset == size) {
            r.status = 206;  // nothing left to fetch; verified below
          } else {
            rc = http.download(url, sink, r);
          }
          if (std::fflush(out.get()) != 0) throw HubError(fmt::format("cannot write {}: {}", partial.string(), std::strerror(errno)));
          out.reset();
          bar.update(sink.offset + sink.received);
          bar.finish();
          result.downloaded_bytes += sink.received;
          if (r.status >= 400 && !(r.status == 416 && sink.offset == size)) {
            throw_http(fmt::format("cannot download {} of {}", file, repo_id), url, r.status, sink.error_body, options);
          }
          if (rc != CURLE_OK) {
            if (attempt < options.attempts_per_file) continue;  // resume from what arrived
            throw HubError(fmt::format("download of {} from {} failed after {} attempts: {} ({} of {} bytes kept in {} for "
                                       "the next run)", file, url, attempt, curl_easy_strerror(rc), fs::file_size(partial), size,
                                       partial.string()));
          }
          break;
        }
        const int64_t got = static_cast<int64_t>(fs::file_size(partial));
        if (size >= 0 && got != size) {
          fs::remove(partial);
          throw HubError(fmt::format("download of {} from {}: expected {} bytes, got {} (partial file removed; run again)", file, url, size, got));
        }
        verify_blob(partial, etag, file);
        fs::rename(partial, blob);
        result.downloaded_files.push_back(file);
      }
    }
    // 4. The snapshot entry: a relative symlink into blobs/.
    fs::create_directories(link.parent_path());
    std::string target = "../../blobs/" + etag;
    for (char c : file) {
      if (c == '/') target = "../" + target;
    }
    std::error_code ec;
    fs::remove(link, ec);
    fs::create_symlink(target, link, ec);
    if (ec) fs::copy_file(blob, link, fs::copy_options::overwrite_existing);
  }
  // 5. The ref, last: a ref always names a complete snapshot.
  if (options.revision != commit) write_text_atomically(repo_dir / "refs" / options.revision, commit);
  if (!snapshot_complete(snapshot)) {
    throw HubError(fmt::format("model {} at {}: the downloaded snapshot {} lacks config.json or weight files", repo_id, commit,
                               snapshot.string()));
  }
  result.directory = snapshot.string();
  return result;
}

ResolvedModel resolve_model(const std::string& model, const HubOptions& options) {
  std::error_code ec;
  if (fs::is_directory(model, ec)) {
    if (!fs::exists(fs::path(model) / "config.json")) {
      throw HubError(fmt::format("--model {}: the directory has no config.json (expected a Hugging Face model folder)", model));
    }
    ResolvedModel r;
    r.directory = model;
    r.from_cache = true;
    return r;
  }
  if (fs::exists(model, ec)) {  // a file, never a repo id even when its name looks like one
    const fs::path folder = fs::absolute(model, ec).parent_path();
    throw HubError(fmt::format("--model {}: is a file, expected a model directory (config.json, tokenizer files, "
                               "*.safetensors) or a Hugging Face repo id ORG/NAME{}",
                               model, fs::exists(folder / "config.json", ec) ? fmt::format("; the folder {} is one", folder.string()) : ""));
  }
  if (!is_repo_id(model)) {
    throw HubError(fmt::format("--model {}: not an existing directory, nor a Hugging Face repo id like ORG/NAME[@REVISION]", model));
  }
  HubOptions opts = options;
  std::string repo;
  split_repo_revision(model, repo, opts.revision);
  if (opts.cache_dir.empty()) opts.cache_dir = default_cache_dir();
  if (auto cached = find_cached_snapshot(repo, opts)) {
    ResolvedModel r;
    r.directory = *cached;
    r.repo_id = repo;
    r.revision = opts.revision;
    r.commit = fs::path(*cached).filename().string();
    r.from_cache = true;
    return r;
  }
  return snapshot_download(repo, opts);
}

}  // namespace smolvid::pipeline
