// Model download against a real HTTP server on loopback (scripts/hub_server.py) serving the tiny
// SmolVLM fixture as a hub repo. The cache layout, blob names and contents are checked with
// sha256sum / git hash-object, not with our own hashing.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "pipeline/hub.h"
#include "tests/pipeline/test_util.h"
#include "tests/test_support.h"

namespace smolvid::pipeline {
namespace {

namespace fs = std::filesystem;
using smolvid::test::ChildProcess;
using smolvid::test::read_file;
using smolvid::test::run_command;
using smolvid::test::shell_quote;
using smolvid::test::TempDir;

constexpr const char* kRepo = "test-org/tiny-smolvlm";
constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string fixture_dir() { return smolvid::test::golden("tiny-smolvlm"); }

std::string cli_sha256(const std::string& path) {
  auto r = run_command("sha256sum " + shell_quote(path));
  return r.output.substr(0, 64);
}
std::string cli_git_blob(const std::string& path) {
  auto r = run_command("git hash-object --no-filters " + shell_quote(path));
  return r.output.substr(0, 40);
}

class HubServer {
 public:
  HubServer(const TempDir& dir, const std::vector<std::string>& extra = {}) : log_(dir.file("requests.jsonl")) {
    std::vector<std::string> argv = {"/usr/bin/python3", smolvid::test::source_dir() + "/scripts/hub_server.py", "--dir", fixture_dir(),
                                     "--repo", kRepo, "--commit", kCommit, "--log", log_, "--port", "0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<ChildProcess>(argv);
    port_ = process_->read_line();
    if (port_.empty()) throw std::runtime_error("hub_server.py did not start");
  }
  std::string endpoint() const { return "http://127.0.0.1:" + port_; }
  std::vector<nlohmann::json> requests() const {
    std::vector<nlohmann::json> out;
    if (!fs::exists(log_)) return out;
    std::istringstream in(read_file(log_));
    std::string line;
    while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
    return out;
  }

 private:
  std::string log_;
  std::unique_ptr<ChildProcess> process_;
  std::string port_;
};

HubOptions options_for(const HubServer& server, const TempDir& dir, const std::string& token = "secret-token") {
  HubOptions o;
  o.endpoint = server.endpoint();
  o.cache_dir = dir.file("hub");
  o.token = token;
  o.progress = ProgressMode::kNever;
  return o;
}

const std::vector<std::string> kExpectedFiles = {"cases.json",           "cases.safetensors",      "chat_template.json",
                                                 "config.json",          "generation_config.json", "merges.txt",
                                                 "model.safetensors",    "preprocessor_config.json", "processor_config.json",
                                                 "special_tokens_map.json", "tokenizer_config.json", "vocab.json"};

TEST(Hub, RepoIdSyntax) {
  EXPECT_TRUE(is_repo_id("HuggingFaceTB/SmolVLM2-256M-Video-Instruct"));
  EXPECT_TRUE(is_repo_id("org/name@v1.0"));
  EXPECT_TRUE(is_repo_id("gpt2"));
  EXPECT_FALSE(is_repo_id("/abs/path"));
  EXPECT_FALSE(is_repo_id("a/b/c"));
  EXPECT_FALSE(is_repo_id("org/../x"));
  EXPECT_EQ(repo_cache_dir("/c", "HuggingFaceTB/SmolVLM2-256M-Video-Instruct"), "/c/models--HuggingFaceTB--SmolVLM2-256M-Video-Instruct");
}

TEST(Hub, LocalDirectoryIsUsedAsIs) {
  const ResolvedModel m = resolve_model(fixture_dir(), HubOptions{});
  EXPECT_EQ(m.directory, fixture_dir());
  EXPECT_TRUE(m.repo_id.empty());
  TempDir dir;
  EXPECT_THROW(resolve_model(dir.path(), HubOptions{}), HubError);  // no config.json
  EXPECT_THROW(resolve_model("/no/such/dir", HubOptions{}), HubError);
}

TEST(Hub, DownloadsIntoHuggingFaceCacheLayout) {
  TempDir dir;
  HubServer server(dir);
  const HubOptions opts = options_for(server, dir);
  const ResolvedModel m = resolve_model(kRepo, opts);
  const fs::path repo_dir = dir.file("hub/models--test-org--tiny-smolvlm");
  EXPECT_EQ(m.directory, (repo_dir / "snapshots" / kCommit).string());
  EXPECT_EQ(m.commit, kCommit);
  EXPECT_FALSE(m.from_cache);
  EXPECT_EQ(read_file((repo_dir / "refs" / "main").string()), kCommit);

  std::vector<std::string> got;
  for (const auto& e : fs::directory_iterator(m.directory)) got.push_back(e.path().filename().string());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, kExpectedFiles);  // inputs/ and other non-matching files are skipped

  for (const std::string& name : kExpectedFiles) {
    const fs::path link = fs::path(m.directory) / name;
    ASSERT_TRUE(fs::is_symlink(link)) << name;
    const std::string source = fixture_dir() + "/" + name;
    const bool lfs = name.size() > 12 && name.substr(name.size() - 12) == ".safetensors";
    const std::string blob = lfs ? cli_sha256(source) : cli_git_blob(source);
    EXPECT_EQ(fs::read_symlink(link).string(), "../../blobs/" + blob) << name;
    EXPECT_EQ(read_file(link.string()), read_file(source)) << name;
  }
  for (const auto& e : fs::directory_iterator(repo_dir / "blobs")) {
    EXPECT_EQ(e.path().extension(), "") << "left over: " << e.path();
  }
  // The token went to every api/resolve request.
  const auto requests = server.requests();
  int authed = 0;
  for (const auto& r : requests) {
    const std::string path = r["path"];
    if (path.rfind("/api/", 0) == 0 || path.find("/resolve/") != std::string::npos) {
      EXPECT_EQ(r["authorization"], "Bearer secret-token") << path;
      ++authed;
    }
  }
  EXPECT_EQ(authed, 1 + 2 * static_cast<int>(kExpectedFiles.size()));  // list + HEAD and GET per file

