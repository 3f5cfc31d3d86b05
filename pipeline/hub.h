// pipeline/hub.h: `--model` resolution. A local directory is used as is; a Hugging Face repo id
// ("ORG/NAME", optionally "ORG/NAME@REVISION") is looked up in the standard Hugging Face cache and,
// when missing, downloaded into it over HTTPS (libcurl), so the files are shared with other
// Hugging Face tools.
//
// Usage:
//   smolvid::pipeline::HubOptions hub = smolvid::pipeline::HubOptions::from_env();
//   smolvid::pipeline::ResolvedModel m =
//       smolvid::pipeline::resolve_model("HuggingFaceTB/SmolVLM2-256M-Video-Instruct", hub);
//   load_model(m.directory);   // holds config.json, tokenizer files, *.safetensors
//
// Environment (read by HubOptions::from_env):
//   HF_ENDPOINT      server (default https://huggingface.co)
//   HF_HUB_CACHE     cache folder; else $HF_HOME/hub; else ~/.cache/huggingface/hub
//   HF_TOKEN         sent as "Authorization: Bearer <token>" to the endpoint (not to redirects
//                    onto other hosts)
//   HF_HUB_OFFLINE   1/true/yes: never touch the network; a model that is not cached is an error
//                    that says how to point --model at a local copy
//
// Cache layout (the one huggingface_hub uses):
//   <cache>/models--ORG--NAME/blobs/<etag>                 file content; etag = sha256 for LFS
//                                                          files, git blob sha1 otherwise
//   <cache>/models--ORG--NAME/blobs/<etag>.incomplete      partial download, resumed with Range
//   <cache>/models--ORG--NAME/refs/<revision>              the commit hash the revision points at
//   <cache>/models--ORG--NAME/snapshots/<commit>/<file>    relative symlink to ../../blobs/<etag>
//   <cache>/.locks/models--ORG--NAME/<etag>.lock           flock() while a blob is downloaded
// A cached snapshot is used without any network access when it holds config.json and every
// weight file (model.safetensors, or all shards named in model.safetensors.index.json).
//
// Protocol: GET {endpoint}/api/models/{repo}/revision/{rev} -> {"sha", "siblings":[{"rfilename"}]};
// per file HEAD {endpoint}/{repo}/resolve/{commit}/{file} without following redirects ->
// X-Linked-Etag / ETag, X-Linked-Size / Content-Length, X-Repo-Commit; then GET of the same URL
// following redirects, with "Range: bytes=N-" when N bytes are already in the .incomplete file.
// Every finished blob is checked: SHA-256 for LFS files (64-hex etag), git blob SHA-1 for the
// others (40-hex etag); a mismatch deletes the partial file and throws.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "pipeline/progress.h"

namespace smolvid::pipeline {

class HubError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HubOptions {
  std::string endpoint = "https://huggingface.co";  // no trailing slash needed
  std::string cache_dir;                             // empty = default (see above)
  std::string token;                                 // empty = anonymous
  bool offline = false;
  std::string revision = "main";                     // branch, tag or commit hash
  // Files of the repo to fetch (fnmatch patterns on the path inside the repo). The default takes
  // what a SmolVLM checkpoint needs and skips e.g. onnx/ exports and README images.
  std::vector<std::string> allow_patterns = {"*.json", "*.safetensors", "*.txt", "*.jinja"};
  ProgressMode progress = ProgressMode::kAuto;
  long connect_timeout_s = 30;
  long low_speed_timeout_s = 60;                     // abort a transfer slower than 1 KB/s this long
  int attempts_per_file = 3;                         // a broken transfer is resumed this many times

  static HubOptions from_env();
};

struct ResolvedModel {
  std::string directory;       // the folder to load from
  std::string repo_id;         // empty for a local directory
  std::string revision;        // as asked
  std::string commit;          // snapshot commit hash (empty for a local directory)
  bool from_cache = false;     // true: no download was needed
  std::vector<std::string> downloaded_files;  // repo paths fetched by this call
  int64_t downloaded_bytes = 0;               // bytes received by this call
};

// "ORG/NAME" or "NAME", optionally with "@REVISION"; letters, digits, '-', '_', '.'.
bool is_repo_id(const std::string& text);
// The default cache folder for the given environment lookups (HF_HUB_CACHE, HF_HOME, HOME).
std::string default_cache_dir();
// <cache>/models--ORG--NAME
std::string repo_cache_dir(const std::string& cache_dir, const std::string& repo_id);

// A local directory (must exist and hold config.json) or a repo id (cache, then download).
// Throws HubError: a path that does not exist and is not a repo id, an existing file (even one
// named like a repo id), a directory without config.json, offline and not cached, HTTP errors (401/403: says to set HF_TOKEN; 404: repo or
// revision not found), checksum mismatches.
ResolvedModel resolve_model(const std::string& model, const HubOptions& options);

// The complete cached snapshot of repo_id at options.revision, if there is one (no network).
std::optional<std::string> find_cached_snapshot(const std::string& repo_id, const HubOptions& options);

// Downloads (or completes) the snapshot of repo_id at options.revision into the cache.
ResolvedModel snapshot_download(const std::string& repo_id, const HubOptions& options);

}  // namespace smolvid::pipeline