  // Second resolve: straight from the cache, no request at all.
  const ResolvedModel again = resolve_model(kRepo, opts);
  EXPECT_TRUE(again.from_cache);
  EXPECT_EQ(again.directory, m.directory);
  EXPECT_EQ(server.requests().size(), requests.size());
}

TEST(Hub, MissingTokenIsExplained) {
  TempDir dir;
  HubServer server(dir, {"--token", "secret-token"});
  try {
    resolve_model(kRepo, options_for(server, dir, ""));
    FAIL() << "expected HubError";
  } catch (const HubError& e) {
    EXPECT_NE(std::string(e.what()).find("401"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("HF_TOKEN"), std::string::npos) << e.what();
  }
  // With the token it works.
  EXPECT_NO_THROW(resolve_model(kRepo, options_for(server, dir, "secret-token")));
}

TEST(Hub, OfflineModeUsesCacheOrSaysHowToFixIt) {
  TempDir dir;
  HubServer server(dir);
  HubOptions opts = options_for(server, dir);
  opts.offline = true;
  try {
    resolve_model(kRepo, opts);
    FAIL() << "expected HubError";
  } catch (const HubError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("HF_HUB_OFFLINE"), std::string::npos) << what;
    EXPECT_NE(what.find("--model"), std::string::npos) << what;
    EXPECT_NE(what.find(kRepo), std::string::npos) << what;
  }
  EXPECT_TRUE(server.requests().empty());
  opts.offline = false;
  const ResolvedModel online = resolve_model(kRepo, opts);
  opts.offline = true;
  const size_t before = server.requests().size();
  EXPECT_EQ(resolve_model(kRepo, opts).directory, online.directory);
  EXPECT_EQ(server.requests().size(), before);
}

TEST(Hub, ResumesPartialBlobWithRangeRequest) {
  TempDir dir;
  HubServer server(dir);
  const std::string source = fixture_dir() + "/model.safetensors";
  const std::string sha = cli_sha256(source);
  const std::string content = read_file(source);
  const size_t half = content.size() / 2;
  const fs::path blobs = dir.file("hub/models--test-org--tiny-smolvlm/blobs");
  fs::create_directories(blobs);
  smolvid::test::write_file((blobs / (sha + ".incomplete")).string(), content.substr(0, half));

  const ResolvedModel m = resolve_model(kRepo, options_for(server, dir));
  EXPECT_EQ(read_file(m.directory + "/model.safetensors"), content);
  EXPECT_FALSE(fs::exists(blobs / (sha + ".incomplete")));
  int cdn_gets = 0;
  for (const auto& r : server.requests()) {
    if (r["method"] == "GET" && r["path"] == "/cdn/" + sha) {
      ++cdn_gets;
      EXPECT_EQ(r["range"], "bytes=" + std::to_string(half) + "-");
    }
  }
  EXPECT_EQ(cdn_gets, 1);
}

TEST(Hub, BrokenTransferIsResumed) {
  TempDir dir;
  HubServer server(dir, {"--drop-after", "1000"});
  const ResolvedModel m = resolve_model(kRepo, options_for(server, dir));
  const std::string source = fixture_dir() + "/model.safetensors";
  EXPECT_EQ(read_file(m.directory + "/model.safetensors"), read_file(source));
  const std::string sha = cli_sha256(source);
  std::vector<nlohmann::json> gets;
  for (const auto& r : server.requests()) {
    if (r["method"] == "GET" && r["path"] == "/cdn/" + sha) gets.push_back(r["range"]);
  }
  ASSERT_EQ(gets.size(), 2u);
  EXPECT_TRUE(gets[0].is_null());
  EXPECT_EQ(gets[1], "bytes=1000-");
}

TEST(Hub, ChecksumMismatchIsRejected) {
  for (const std::string corrupt : {"model.safetensors", "config.json"}) {
    TempDir dir;
    HubServer server(dir, {"--corrupt", corrupt});
    try {
      resolve_model(kRepo, options_for(server, dir));
      FAIL() << "expected HubError for " << corrupt;
    } catch (const HubError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("checksum mismatch"), std::string::npos) << what;
      EXPECT_NE(what.find(corrupt), std::string::npos) << what;
    }
    const fs::path repo_dir = dir.file("hub/models--test-org--tiny-smolvlm");
    EXPECT_FALSE(fs::exists(repo_dir / "refs" / "main")) << corrupt;
    const std::string source = fixture_dir() + "/" + corrupt;
    const std::string blob = corrupt == "config.json" ? cli_git_blob(source) : cli_sha256(source);
    EXPECT_FALSE(fs::exists(repo_dir / "blobs" / blob)) << corrupt;
    EXPECT_FALSE(fs::exists(repo_dir / "blobs" / (blob + ".incomplete"))) << corrupt;
    HubOptions offline = options_for(server, dir);
    offline.offline = true;
    EXPECT_THROW(resolve_model(kRepo, offline), HubError) << "an incomplete snapshot must not count as cached";
  }
}

TEST(Hub, UnknownRevisionIs404) {
  TempDir dir;
  HubServer server(dir);
  try {
    resolve_model(std::string(kRepo) + "@no-such-branch", options_for(server, dir));
    FAIL() << "expected HubError";
  } catch (const HubError& e) {
    EXPECT_NE(std::string(e.what()).find("404"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace smolvid::pipeline
